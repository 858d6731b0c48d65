// A small DWARF 4/5 .debug_info reader: enough to walk Go's compile units, find top-level
// DIEs by tag and name (functions, runtime.g), read their children, and follow type
// references. Not a general DWARF library: no line tables, locations or expressions beyond
// DW_OP_plus_uconst; forms are all decoded (or skipped by size) so any producer's units can
// be walked past.

export const DW_TAG = {
  array_type: 0x01,
  formal_parameter: 0x05,
  member: 0x0d,
  pointer_type: 0x0f,
  compile_unit: 0x11,
  structure_type: 0x13,
  subroutine_type: 0x15,
  typedef: 0x16,
  subrange_type: 0x21,
  base_type: 0x24,
  subprogram: 0x2e,
  variable: 0x34,
} as const;

export const DW_AT = {
  location: 0x02,
  name: 0x03,
  byte_size: 0x0b,
  upper_bound: 0x2f,
  abstract_origin: 0x31,
  count: 0x37,
  data_member_location: 0x38,
  encoding: 0x3e,
  type: 0x49,
  variable_parameter: 0x4b,
  str_offsets_base: 0x72,
  addr_base: 0x73,
  /** Go: reflect.Kind of the type. */
  go_kind: 0x2900,
  go_elem: 0x2902,
} as const;

export const DW_ATE = { boolean: 0x02, complex_float: 0x03, float: 0x04, signed: 0x05, signed_char: 0x06, unsigned: 0x07, unsigned_char: 0x08 } as const;

const F = {
  addr: 0x01, block2: 0x03, block4: 0x04, data2: 0x05, data4: 0x06, data8: 0x07, string: 0x08, block: 0x09, block1: 0x0a,
  data1: 0x0b, flag: 0x0c, sdata: 0x0d, strp: 0x0e, udata: 0x0f, ref_addr: 0x10, ref1: 0x11, ref2: 0x12, ref4: 0x13,
  ref8: 0x14, ref_udata: 0x15, indirect: 0x16, sec_offset: 0x17, exprloc: 0x18, flag_present: 0x19, strx: 0x1a,
  addrx: 0x1b, ref_sup4: 0x1c, strp_sup: 0x1d, data16: 0x1e, line_strp: 0x1f, ref_sig8: 0x20, implicit_const: 0x21,
  loclistx: 0x22, rnglistx: 0x23, ref_sup8: 0x24, strx1: 0x25, strx2: 0x26, strx3: 0x27, strx4: 0x28, addrx1: 0x29,
  addrx2: 0x2a, addrx3: 0x2b, addrx4: 0x2c, gnu_addr_index: 0x1f01, gnu_str_index: 0x1f02, gnu_ref_alt: 0x1f20, gnu_strp_alt: 0x1f21,
} as const;

export type AttrValue = number | bigint | string | boolean | Buffer | { readonly ref: number };

interface AttrSpec {
  readonly at: number;
  readonly form: number;
  readonly implicitConst?: number;
}

interface Abbrev {
  readonly tag: number;
  readonly children: boolean;
  readonly specs: readonly AttrSpec[];
}

export interface Unit {
  /** Offset of the unit header in .debug_info. */
  readonly offset: number;
  /** Offset just past the unit. */
  readonly end: number;
  readonly version: number;
  readonly addrSize: number;
  /** 4 (32-bit DWARF) or 8 (64-bit DWARF). */
  readonly offsetSize: number;
  /** Offset of the unit's first DIE. */
  readonly dieOffset: number;
  readonly abbrevs: ReadonlyMap<number, Abbrev>;
  /** DW_AT_str_offsets_base of the unit DIE (DWARF 5 strx forms), if any. */
  strOffsetsBase?: number;
}

export interface Die {
  readonly offset: number;
  readonly tag: number;
  readonly hasChildren: boolean;
  readonly attrs: ReadonlyMap<number, AttrValue>;
  /** Offset just past this DIE's attributes (its first child, when it has children). */
  readonly next: number;
  readonly unit: Unit;
}

export interface DwarfSections {
  readonly info: Buffer;
  readonly abbrev: Buffer;
  readonly str?: Buffer | undefined;
  readonly lineStr?: Buffer | undefined;
  readonly strOffsets?: Buffer | undefined;
}

export class Cursor {
  constructor(
    readonly buf: Buffer,
    public pos: number,
  ) {}
  u8(): number {
    const v = this.buf[this.pos];
    if (v === undefined) throw new RangeError(`DWARF: read past the end at ${this.pos}`);
    this.pos += 1;
    return v;
  }
  u16(): number {
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u24(): number {
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }
  u32(): number {
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  /** A 4- or 8-byte offset as a number. */
  off(size: number): number {
    return size === 8 ? Number(this.u64()) : this.u32();
  }
  uleb(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
  }
  sleb(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) return b & 0x40 ? result - mul : result;
    }
  }
  skipUleb(): void {
    while (this.u8() & 0x80);
  }
  cstr(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new RangeError('DWARF: unterminated string');
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }
  skipCstr(): void {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new RangeError('DWARF: unterminated string');
    this.pos = end + 1;
  }
}

function cstrAt(buf: Buffer | undefined, off: number): string | undefined {
  if (!buf || off >= buf.length) return undefined;
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end < 0 ? buf.length : end);
}

/** Parses the abbreviation table at `offset` of .debug_abbrev. */
export function parseAbbrevs(buf: Buffer, offset: number): Map<number, Abbrev> {
  const out = new Map<number, Abbrev>();
  const c = new Cursor(buf, offset);
  while (c.pos < buf.length) {
    const code = c.uleb();
    if (code === 0) break;
    const tag = c.uleb();
    const children = c.u8() !== 0;
    const specs: AttrSpec[] = [];
    for (;;) {
      const at = c.uleb();
      const form = c.uleb();
      if (at === 0 && form === 0) break;
      specs.push(form === F.implicit_const ? { at, form, implicitConst: c.sleb() } : { at, form });
    }
    out.set(code, { tag, children, specs });
  }
  return out;
}

export class DwarfReader {
  private unitList: Unit[] | undefined;
  private readonly abbrevCache = new Map<number, Map<number, Abbrev>>();

  constructor(private readonly s: DwarfSections) {}

  /** The raw .debug_info bytes. */
  get info(): Buffer {
    return this.s.info;
  }

  /** Unit headers of .debug_info, in order (headers only: cheap). */
  units(): readonly Unit[] {
    if (this.unitList) return this.unitList;
    const out: Unit[] = [];
    const buf = this.s.info;
    let off = 0;
    while (off + 11 <= buf.length) {
      const c = new Cursor(buf, off);
      let len = c.u32();
      let offsetSize = 4;
      if (len === 0xffffffff) {
        len = Number(c.u64());
        offsetSize = 8;
      } else if (len >= 0xfffffff0) {
        throw new Error(`DWARF: reserved unit length 0x${len.toString(16)} at ${off}`);
      }
      const end = c.pos + len;
      if (end > buf.length) throw new Error(`DWARF: unit at ${off} runs past the end of .debug_info`);
      const version = c.u16();
      let addrSize: number;
      let abbrevOffset: number;
      if (version >= 5) {
        const unitType = c.u8();
        addrSize = c.u8();
        abbrevOffset = c.off(offsetSize);
        // skeleton/split compile units: dwo_id; type units: signature + type offset
        if (unitType === 0x04 || unitType === 0x05) c.pos += 8;
        else if (unitType === 0x02 || unitType === 0x06) c.pos += 8 + offsetSize;
      } else if (version >= 2) {
        abbrevOffset = c.off(offsetSize);
        addrSize = c.u8();
      } else {
        throw new Error(`DWARF: unsupported version ${version} at ${off}`);
      }
      out.push({ offset: off, end, version, addrSize, offsetSize, dieOffset: c.pos, abbrevs: this.abbrevsAt(abbrevOffset) });
      off = end;
    }
    this.unitList = out;
    return out;
  }

  private abbrevsAt(offset: number): Map<number, Abbrev> {
    let m = this.abbrevCache.get(offset);
    if (!m) {
      m = parseAbbrevs(this.s.abbrev, offset);
      this.abbrevCache.set(offset, m);
    }
    return m;
  }

  /** The unit containing a .debug_info offset. */
  unitAt(offset: number): Unit | undefined {
    const us = this.units();
    let lo = 0;
    let hi = us.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const u = us[mid]!;
      if (offset < u.offset) hi = mid - 1;
      else if (offset >= u.end) lo = mid + 1;
      else return u;
    }
    return undefined;
  }

  /** The unit's own DIE (DW_TAG_compile_unit), with str_offsets_base noted. */
  unitDie(u: Unit): Die | null {
    const d = this.dieAt(u.dieOffset, u);
    if (d) {
      const base = d.attrs.get(DW_AT.str_offsets_base);
      if (typeof base === 'number') u.strOffsetsBase = base;
    }
    return d;
  }

  /** Parses the DIE at `offset` (null for a null entry, which ends a sibling list). */
  dieAt(offset: number, unit?: Unit): Die | null {
    const u = unit ?? this.unitAt(offset);
    if (!u) throw new Error(`DWARF: offset ${offset} is outside .debug_info`);
    const c = new Cursor(this.s.info, offset);
    const code = c.uleb();
    if (code === 0) return null;
    const ab = u.abbrevs.get(code);
    if (!ab) throw new Error(`DWARF: unknown abbreviation ${code} at ${offset}`);
    const attrs = new Map<number, AttrValue>();
    for (const sp of ab.specs) attrs.set(sp.at, this.readForm(c, sp.form, u, sp.implicitConst));
    return { offset, tag: ab.tag, hasChildren: ab.children, attrs, next: c.pos, unit: u };
  }

  /** The children of a DIE, in order (their subtrees are skipped, not returned). */
  children(die: Die): Die[] {
    const out: Die[] = [];
    if (!die.hasChildren) return out;
    let pos = die.next;
    for (;;) {
      const child = this.dieAt(pos, die.unit);
      if (!child) break;
      out.push(child);
      pos = child.hasChildren ? this.skipChildren(child.next, die.unit) : child.next;
    }
    return out;
  }

  /** From the first child's offset, the offset just past the terminating null entry. */
  skipChildren(pos: number, u: Unit): number {
    const c = new Cursor(this.s.info, pos);
    let depth = 1;
    while (depth > 0) {
      const code = c.uleb();
      if (code === 0) {
        depth--;
        continue;
      }
      const ab = u.abbrevs.get(code);
      if (!ab) throw new Error(`DWARF: unknown abbreviation ${code} at ${c.pos}`);
      for (const sp of ab.specs) this.skipForm(c, sp.form, u);
      if (ab.children) depth++;
    }
    return c.pos;
  }

  /**
   * Walks the unit's top-level DIEs (children of the unit DIE). Those whose tag is in
   * `tags` have their name read (and nothing else decoded); when `match(tag, name)` holds,
   * the DIE is parsed and handed to `found`. Returning 'stop' from `found` ends the walk.
   */
  scanTopLevel(u: Unit, tags: ReadonlySet<number>, match: (tag: number, name: string | undefined) => boolean, found: (die: Die) => 'stop' | void): 'stop' | void {
    const c = new Cursor(this.s.info, u.dieOffset);
    const rootCode = c.uleb();
    const root = u.abbrevs.get(rootCode);
    if (!root) throw new Error(`DWARF: unknown abbreviation ${rootCode} at ${u.dieOffset}`);
    for (const sp of root.specs) this.skipForm(c, sp.form, u);
    if (!root.children) return;
    let depth = 1;
    while (depth > 0 && c.pos < u.end) {
      const at = c.pos;
      const code = c.uleb();
      if (code === 0) {
        depth--;
        continue;
      }
      const ab = u.abbrevs.get(code);
      if (!ab) throw new Error(`DWARF: unknown abbreviation ${code} at ${at}`);
      if (depth === 1 && tags.has(ab.tag)) {
        let name: string | undefined;
        for (const sp of ab.specs) {
          if (sp.at === DW_AT.name && name === undefined) {
            const v = this.readForm(c, sp.form, u, sp.implicitConst);
            if (typeof v === 'string') name = v;
          } else {
            this.skipForm(c, sp.form, u);
          }
        }
        if (match(ab.tag, name) && found(this.dieAt(at, u)!) === 'stop') return 'stop';
      } else {
        for (const sp of ab.specs) this.skipForm(c, sp.form, u);
      }
      if (ab.children) depth++;
    }
  }

  private readForm(c: Cursor, form: number, u: Unit, implicitConst?: number): AttrValue {
    switch (form) {
      case F.addr:
        return u.addrSize === 8 ? c.u64() : c.u32();
      case F.data1:
      case F.ref1:
      case F.flag:
      case F.strx1:
      case F.addrx1: {
        const v = c.u8();
        if (form === F.flag) return v !== 0;
        if (form === F.ref1) return { ref: u.offset + v };
        if (form === F.strx1) return this.strx(u, v);
        return v;
      }
      case F.data2:
      case F.ref2:
      case F.strx2:
      case F.addrx2: {
        const v = c.u16();
        if (form === F.ref2) return { ref: u.offset + v };
        if (form === F.strx2) return this.strx(u, v);
        return v;
      }
      case F.strx3:
      case F.addrx3: {
        const v = c.u24();
        return form === F.strx3 ? this.strx(u, v) : v;
      }
      case F.data4:
      case F.ref4:
      case F.strx4:
      case F.addrx4:
      case F.ref_sup4: {
        const v = c.u32();
        if (form === F.ref4) return { ref: u.offset + v };
        if (form === F.strx4) return this.strx(u, v);
        return v;
      }
      case F.data8:
      case F.ref8:
      case F.ref_sig8:
      case F.ref_sup8: {
        const v = c.u64();
        if (form === F.ref8) return { ref: u.offset + Number(v) };
        return v;
      }
      case F.data16: {
        const b = c.buf.subarray(c.pos, c.pos + 16);
        c.pos += 16;
        return b;
      }
      case F.sdata:
        return c.sleb();
      case F.udata:
      case F.loclistx:
      case F.rnglistx:
      case F.addrx:
      case F.gnu_addr_index:
        return c.uleb();
      case F.ref_udata:
        return { ref: u.offset + c.uleb() };
      case F.strx:
      case F.gnu_str_index:
        return this.strx(u, c.uleb());
      case F.string:
        return c.cstr();
      case F.strp:
        return cstrAt(this.s.str, c.off(u.offsetSize)) ?? '';
      case F.line_strp:
        return cstrAt(this.s.lineStr, c.off(u.offsetSize)) ?? '';
      case F.strp_sup:
      case F.gnu_strp_alt:
      case F.sec_offset:
      case F.gnu_ref_alt:
        return c.off(u.offsetSize);
      case F.ref_addr:
        return { ref: u.version <= 2 ? (u.addrSize === 8 ? Number(c.u64()) : c.u32()) : c.off(u.offsetSize) };
      case F.flag_present:
        return true;
      case F.implicit_const:
        return implicitConst ?? 0;
      case F.exprloc:
      case F.block:
        return this.block(c, c.uleb());
      case F.block1:
        return this.block(c, c.u8());
      case F.block2:
        return this.block(c, c.u16());
      case F.block4:
        return this.block(c, c.u32());
      case F.indirect:
        return this.readForm(c, c.uleb(), u, implicitConst);
      default:
        throw new Error(`DWARF: unsupported attribute form 0x${form.toString(16)}`);
    }
  }

  private block(c: Cursor, n: number): Buffer {
    const b = c.buf.subarray(c.pos, c.pos + n);
    c.pos += n;
    return b;
  }

  private strx(u: Unit, index: number): string {
    const table = this.s.strOffsets;
    // DWARF 5: str_offsets_base points past the 8-byte (or 16-byte) table header.
    const base = u.strOffsetsBase ?? (u.offsetSize === 8 ? 16 : 8);
    if (!table) return '';
    const at = base + index * u.offsetSize;
    if (at + u.offsetSize > table.length) return '';
    const off = u.offsetSize === 8 ? Number(table.readBigUInt64LE(at)) : table.readUInt32LE(at);
    return cstrAt(this.s.str, off) ?? '';
  }

  private skipForm(c: Cursor, form: number, u: Unit): void {
    switch (form) {
      case F.addr:
        c.pos += u.addrSize;
        return;
      case F.data1:
      case F.ref1:
      case F.flag:
      case F.strx1:
      case F.addrx1:
        c.pos += 1;
        return;
      case F.data2:
      case F.ref2:
      case F.strx2:
      case F.addrx2:
        c.pos += 2;
        return;
      case F.strx3:
      case F.addrx3:
        c.pos += 3;
        return;
      case F.data4:
      case F.ref4:
      case F.strx4:
      case F.addrx4:
      case F.ref_sup4:
        c.pos += 4;
        return;
      case F.data8:
      case F.ref8:
      case F.ref_sig8:
      case F.ref_sup8:
        c.pos += 8;
        return;
      case F.data16:
        c.pos += 16;
        return;
      case F.sdata:
      case F.udata:
      case F.ref_udata:
      case F.loclistx:
      case F.rnglistx:
      case F.addrx:
      case F.strx:
      case F.gnu_addr_index:
      case F.gnu_str_index:
        c.skipUleb();
        return;
      case F.string:
        c.skipCstr();
        return;
      case F.strp:
      case F.line_strp:
      case F.strp_sup:
      case F.gnu_strp_alt:
      case F.sec_offset:
      case F.gnu_ref_alt:
        c.pos += u.offsetSize;
        return;
      case F.ref_addr:
        c.pos += u.version <= 2 ? u.addrSize : u.offsetSize;
        return;
      case F.flag_present:
      case F.implicit_const:
        return;
      case F.exprloc:
      case F.block: {
        const n = c.uleb(); // (not `c.pos += c.uleb()`: that adds to the position before the length)
        c.pos += n;
        return;
      }
      case F.block1:
        c.pos += 1 + c.buf[c.pos]!;
        return;
      case F.block2:
        c.pos += 2 + c.buf.readUInt16LE(c.pos);
        return;
      case F.block4:
        c.pos += 4 + c.buf.readUInt32LE(c.pos);
        return;
      case F.indirect:
        this.skipForm(c, c.uleb(), u);
        return;
      default:
        throw new Error(`DWARF: unsupported attribute form 0x${form.toString(16)}`);
    }
  }
}

// ---- small helpers over attribute values ----

export function attrString(d: Die, at: number): string | undefined {
  const v = d.attrs.get(at);
  return typeof v === 'string' ? v : undefined;
}

export function attrNumber(d: Die, at: number): number | undefined {
  const v = d.attrs.get(at);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

export function attrRef(d: Die, at: number): number | undefined {
  const v = d.attrs.get(at);
  return typeof v === 'object' && v !== null && !Buffer.isBuffer(v) ? v.ref : undefined;
}

export function attrFlag(d: Die, at: number): boolean {
  const v = d.attrs.get(at);
  return v === true || (typeof v === 'number' && v !== 0);
}

/**
 * DW_AT_data_member_location: a constant, or (DWARF 2/3 style) an expression that is a
 * single DW_OP_plus_uconst.
 */
export function memberOffset(d: Die): number | undefined {
  const v = d.attrs.get(DW_AT.data_member_location);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (Buffer.isBuffer(v) && v[0] === 0x23 /* DW_OP_plus_uconst */) {
    const c = new Cursor(v, 1);
    const n = c.uleb();
    return c.pos === v.length ? n : undefined;
  }
  return undefined;
}
