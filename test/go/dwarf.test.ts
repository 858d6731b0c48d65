// dwarf.ts on hand-built DWARF: version 5 and 4 (32- and 64-bit) units, every form the walk
// must decode or skip, and scanGoDwarf's search for parameters and runtime.g's goid.
import { describe, expect, it } from 'vitest';
import { DW_AT, DW_TAG, DwarfReader, attrNumber, attrString, memberOffset, parseAbbrevs } from '../../src/runner/dwarf.js';
import { scanGoDwarf } from '../../src/runner/go.js';

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const cstr = (s: string) => [...Buffer.from(s + '\0', 'utf8')];
const u16 = (n: number) => [n & 0xff, (n >> 8) & 0xff];
const u32 = (n: number) => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
const u64 = (n: number) => [...u32(n), 0, 0, 0, 0];

// Forms
const F = { addr: 0x01, block2: 0x03, block4: 0x04, data2: 0x05, data4: 0x06, data8: 0x07, string: 0x08, block: 0x09, block1: 0x0a, data1: 0x0b, flag: 0x0c, sdata: 0x0d, strp: 0x0e, udata: 0x0f, ref_addr: 0x10, ref4: 0x13, ref_udata: 0x15, sec_offset: 0x17, exprloc: 0x18, flag_present: 0x19, strx: 0x1a, addrx: 0x1b, data16: 0x1e, line_strp: 0x1f, implicit_const: 0x21, strx1: 0x25, addrx4: 0x2c };

type Spec = [at: number, form: number, implicit?: number];
function abbrevTable(entries: [code: number, tag: number, children: boolean, specs: Spec[]][]): number[] {
  const out: number[] = [];
  for (const [code, tag, children, specs] of entries) {
    out.push(...uleb(code), ...uleb(tag), children ? 1 : 0);
    for (const [at, form, imp] of specs) {
      out.push(...uleb(at), ...uleb(form));
      if (form === F.implicit_const) out.push(...sleb(imp ?? 0));
    }
    out.push(0, 0);
  }
  out.push(0);
  return out;
}

/**
 * A DWARF 5 unit for package main: main.f(n int, s string) (~r0 int), main.h with an
 * abstract-origin parameter, every awkward form in a variable, and a DWARF 4 unit (64-bit
 * offsets) for package runtime holding runtime.g { stack; goid @ 152 }.
 */
function build() {
  const str = [...cstr(''), ...cstr('main'), ...cstr('s')];
  const strMain = 1;
  const strS = 6;
  // .debug_str_offsets (DWARF 5): header (length, version 5, padding), then offsets.
  const strOffsets = [...u32(4 + 4), ...u16(5), ...u16(0), ...u32(strMain), ...u32(strS)];
  const lineStr = cstr('Go cmd/compile test');

  const abbrev = abbrevTable([
    [1, DW_TAG.compile_unit, true, [[DW_AT.name, F.strx1], [DW_AT.str_offsets_base, F.sec_offset], [0x25 /* producer */, F.line_strp]]],
    [2, DW_TAG.subprogram, true, [[DW_AT.name, F.string], [0x11 /* low_pc */, F.addrx], [0x12 /* high_pc */, F.data8], [0x3f /* external */, F.flag_present]]],
    [3, DW_TAG.formal_parameter, false, [[DW_AT.name, F.string], [DW_AT.variable_parameter, F.flag], [DW_AT.type, F.ref_addr], [DW_AT.location, F.sec_offset]]],
    [4, DW_TAG.base_type, false, [[DW_AT.name, F.string], [DW_AT.encoding, F.data1], [DW_AT.byte_size, F.implicit_const, 8], [DW_AT.go_kind, F.data1]]],
    [5, DW_TAG.structure_type, true, [[DW_AT.name, F.string], [DW_AT.byte_size, F.udata], [DW_AT.go_kind, F.data1]]],
    [6, DW_TAG.member, false, [[DW_AT.name, F.string], [DW_AT.data_member_location, F.udata], [DW_AT.type, F.ref_udata]]],
    [7, DW_TAG.variable, false, [[DW_AT.name, F.strx], [0x1c /* const_value */, F.data16], [DW_AT.location, F.block2], [0x3b, F.block4], [0x3c, F.sdata], [0x3d, F.block], [0x3e, F.block1], [0x40, F.addrx4], [0x41, F.data2], [0x42, F.data4], [0x43, F.flag], [DW_AT.type, F.ref4]]],
    [8, DW_TAG.formal_parameter, false, [[DW_AT.abstract_origin, F.ref_addr], [DW_AT.location, F.exprloc]]],
    [9, DW_TAG.subprogram, true, [[DW_AT.name, F.string], [0x20 /* inline */, F.data1]]],
    [10, DW_TAG.member, false, [[DW_AT.name, F.string], [DW_AT.data_member_location, F.exprloc], [DW_AT.type, F.ref_addr]]],
    [11, DW_TAG.compile_unit, true, [[DW_AT.name, F.string]]],
    [12, DW_TAG.subprogram, true, [[DW_AT.abstract_origin, F.ref_addr], [0x11, F.addr]]],
  ]);

  // ---- unit 1: DWARF 5, 32-bit ----
  const u1: number[] = [];
  const u1Header = 12; // length(4) version(2) unit_type(1) addr_size(1) abbrev_offset(4)
  const at1 = () => u1Header + u1.length; // absolute offset of the next byte (unit 1 starts at 0)
  // Type DIEs are written first so their offsets are known.
  u1.push(...uleb(1), 0 /* strx1 0 = 'main' */, ...u32(8) /* str_offsets_base */, ...u32(0));
  const intOff = at1();
  u1.push(...uleb(4), ...cstr('int'), 0x05, 2 /* reflect.Int */);
  const stringOff = at1();
  u1.push(...uleb(5), ...cstr('string'), ...uleb(16), 24 /* reflect.String */);
  u1.push(...uleb(6), ...cstr('str'), ...uleb(0), ...uleb(0) /* patched below */);
  const strRefAt = u1.length - 1;
  u1.push(...uleb(6), ...cstr('len'), ...uleb(8), ...uleb(intOff - 0));
  u1.push(0); // end of string's members
  // ref_udata is unit-relative; unit 1 starts at 0 so it is the absolute offset. 'str' is
  // typed int here (the shape is what matters).
  u1[strRefAt] = intOff; // < 128, one byte

  // A variable with every awkward form, to be skipped by the walk.
  u1.push(...uleb(7), ...uleb(1) /* strx 1 = 's' */, ...new Array(16).fill(0xab), ...u16(3), 1, 2, 3, ...u32(2), 9, 9, ...sleb(-300), ...uleb(2), 7, 7, 1, 5, ...u32(0), ...u16(1), ...u32(2), 1, ...u32(intOff));

  // main.f(n int, s string) (~r0 int)
  u1.push(...uleb(2), ...cstr('main.f'), ...uleb(0), ...u64(0x40));
  const nOff = at1();
  u1.push(...uleb(3), ...cstr('n'), 0, ...u32(intOff), ...u32(0));
  u1.push(...uleb(3), ...cstr('s'), 0, ...u32(stringOff), ...u32(0));
  u1.push(...uleb(3), ...cstr('~r0'), 1, ...u32(intOff), ...u32(0));
  u1.push(0);

  // main.h: its parameter refers to another DIE (DW_AT_abstract_origin) for name and type.
  u1.push(...uleb(9), ...cstr('main.h'), 1);
  u1.push(...uleb(8), ...u32(nOff), ...uleb(1), 0x50 /* DW_OP_reg0 */);
  u1.push(0);
  // A concrete, unnamed subprogram (found only through its abstract origin).
  u1.push(...uleb(12), ...u32(0), ...u64(0x1000));
  u1.push(...uleb(3), ...cstr('x'), 0, ...u32(intOff), ...u32(0));
  u1.push(0);
  u1.push(0); // end of the unit's children

  const unit1 = [...u32(u1.length + 8), ...u16(5), 0x01 /* DW_UT_compile */, 8, ...u32(0), ...u1];

  // ---- unit 2: DWARF 4, 64-bit offsets ----
  const base2 = unit1.length;
  const u2: number[] = [];
  const u2Header = 4 + 8 + 2 + 8 + 1;
  const at2 = () => base2 + u2Header + u2.length;
  u2.push(...uleb(11), ...cstr('runtime'));
  const uintptrOff = at2();
  u2.push(...uleb(4), ...cstr('uintptr'), 0x07, 12);
  u2.push(...uleb(5), ...cstr('runtime.g'), ...uleb(400), 25);
  u2.push(...uleb(10), ...cstr('stack'), 2, 0x23, 0, ...u64(uintptrOff));
  u2.push(...uleb(10), ...cstr('goid'), 3, 0x23, ...uleb(152), ...u64(uintptrOff));
  u2.push(0);
  u2.push(0);
  const unit2 = [...u32(0xffffffff), ...u64(2 + 8 + 1 + u2.length), ...u16(4), ...u64(0), 8, ...u2];

  return {
    info: Buffer.from([...unit1, ...unit2]),
    abbrev: Buffer.from(abbrev),
    str: Buffer.from(str),
    strOffsets: Buffer.from(strOffsets),
    lineStr: Buffer.from(lineStr),
  };
}

describe('DwarfReader', () => {
  const s = build();
  const d = new DwarfReader(s);

  it('reads unit headers of DWARF 5 and 64-bit DWARF 4', () => {
    const us = d.units();
    expect(us.map((u) => [u.version, u.offsetSize, u.addrSize])).toEqual([
      [5, 4, 8],
      [4, 8, 8],
    ]);
    expect(us[1]!.end).toBe(s.info.length);
    expect(d.unitAt(us[1]!.offset + 30)).toBe(us[1]);
  });

  it('decodes strx, line_strp and str_offsets_base in the unit DIE', () => {
    const cu = d.unitDie(d.units()[0]!)!;
    expect(attrString(cu, DW_AT.name)).toBe('main');
    expect(attrString(cu, 0x25)).toBe('Go cmd/compile test');
    expect(d.units()[0]!.strOffsetsBase).toBe(8);
  });

  it('walks past every form and finds top-level DIEs by name', () => {
    const found: string[] = [];
    for (const u of d.units()) {
      d.unitDie(u);
      d.scanTopLevel(u, new Set([DW_TAG.subprogram, DW_TAG.structure_type, DW_TAG.variable]), () => true, (die) => {
        found.push(`${die.tag}:${attrString(die, DW_AT.name) ?? '-'}`);
      });
    }
    expect(found).toEqual([`${DW_TAG.structure_type}:string`, `${DW_TAG.variable}:s`, `${DW_TAG.subprogram}:main.f`, `${DW_TAG.subprogram}:main.h`, `${DW_TAG.subprogram}:-`, `${DW_TAG.structure_type}:runtime.g`]);
  });

  it('implicit_const, exprloc member offsets', () => {
    const g: number[] = [];
    const u = d.units()[1]!;
    d.scanTopLevel(u, new Set([DW_TAG.structure_type, DW_TAG.base_type]), () => true, (die) => {
      if (die.tag === DW_TAG.base_type) expect(attrNumber(die, DW_AT.byte_size)).toBe(8);
      else for (const m of d.children(die)) g.push(memberOffset(m)!);
    });
    expect(g).toEqual([0, 152]);
  });

  it('scanGoDwarf: parameters (results skipped), string = 2 registers, goid', () => {
    const r = scanGoDwarf(new DwarfReader(s), ['main.f', 'main.h', 'main.nosuch'], true);
    expect(r.goidOffset).toBe(152);
    expect(r.params.get('main.f')).toEqual([
      { name: 'n', goType: 'int', kind: 'int', reg: 0 },
      { name: 's', goType: 'string', kind: 'string', reg: 1 },
    ]);
    expect(r.params.get('main.h')).toEqual([{ name: 'n', goType: 'int', kind: 'int', reg: 0 }]);
    expect(r.params.has('main.nosuch')).toBe(false);
  });

  it('parseAbbrevs', () => {
    const m = parseAbbrevs(s.abbrev, 0);
    expect(m.get(4)?.specs.find((x) => x.at === DW_AT.byte_size)).toEqual({ at: DW_AT.byte_size, form: F.implicit_const, implicitConst: 8 });
    expect(m.get(2)?.children).toBe(true);
  });

  it('reports a corrupt unit instead of looping', () => {
    const bad = Buffer.from(s.info);
    bad.writeUInt32LE(0x7fffff, 0);
    expect(() => new DwarfReader({ ...s, info: bad }).units()).toThrow(/runs past the end/);
  });
});
