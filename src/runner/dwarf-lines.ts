// DWARF line tables (.debug_line, versions 2-5): which source files a binary was built from,
// and the addresses of the statements of a file's lines. Programs are decoded only for units
// that name a wanted file, so resolving one line does not decode the whole table.

import { Cursor } from './dwarf.js';

export interface LineRow {
  /** The file's path as the line table gives it (directory/name). */
  readonly file: string;
  readonly line: number;
  readonly addr: bigint;
}

interface ProgramHeader {
  readonly files: readonly string[];
  /** File numbering: 1-based before DWARF 5, 0-based from it. */
  readonly firstFile: number;
  readonly programStart: number;
  readonly end: number;
  readonly minInst: number;
  readonly defaultIsStmt: boolean;
  readonly lineBase: number;
  readonly lineRange: number;
  readonly opcodeBase: number;
  readonly stdLengths: readonly number[];
}

export interface LineSections {
  readonly line: Buffer;
  /** DWARF 5 file names may live in .debug_line_str or .debug_str. */
  readonly lineStr?: Buffer | undefined;
  readonly str?: Buffer | undefined;
}

/** Every line program's header, in section order. */
export function lineHeaders(s: LineSections): ProgramHeader[] {
  const out: ProgramHeader[] = [];
  let off = 0;
  while (off + 4 <= s.line.length) {
    const h = header(s, off);
    out.push(h);
    off = h.end;
  }
  return out;
}

/** Every distinct source file path the line tables name. */
export function sourceFiles(headers: readonly ProgramHeader[]): string[] {
  return [...new Set(headers.flatMap((h) => h.files))];
}

/**
 * The statement rows (is_stmt) of the files `want` accepts, from the programs naming one.
 * A row whose address equals the next row's (an empty range) is dropped: no instruction has it.
 */
export function statementRows(s: LineSections, headers: readonly ProgramHeader[], want: (file: string) => boolean): LineRow[] {
  const out: LineRow[] = [];
  for (const h of headers) {
    const wanted = h.files.map(want);
    if (!wanted.includes(true)) continue;
    run(s.line, h, (file, line, addr, stmt, prev) => {
      if (prev && prev.addr === addr && out[out.length - 1] === prev) out.pop();
      const i = file - h.firstFile;
      if (stmt && wanted[i]) {
        const row = { file: h.files[i]!, line, addr };
        out.push(row);
        return row;
      }
      return null;
    });
  }
  return out;
}

function header(s: LineSections, off: number): ProgramHeader {
  const c = new Cursor(s.line, off);
  let len = c.u32();
  let offsetSize = 4;
  if (len === 0xffffffff) {
    len = Number(c.u64());
    offsetSize = 8;
  }
  const end = c.pos + len;
  if (end > s.line.length) throw new Error(`DWARF: line program at ${off} runs past the end of .debug_line`);
  const version = c.u16();
  if (version < 2 || version > 5) throw new Error(`DWARF: unsupported line table version ${version} at ${off}`);
  if (version >= 5) c.pos += 2; // address_size, segment_selector_size
  const headerLength = c.off(offsetSize);
  const programStart = c.pos + headerLength;
  const minInst = c.u8();
  if (version >= 4) c.u8(); // maximum_operations_per_instruction (VLIW only)
  const defaultIsStmt = c.u8() !== 0;
  const lineBase = (c.u8() << 24) >> 24;
  const lineRange = c.u8();
  const opcodeBase = c.u8();
  const stdLengths: number[] = [];
  for (let i = 1; i < opcodeBase; i++) stdLengths.push(c.u8());
  const files: string[] = [];
  if (version < 5) {
    const dirs = [''];
    for (let d = c.cstr(); d !== ''; d = c.cstr()) dirs.push(d);
    for (let name = c.cstr(); name !== ''; name = c.cstr()) {
      const dir = dirs[c.uleb()] ?? '';
      c.uleb(); // mtime
      c.uleb(); // length
      files.push(join(dir, name));
    }
    return { files, firstFile: 1, programStart, end, minInst, defaultIsStmt, lineBase, lineRange, opcodeBase, stdLengths };
  }
  const dirs = entries(c, s, offsetSize).map((e) => e.path);
  for (const e of entries(c, s, offsetSize)) files.push(join(dirs[e.dir] ?? '', e.path));
  return { files, firstFile: 0, programStart, end, minInst, defaultIsStmt, lineBase, lineRange, opcodeBase, stdLengths };
}

const DW_LNCT_path = 1;
const DW_LNCT_directory_index = 2;

/** A DWARF 5 directory or file name table. */
function entries(c: Cursor, s: LineSections, offsetSize: number): { path: string; dir: number }[] {
  const formats: [number, number][] = [];
  const nFormats = c.u8();
  for (let i = 0; i < nFormats; i++) formats.push([c.uleb(), c.uleb()]);
  const out: { path: string; dir: number }[] = [];
  const count = c.uleb();
  for (let i = 0; i < count; i++) {
    let path = '';
    let dir = 0;
    for (const [what, form] of formats) {
      const v = formValue(c, form, s, offsetSize);
      if (what === DW_LNCT_path && typeof v === 'string') path = v;
      if (what === DW_LNCT_directory_index && typeof v === 'number') dir = v;
    }
    out.push({ path, dir });
  }
  return out;
}

function formValue(c: Cursor, form: number, s: LineSections, offsetSize: number): string | number | null {
  switch (form) {
    case 0x08: // string
      return c.cstr();
    case 0x1f: // line_strp
    case 0x0e: // strp
      return cstrAt(form === 0x1f ? s.lineStr : s.str, c.off(offsetSize));
    case 0x0b: // data1
      return c.u8();
    case 0x05: // data2
      return c.u16();
    case 0x06: // data4
      return c.u32();
    case 0x07: // data8
      return Number(c.u64());
    case 0x0f: // udata
      return c.uleb();
    case 0x1e: // data16 (MD5)
      c.pos += 16;
      return null;
    case 0x09: // block
      c.pos += c.uleb();
      return null;
    default:
      throw new Error(`DWARF: unsupported form 0x${form.toString(16)} in a line table header`);
  }
}

function cstrAt(buf: Buffer | undefined, off: number): string {
  if (!buf || off >= buf.length) return '';
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end < 0 ? buf.length : end);
}

function join(dir: string, name: string): string {
  if (dir === '' || name.startsWith('/')) return name;
  return `${dir.replace(/\/$/, '')}/${name}`;
}

type Emit = (file: number, line: number, addr: bigint, stmt: boolean, prev: { addr: bigint } | null) => { addr: bigint } | null;

/** Runs one line program's state machine, calling `emit` for every row appended. */
function run(buf: Buffer, h: ProgramHeader, emit: Emit): void {
  const c = new Cursor(buf, h.programStart);
  let addr = 0n;
  let file = 1;
  let line = 1;
  let stmt = h.defaultIsStmt;
  let prev: { addr: bigint } | null = null;
  const reset = () => {
    addr = 0n;
    file = 1;
    line = 1;
    stmt = h.defaultIsStmt;
    prev = null;
  };
  const row = () => {
    prev = emit(file, line, addr, stmt, prev) ?? { addr };
  };
  const minInst = BigInt(h.minInst);
  while (c.pos < h.end) {
    const op = c.u8();
    if (op >= h.opcodeBase) {
      const adj = op - h.opcodeBase;
      addr += BigInt(Math.floor(adj / h.lineRange)) * minInst;
      line += h.lineBase + (adj % h.lineRange);
      row();
      continue;
    }
    switch (op) {
      case 0: {
        const len = c.uleb();
        const next = c.pos + len;
        const sub = c.u8();
        if (sub === 1) {
          // end_sequence: its address is one past the sequence, no instruction has it.
          emit(file, line, addr, false, prev);
          reset();
        } else if (sub === 2) addr = len - 1 === 8 ? c.u64() : BigInt(c.u32());
        c.pos = next;
        break;
      }
      case 1:
        row();
        break;
      case 2:
        addr += BigInt(c.uleb()) * minInst;
        break;
      case 3:
        line += c.sleb();
        break;
      case 4:
        file = c.uleb();
        break;
      case 5:
        c.uleb();
        break;
      case 6:
        stmt = !stmt;
        break;
      case 8:
        addr += BigInt(Math.floor((255 - h.opcodeBase) / h.lineRange)) * minInst;
        break;
      case 9:
        addr += BigInt(c.u16());
        break;
      default:
        // basic_block, prologue_end, epilogue_begin, set_isa, and opcodes this reader does
        // not know: skip their operands, as the header says how many there are.
        for (let i = 0; i < (h.stdLengths[op - 1] ?? 0); i++) c.uleb();
        break;
    }
  }
}
