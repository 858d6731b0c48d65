// Facts about a Go binary for the compiler (BinaryFacts): the toolchain version and ABI, the
// offset of goid in runtime.g, and for each probed function its return instructions, tail
// calls and parameters (with Go's register assignment).
//
// Return instructions are found by decoding the function's machine code with iced-x86 (a
// WASM x86 decoder), never by searching for 0xc3 bytes. The decoder is loaded only when a
// function's code must be decoded: it costs ~50 ms through require() (and ~300 ms more
// through ESM import(), whose CommonJS export scan reads all of its 900 kB of glue), so it
// is required, not imported.

import { createRequire } from 'node:module';
import type { BinaryFacts, GoFunctionFacts, GoParam } from '../compiler/facts.js';
import { DW_AT, DW_ATE, DW_TAG, DwarfReader, attrFlag, attrNumber, attrRef, attrString, memberOffset, type Die, type Unit } from './dwarf.js';
import { ElfFile, type ElfSymbol } from './elf.js';
import { sourceLineFacts } from './go-lines.js';

type Iced = typeof import('iced-x86');

let iced: Iced | undefined;
function loadIced(): Iced {
  if (!iced) iced = createRequire(import.meta.url)('iced-x86') as Iced;
  return iced;
}

export interface GoFactsOptions {
  /**
   * Functions whose machine code is decoded for `returns` and `tailCalls` (return probes
   * need them). Default: every requested function. The others get `returns: []` and
   * `tailCalls: 0`, which mean "not decoded": pass only the functions that entry probes
   * name here and the decoder is never loaded.
   */
  readonly decode?: readonly string[];
  /** Source lines ('main.go:75') whose addresses and variables are wanted (go-lines.ts). */
  readonly lines?: readonly string[];
}

/** Integer registers of Go's amd64 register ABI, in assignment order. */
export const GO_INT_REGS = ['ax', 'bx', 'cx', 'di', 'si', 'r8', 'r9', 'r10', 'r11'] as const;
const NUM_INT_REGS = GO_INT_REGS.length;
/** X0-X14 (X15 is the zero register). */
const NUM_FLOAT_REGS = 15;

/**
 * Offset of goid in runtime.g when the binary has no DWARF, by Go version (amd64):
 * go1.17-1.22: 152; go1.23-1.24 add g.syscallbp before it: 160; go1.25 drops gobuf.ret:
 * 152 again (checked against runtime2.go of each). Unknown versions: null.
 */
export function goidOffsetForVersion(version: string): number | null {
  const m = /^go(\d+)\.(\d+)/.exec(version);
  if (!m) return null;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major !== 1) return null;
  if (minor >= 17 && minor <= 22) return 152;
  if (minor >= 23 && minor <= 24) return 160;
  if (minor >= 25 && minor <= 26) return 152;
  return null;
}

/**
 * The facts the compiler needs about `path`: `go` is null for a non-Go binary (and then
 * nothing else is read). `functionNames` are exact symbol names; one the binary lacks is
 * left out of `functions` (the compiler reports it).
 */
export async function goBinaryFacts(path: string, functionNames: readonly string[], opts: GoFactsOptions = {}): Promise<BinaryFacts | { error: string }> {
  const f = ElfFile.open(path);
  if ('error' in f) return f;
  try {
    const go = f.goInfo();
    if (!go) return { go: null };

    const syms = new Map<string, ElfSymbol>();
    for (const name of new Set(functionNames)) {
      const s = f.functionNamed(name);
      if (s) syms.set(name, s);
    }

    const dwarf = openDwarf(f);
    const fromDwarf = dwarf ? scanGoDwarf(dwarf, [...syms.keys()], true) : undefined;
    const goidOffset = fromDwarf?.goidOffset ?? goidOffsetForVersion(go.version);

    const decodeSet = new Set(opts.decode ?? syms.keys());
    const functions: Record<string, GoFunctionFacts> = {};
    for (const [name, sym] of syms) {
      const code: DecodedFunction = decodeSet.has(name) ? decodeFunction(f, sym) : { returns: [], tailCalls: 0 };
      const params = fromDwarf?.params.get(name);
      functions[name] = params ? { ...code, params } : code;
    }
    const lines = opts.lines?.length ? { lines: sourceLineFacts(f, opts.lines) } : {};
    return { go: { version: go.version, regabi: go.regabi, goidOffset }, functions, ...lines };
  } catch (e) {
    return { error: `cannot read ${path}: ${(e as Error).message}` };
  } finally {
    f.close();
  }
}

// ---- machine code ----

export interface DecodedFunction {
  readonly returns: number[];
  readonly tailCalls: number;
  /** Offset just past the stack-check prologue (see decodeReturns); absent when there is none. */
  readonly entry?: number;
}

function decodeFunction(f: ElfFile, sym: ElfSymbol): DecodedFunction {
  const bytes = f.functionBytes(sym);
  if (!bytes || bytes.length === 0) return { returns: [], tailCalls: 0 };
  return decodeReturns(bytes, sym.value);
}

/**
 * Offsets (from `start`) of the RET instructions (c3, c2, cb, ca) in a function's code, and
 * the number of jumps that leave it (tail calls):
 * - a direct jmp or jcc whose target is outside [start, start+len) counts, except one to
 *   exactly `start`: Go's morestack prologue loops back there, it is not a tail call;
 * - `jmp reg` and `jmp [mem]` without an index register count (their target is unknown;
 *   in Go only assembly uses them, as runtime.gogo's `JMP BX` does);
 * - `jmp [base+index*8]` is a switch's jump table (Go 1.19+), inside the function: not counted.
 */
export function decodeReturns(code: Uint8Array, start: bigint): DecodedFunction {
  const x = loadIced();
  const end = start + BigInt(code.length);
  const dec = new x.Decoder(64, code, x.DecoderOptions.None);
  const ins = new x.Instruction();
  const returns: number[] = [];
  let tailCalls = 0;
  // For the prologue: each instruction's offset, and for branches their kind and target.
  const seen: { off: number; next: number; flow: number; target: bigint | null }[] = [];
  try {
    dec.ip = start;
    while (dec.canDecode) {
      dec.decodeOut(ins);
      const near = ins.op0Kind === x.OpKind.NearBranch64 || ins.op0Kind === x.OpKind.NearBranch32 || ins.op0Kind === x.OpKind.NearBranch16;
      seen.push({ off: Number(ins.ip - start), next: Number(ins.nextIP - start), flow: ins.flowControl, target: near ? ins.nearBranchTarget : null });
      switch (ins.flowControl) {
        case x.FlowControl.Return:
          if (ins.mnemonic === x.Mnemonic.Ret || ins.mnemonic === x.Mnemonic.Retf) returns.push(Number(ins.ip - start));
          break;
        case x.FlowControl.UnconditionalBranch:
        case x.FlowControl.ConditionalBranch: {
          const k = ins.op0Kind;
          if (k === x.OpKind.NearBranch64 || k === x.OpKind.NearBranch32 || k === x.OpKind.NearBranch16) {
            const target = ins.nearBranchTarget;
            if (target !== start && (target < start || target >= end)) tailCalls++;
          } else if (k === x.OpKind.FarBranch16 || k === x.OpKind.FarBranch32) {
            tailCalls++;
          }
          break;
        }
        case x.FlowControl.IndirectBranch:
          if (!(ins.op0Kind === x.OpKind.Memory && ins.memoryIndex !== x.Register.None)) tailCalls++;
          break;
        default:
          break;
      }
    }
  } finally {
    ins.free();
    dec.free();
  }
  const entry = prologueEnd(seen, start, x.FlowControl.ConditionalBranch, x.FlowControl.UnconditionalBranch, x.FlowControl.Call);
  return entry === undefined ? { returns, tailCalls } : { returns, tailCalls, entry };
}

/**
 * Go starts most functions with a stack check: `CMP RSP, 16(R14); JBE grow` where `grow`
 * calls runtime.morestack and jumps back to the function's first instruction. A uprobe on
 * the symbol then fires twice for a call that grows its stack; one just past the JBE fires
 * once per call, with the argument registers still intact. Returns that offset.
 */
function prologueEnd(
  seen: readonly { off: number; next: number; flow: number; target: bigint | null }[],
  start: bigint,
  conditional: number,
  unconditional: number,
  call: number,
): number | undefined {
  for (const ins of seen.slice(0, 6)) {
    if (ins.flow !== conditional || ins.target === null) continue;
    const at = seen.findIndex((i) => BigInt(i.off) + start === ins.target);
    if (at < 0) return undefined;
    let sawCall = false;
    for (const b of seen.slice(at, at + 12)) {
      if (b.flow === call) sawCall = true;
      if (b.flow === unconditional) return sawCall && b.target === start ? ins.next : undefined;
    }
    return undefined;
  }
  return undefined;
}

// ---- DWARF ----

function openDwarf(f: ElfFile): DwarfReader | undefined {
  try {
    const info = f.debugSection('info');
    const abbrev = f.debugSection('abbrev');
    if (!info || !abbrev) return undefined;
    return new DwarfReader({ info, abbrev, str: f.debugSection('str'), lineStr: f.debugSection('line_str'), strOffsets: f.debugSection('str_offsets') });
  } catch {
    // Unreadable DWARF (zstd, corrupt) is as good as none: the version table and no params.
    return undefined;
  }
}

export interface GoDwarfFacts {
  /** Offset of goid in runtime.g, undefined when not found. */
  readonly goidOffset?: number;
  /** Parameters of the functions found, by name. */
  readonly params: Map<string, GoParam[]>;
}

/** The package path of a Go symbol: 'net/http' for 'net/http.(*conn).serve'. */
export function goPackageOf(name: string): string {
  const cut = name.search(/[[(]/);
  const head = cut < 0 ? name : name.slice(0, cut);
  const slash = head.lastIndexOf('/');
  const dot = head.indexOf('.', slash + 1);
  return dot < 0 ? head : head.slice(0, dot);
}

/**
 * One walk over .debug_info for runtime.g's goid (when `wantGoid`) and the named functions'
 * parameters, stopping as soon as everything is found. Go writes names inline
 * (DW_FORM_string), so the units whose bytes contain a wanted name are walked first (a
 * memory search finds them); then those named after the functions' packages (and
 * `runtime`, which holds Go's types); then the rest. A function without DWARF (assembly)
 * costs a walk of everything.
 */
export function scanGoDwarf(d: DwarfReader, functions: readonly string[], wantGoid: boolean): GoDwarfFacts {
  const params = new Map<string, GoParam[]>();
  const missing = new Set(functions);
  let goidOffset: number | undefined;
  let needGoid = wantGoid;
  const done = () => missing.size === 0 && !needGoid;
  if (done()) return { params };

  const units = d.units();
  const hinted = new Set<Unit>();
  for (const name of wantGoid ? [...missing, 'runtime.g'] : missing) {
    const needle = Buffer.from(name + '\0', 'utf8');
    for (let at = d.info.indexOf(needle); at >= 0; at = d.info.indexOf(needle, at + 1)) {
      const u = d.unitAt(at);
      if (u) hinted.add(u);
      if (hinted.size > 64) break;
    }
  }
  const pkgs = new Set(functions.map(goPackageOf));
  if (wantGoid) pkgs.add('runtime');
  const byPackage: Unit[] = [];
  const rest: Unit[] = [];
  for (const u of units) {
    if (hinted.has(u)) continue;
    const cu = d.unitDie(u);
    const name = cu ? attrString(cu, DW_AT.name) : undefined;
    (name !== undefined && pkgs.has(name) ? byPackage : rest).push(u);
  }
  const order = [...units.filter((u) => hinted.has(u)), ...byPackage, ...rest];

  const tags = new Set<number>([DW_TAG.subprogram, DW_TAG.structure_type]);
  const match = (tag: number, name: string | undefined) =>
    name !== undefined && (tag === DW_TAG.subprogram ? missing.has(name) : needGoid && name === 'runtime.g');
  const types = new GoTypes(d);
  for (const u of order) {
    const r = d.scanTopLevel(u, tags, match, (die) => {
      const name = attrString(die, DW_AT.name)!;
      if (die.tag === DW_TAG.structure_type) {
        const goid = d.children(die).find((m) => m.tag === DW_TAG.member && attrString(m, DW_AT.name) === 'goid');
        const off = goid ? memberOffset(goid) : undefined;
        if (off !== undefined) {
          goidOffset = off;
          needGoid = false;
        }
      } else {
        params.set(name, functionParams(d, die, types));
        missing.delete(name);
      }
      return done() ? 'stop' : undefined;
    });
    if (r === 'stop') break;
  }
  return goidOffset === undefined ? { params } : { goidOffset, params };
}

/** A DIE's attribute, looked up through DW_AT_abstract_origin when the DIE lacks it. */
function withOrigin(d: DwarfReader, die: Die): Die {
  const origin = attrRef(die, DW_AT.abstract_origin);
  if (origin === undefined || die.attrs.has(DW_AT.name)) return die;
  return d.dieAt(origin) ?? die;
}

function functionParams(d: DwarfReader, fn: Die, types: GoTypes): GoParam[] {
  const out: GoParam[] = [];
  let ints = 0;
  let floats = 0;
  for (const child of d.children(fn)) {
    if (child.tag !== DW_TAG.formal_parameter) continue;
    const p = withOrigin(d, child);
    if (attrFlag(p, DW_AT.variable_parameter)) continue; // a result
    const typeOff = attrRef(p, DW_AT.type);
    const t = typeOff !== undefined ? types.get(typeOff) : undefined;
    const shape = t?.shape ?? null;
    let reg = -1;
    // Go's ABI: a value goes wholly in registers, or wholly on the stack (and later ones may
    // still take registers).
    if (shape && ints + shape.ints <= NUM_INT_REGS && floats + shape.floats <= NUM_FLOAT_REGS) {
      if (shape.ints > 0) reg = ints;
      ints += shape.ints;
      floats += shape.floats;
    }
    out.push({ name: attrString(p, DW_AT.name) ?? `~p${out.length}`, goType: t?.name ?? '?', kind: t?.kind ?? 'other', reg });
  }
  return out;
}

// ---- Go types from DWARF ----

/** reflect.Kind values, as Go's DW_AT_go_kind gives them. */
const K = {
  Bool: 1, Int: 2, Int64: 6, Uint: 7, Uintptr: 12, Float32: 13, Float64: 14, Complex64: 15, Complex128: 16,
  Array: 17, Chan: 18, Func: 19, Interface: 20, Map: 21, Ptr: 22, Slice: 23, String: 24, Struct: 25, UnsafePointer: 26,
} as const;

/** Registers a value of the type takes; null: it cannot be register-assigned (always on the stack). */
interface Shape {
  readonly ints: number;
  readonly floats: number;
}

interface GoTypeFacts {
  readonly name: string;
  readonly kind: GoParam['kind'];
  readonly shape: Shape | null;
}

class GoTypes {
  private readonly cache = new Map<number, GoTypeFacts>();
  constructor(private readonly d: DwarfReader) {}

  get(offset: number, depth = 0): GoTypeFacts {
    const hit = this.cache.get(offset);
    if (hit) return hit;
    const t = this.compute(offset, depth);
    this.cache.set(offset, t);
    return t;
  }

  private compute(offset: number, depth: number): GoTypeFacts {
    const die = this.d.dieAt(offset);
    const unknown: GoTypeFacts = { name: '?', kind: 'other', shape: null };
    if (!die || depth > 16) return unknown;
    const name = attrString(die, DW_AT.name) ?? '?';
    const goKind = attrNumber(die, DW_AT.go_kind);
    const under = attrRef(die, DW_AT.type);
    const one = (kind: GoParam['kind']): GoTypeFacts => ({ name, kind, shape: { ints: 1, floats: 0 } });
    if (goKind !== undefined) {
      if (goKind === K.Bool) return one('bool');
      if (goKind >= K.Int && goKind <= K.Int64) return one('int');
      if (goKind >= K.Uint && goKind <= K.Uintptr) return one('uint');
      if (goKind === K.Float32 || goKind === K.Float64) return { name, kind: 'other', shape: { ints: 0, floats: 1 } };
      if (goKind === K.Complex64 || goKind === K.Complex128) return { name, kind: 'other', shape: { ints: 0, floats: 2 } };
      if (goKind === K.Ptr || goKind === K.UnsafePointer || goKind === K.Map || goKind === K.Chan || goKind === K.Func) return one('pointer');
      if (goKind === K.String) return { name, kind: 'string', shape: { ints: 2, floats: 0 } };
      if (goKind === K.Interface) return { name, kind: 'other', shape: { ints: 2, floats: 0 } };
      if (goKind === K.Slice) return { name, kind: 'other', shape: { ints: 3, floats: 0 } };
      if (goKind === K.Array) return { name, kind: 'other', shape: this.arrayShape(die, depth) };
      if (goKind === K.Struct) return { name, kind: 'other', shape: this.structShape(die, depth) };
    }
    switch (die.tag) {
      case DW_TAG.typedef:
        return under !== undefined ? { ...this.get(under, depth + 1), name } : unknown;
      case DW_TAG.pointer_type:
      case DW_TAG.subroutine_type:
        return one('pointer');
      case DW_TAG.base_type: {
        const enc = attrNumber(die, DW_AT.encoding);
        const size = attrNumber(die, DW_AT.byte_size) ?? 8;
        if (enc === DW_ATE.boolean) return one('bool');
        if (enc === DW_ATE.float) return { name, kind: 'other', shape: { ints: 0, floats: 1 } };
        if (enc === DW_ATE.complex_float) return { name, kind: 'other', shape: { ints: 0, floats: 2 } };
        if (size > 8) return { name, kind: 'other', shape: null };
        if (enc === DW_ATE.signed || enc === DW_ATE.signed_char) return one('int');
        if (enc === DW_ATE.unsigned || enc === DW_ATE.unsigned_char) return one('uint');
        return { name, kind: 'other', shape: null };
      }
      case DW_TAG.structure_type:
        if (name === 'string') return { name, kind: 'string', shape: { ints: 2, floats: 0 } };
        return { name, kind: 'other', shape: this.structShape(die, depth) };
      case DW_TAG.array_type:
        return { name, kind: 'other', shape: this.arrayShape(die, depth) };
      default:
        return unknown;
    }
  }

  private structShape(die: Die, depth: number): Shape | null {
    let ints = 0;
    let floats = 0;
    for (const m of this.d.children(die)) {
      if (m.tag !== DW_TAG.member) continue;
      const t = attrRef(m, DW_AT.type);
      const s = t !== undefined ? this.get(t, depth + 1).shape : null;
      if (!s) return null;
      ints += s.ints;
      floats += s.floats;
    }
    return { ints, floats };
  }

  /** [0]T takes nothing, [1]T what T takes, longer arrays go on the stack. */
  private arrayShape(die: Die, depth: number): Shape | null {
    const range = this.d.children(die).find((c) => c.tag === DW_TAG.subrange_type);
    const count = range ? (attrNumber(range, DW_AT.count) ?? (attrNumber(range, DW_AT.upper_bound) ?? -1) + 1) : undefined;
    if (count === 0) return { ints: 0, floats: 0 };
    if (count !== 1) return null;
    const elem = attrRef(die, DW_AT.type);
    return elem !== undefined ? this.get(elem, depth + 1).shape : null;
  }
}
