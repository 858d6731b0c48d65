// The canonical frame address (CFA) at a PC, from .debug_frame: Go's frame base
// (DW_OP_call_frame_cfa) is the CFA, so a variable at DW_OP_fbreg N lives at CFA+N, and on
// amd64 the CFA is RSP plus the frame size the function has at that PC.

import { Cursor } from './dwarf.js';

/** CFA = register (DWARF number; 7 is RSP) + offset. */
export interface CfaRule {
  readonly reg: number;
  readonly offset: number;
}

interface Cie {
  readonly codeAlign: number;
  readonly dataAlign: number;
  readonly instructions: Buffer;
}

/** The CFA rule at `pc`, or undefined when no FDE covers it or its rule is not register+offset. */
export function cfaAt(frame: Buffer, pc: bigint): CfaRule | undefined {
  let off = 0;
  while (off + 4 <= frame.length) {
    const c = new Cursor(frame, off);
    const { len, is64 } = initialLength(c);
    if (len === 0) break;
    const end = c.pos + len;
    const id = is64 ? c.u64() : BigInt(c.u32());
    if (id !== (is64 ? 0xffffffffffffffffn : 0xffffffffn)) {
      // FDE: CIE pointer, initial location, address range, instructions.
      const start = c.u64();
      const range = c.u64();
      if (pc >= start && pc < start + range) {
        const cie = readCie(frame, Number(id));
        if (!cie) return undefined;
        return execute(cie, [cie.instructions, frame.subarray(c.pos, end)], start, pc);
      }
    }
    off = end;
  }
  return undefined;
}

/** An entry's initial length: 32-bit, or 0xffffffff and then 64-bit (64-bit DWARF, whose ids are 8 bytes too). */
function initialLength(c: Cursor): { len: number; is64: boolean } {
  const len = c.u32();
  return len === 0xffffffff ? { len: Number(c.u64()), is64: true } : { len, is64: false };
}

function readCie(frame: Buffer, off: number): Cie | undefined {
  const c = new Cursor(frame, off);
  const { len, is64 } = initialLength(c);
  const end = c.pos + len;
  c.pos += is64 ? 8 : 4;
  const version = c.u8();
  const aug = c.cstr();
  if (aug !== '') return undefined; // augmentations are .eh_frame's; Go's .debug_frame has none
  if (version >= 4) c.pos += 2;
  const codeAlign = c.uleb();
  const dataAlign = c.sleb();
  if (version === 1) c.u8();
  else c.uleb();
  return { codeAlign, dataAlign, instructions: frame.subarray(c.pos, end) };
}

/** Runs call frame instructions from `start` until the location passes `pc`. */
function execute(cie: Cie, programs: Buffer[], start: bigint, pc: bigint): CfaRule | undefined {
  let loc = start;
  let rule = null as CfaRule | null;
  const stack: (CfaRule | null)[] = [];
  for (const prog of programs) {
    const c = new Cursor(prog, 0);
    while (c.pos < prog.length) {
      const op = c.u8();
      const high = op & 0xc0;
      const low = op & 0x3f;
      const advance = (n: number): boolean => {
        loc += BigInt(n * cie.codeAlign);
        return loc > pc;
      };
      if (high === 0x40) {
        if (advance(low)) return rule ?? undefined;
        continue;
      }
      if (high === 0x80) {
        c.uleb(); // DW_CFA_offset: where a register is saved, not the CFA
        continue;
      }
      if (high === 0xc0) continue; // DW_CFA_restore
      switch (op) {
        case 0x00: // nop
        case 0x07: // undefined
        case 0x08: // same_value
          if (op !== 0x00) c.uleb();
          break;
        case 0x01:
          loc = c.u64();
          if (loc > pc) return rule ?? undefined;
          break;
        case 0x02:
          if (advance(c.u8())) return rule ?? undefined;
          break;
        case 0x03:
          if (advance(c.u16())) return rule ?? undefined;
          break;
        case 0x04:
          if (advance(c.u32())) return rule ?? undefined;
          break;
        case 0x05: // offset_extended
        case 0x09: // register
          c.uleb();
          c.uleb();
          break;
        case 0x06: // restore_extended
          c.uleb();
          break;
        case 0x0a:
          stack.push(rule);
          break;
        case 0x0b:
          rule = stack.pop() ?? rule;
          break;
        case 0x0c:
          rule = { reg: c.uleb(), offset: c.uleb() };
          break;
        case 0x0d:
          rule = { reg: c.uleb(), offset: rule?.offset ?? 0 };
          break;
        case 0x0e:
          rule = { reg: rule?.reg ?? 7, offset: c.uleb() };
          break;
        case 0x11: // offset_extended_sf
        case 0x14: // val_offset
        case 0x15: // val_offset_sf
          c.uleb();
          if (op === 0x14) c.uleb();
          else c.sleb();
          break;
        case 0x12:
          rule = { reg: c.uleb(), offset: c.sleb() * cie.dataAlign };
          break;
        case 0x13:
          rule = { reg: rule?.reg ?? 7, offset: c.sleb() * cie.dataAlign };
          break;
        default:
          // def_cfa_expression and the like: the CFA is no longer register+offset.
          return undefined;
      }
    }
  }
  return rule ?? undefined;
}
