// go-lines.ts on the demo's frontend (Go 1.19, static, compressed DWARF): source files by
// suffix, a line's addresses (checked against readelf's decoded line table), its parameters
// and locals at that PC, and the failures (no file, no code, ambiguous name).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LineLookup } from '../../src/compiler/facts.js';
import { buildDemo, demoSourceDir, type DemoBinaries } from '../../src/demo/build.js';
import { ElfFile } from '../../src/runner/elf.js';
import { cfaAt } from '../../src/runner/dwarf-frame.js';
import { evaluate, filesMatching, listSourceLines, parseLineSpec, sourceLineFacts } from '../../src/runner/go-lines.js';
import { buildGofacts, cleanupBuilds, FIXTURE, tryRun } from './helpers.js';

let demo: DemoBinaries;
beforeAll(async () => {
  demo = await buildDemo();
}, 600_000);

/** The 1-based line of the frontend's source holding `text`. */
function lineOf(text: string): number {
  const lines = readFileSync(join(demoSourceDir(), 'services/frontend/main.go'), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(text));
  if (i < 0) throw new Error(`no line with ${text}`);
  return i + 1;
}

function lookup(specs: string[]): Record<string, LineLookup> {
  const f = ElfFile.open(demo.paths.frontend);
  if ('error' in f) throw new Error(f.error);
  try {
    return sourceLineFacts(f, specs);
  } finally {
    f.close();
  }
}

describe('source lines of a Go binary', () => {
  it('parses FILE:LINE and matches files by whole path components', () => {
    expect(parseLineSpec('main.go:75')).toEqual({ file: 'main.go', line: 75 });
    expect(parseLineSpec('main.handle')).toBeNull();
    const files = ['a/main.go', 'b/xmain.go', 'b/c/main.go'];
    expect(filesMatching(files, 'main.go')).toEqual(['a/main.go', 'b/c/main.go']);
    expect(filesMatching(files, 'c/main.go')).toEqual(['b/c/main.go']);
    expect(filesMatching(files, 'ain.go')).toEqual([]);
  });

  it('finds the one address of the handler line and its int, string and bool locals', () => {
    const line = lineOf('status := handle(n)');
    const r = lookup([`main.go:${line}`])[`main.go:${line}`]!;
    expect(r.kind).toBe('found');
    if (r.kind !== 'found') return;
    expect(r.file).toBe('ctrace.dev/demo/services/frontend/main.go');
    expect(r.sites.map((s) => s.func)).toEqual(['main.main.func1']);
    const vars = new Map(r.sites[0]!.vars.map((v) => [v.name, v]));
    expect(vars.get('n')).toMatchObject({ kind: 'int', size: 8, param: false });
    expect(vars.get('n')!.pieces).toHaveLength(1);
    expect(vars.get('voter')).toMatchObject({ kind: 'string', param: false });
    expect(vars.get('voter')!.pieces).toHaveLength(2);
    expect(vars.get('early')).toMatchObject({ kind: 'bool', size: 1 });
    expect(vars.get('early')!.pieces).toHaveLength(1);
    expect(vars.get('r')).toMatchObject({ kind: 'pointer', param: true });
    // Assigned by this very line: DWARF has no location for it yet.
    expect(vars.get('status')!.pieces).toBeNull();
    expect(vars.get('status')!.why).toMatch(/no location/);
  });

  it('gives the same statements as readelf decodes (an independent reader)', () => {
    const out = tryRun('readelf', ['--debug-dump=decodedline', demo.paths.frontend]);
    if (out === undefined) return; // binutils absent: the other tests still hold
    const stmtLines = new Set<number>();
    let inFile = false;
    for (const l of out.split('\n')) {
      if (/:$/.test(l.trim()) && !l.startsWith(' ')) inFile = l.trim() === 'ctrace.dev/demo/services/frontend/main.go:';
      const m = /^main\.go\s+(\d+)\s+0x[0-9a-f]+\s+(?:\d+\s+)?x\s*$/.exec(l);
      if (inFile && m) stmtLines.add(Number(m[1]));
    }
    expect(stmtLines.size).toBeGreaterThan(10);
    const f = ElfFile.open(demo.paths.frontend);
    if ('error' in f) throw new Error(f.error);
    try {
      const got = listSourceLines(f, 'frontend/main.go');
      expect('lines' in got && got.lines).toEqual([...stmtLines].sort((a, b) => a - b));
    } finally {
      f.close();
    }
  });

  it('says what is wrong with a line that has no code, a file not in the binary, and an ambiguous name', () => {
    const blank = lineOf('// voter and early are optional');
    const r = lookup([`main.go:${blank}`, 'nope.go:3', 'errors.go:10', 'services/frontend/main.go:1']);
    expect(r[`main.go:${blank}`]).toMatchObject({ kind: 'no-code', file: 'ctrace.dev/demo/services/frontend/main.go' });
    expect((r[`main.go:${blank}`] as { near: number[] }).near).toEqual([blank - 2, blank + 2]);
    expect(r['nope.go:3']).toEqual({ kind: 'no-file', similar: [] });
    expect(r['errors.go:10']!.kind).toBe('ambiguous');
    expect((r['errors.go:10'] as { candidates: string[] }).candidates).toContain('errors/errors.go');
    expect(r['services/frontend/main.go:1']!.kind).toBe('no-code');
  });

  it('attaches once per inlined copy: a standard library function inlined into two callers', () => {
    // net/url.Values.Get is inlined into the demo's svc.IntParam and into the frontend's handler.
    const goroot = tryRun('go', ['env', 'GOROOT'])?.trim();
    if (!goroot) return;
    const src = readFileSync(join(goroot, 'src/net/url/url.go'), 'utf8').split('\n');
    const fn = src.findIndex((l) => l.startsWith('func (v Values) Get('));
    const body = fn + 1 + src.slice(fn + 1).findIndex((l) => l.includes('vs := v[key]'));
    const spec = `net/url/url.go:${body + 1}`;
    const r = lookup([spec])[spec]!;
    expect(r.kind).toBe('found');
    if (r.kind !== 'found') return;
    const funcs = r.sites.map((s) => s.func);
    expect(funcs).toContain('ctrace.dev/demo/internal/svc.IntParam');
    expect(funcs).toContain('main.main.func1');
    expect(r.sites.every((s) => s.inlinedFrom === 'net/url.Values.Get')).toBe(true);
  });
});

describe('the gofacts fixture: parameter types, uncompressed DWARF, no DWARF', () => {
  afterAll(cleanupBuilds);
  const mixedLine = () => readFileSync(join(FIXTURE, 'main.go'), 'utf8').split('\n').findIndex((l) => l.includes('if ok && p != nil')) + 1;
  const at = (bin: string, spec: string): LineLookup => {
    const f = ElfFile.open(bin);
    if ('error' in f) throw new Error(f.error);
    try {
      return sourceLineFacts(f, [spec])[spec]!;
    } finally {
      f.close();
    }
  };

  it('types each parameter in registers at the first line of mixed(), and refuses the ones it cannot read', () => {
    const bin = buildGofacts('lines-plain', ['-ldflags=-compressdwarf=false']);
    const r = at(bin, `main.go:${mixedLine()}`);
    expect(r.kind).toBe('found');
    if (r.kind !== 'found') return;
    expect(r.sites.map((x) => x.func)).toEqual(['main.mixed']);
    const v = new Map(r.sites[0]!.vars.map((x) => [x.name, x]));
    expect(v.get('a')).toMatchObject({ kind: 'int', size: 8, param: true, pieces: [{ reg: 'ax' }] });
    expect(v.get('s')).toMatchObject({ kind: 'string', pieces: [{ reg: 'bx' }, { reg: 'cx' }] });
    expect(v.get('ok')).toMatchObject({ kind: 'bool', size: 1 });
    expect(v.get('u')).toMatchObject({ kind: 'uint', size: 1 });
    expect(v.get('p')).toMatchObject({ kind: 'pointer', size: 8 });
    for (const name of ['f', 'sl', 'e', 'st', 'arr']) {
      expect(v.get(name)!.pieces, name).toBeNull();
      expect(v.get(name)!.why, name).toMatch(/not one that can be read/);
    }
  });

  it('says a binary without DWARF has no line table', () => {
    const bin = buildGofacts('lines-nodwarf', ['-ldflags=-w']);
    expect(at(bin, 'main.go:10')).toEqual({ kind: 'no-dwarf', why: 'it was stripped, or built with -ldflags=-w' });
  });
});

describe('the frame base', () => {
  it('is the CFA readelf interprets from .debug_frame, at every row of the handler', () => {
    const out = tryRun('readelf', ['--debug-dump=frames-interp', demo.paths.frontend]);
    if (out === undefined) return;
    const f = ElfFile.open(demo.paths.frontend);
    if ('error' in f) throw new Error(f.error);
    try {
      const sym = f.functionNamed('main.main.func1')!;
      const fde = out.split('\n\n').find((b) => b.includes(`pc=${sym.value.toString(16).padStart(16, '0')}..`));
      expect(fde).toBeDefined();
      const rows = [...fde!.matchAll(/^([0-9a-f]{16}) rsp\+(\d+)/gm)].map((m) => ({ pc: BigInt(`0x${m[1]}`), offset: Number(m[2]) }));
      expect(rows.length).toBeGreaterThan(2);
      const frame = f.debugSection('frame')!;
      rows.forEach((r, i) => {
        expect(cfaAt(frame, r.pc)).toEqual({ reg: 7, offset: r.offset });
        // The last byte the row covers.
        const next = rows[i + 1]?.pc ?? sym.value + BigInt(sym.size);
        expect(cfaAt(frame, next - 1n)?.offset).toBe(r.offset);
      });
    } finally {
      f.close();
    }
  });
});

describe('location expressions', () => {
  const cfa = { reg: 7, offset: 200 };
  it('reads registers, frame-base offsets and pieces', () => {
    expect(evaluate(Buffer.from([0x50]), cfa)).toEqual([{ reg: 'ax' }]);
    // DW_OP_fbreg -120
    expect(evaluate(Buffer.from([0x91, 0x88, 0x7f]), cfa)).toEqual([{ sp: 80 }]);
    // DW_OP_reg1 (rdx) piece 8, DW_OP_reg4 (rsi) piece 8: a string in two registers
    expect(evaluate(Buffer.from([0x51, 0x93, 0x08, 0x54, 0x93, 0x08]), cfa)).toEqual([{ reg: 'dx' }, { reg: 'si' }]);
    expect(evaluate(Buffer.from([0x9c]), cfa)).toEqual([{ sp: 200 }]);
  });
  it('refuses what it cannot read, never guessing', () => {
    // DW_OP_reg3 piece 8, (nothing) piece 8: half of it is optimized out
    expect(evaluate(Buffer.from([0x53, 0x93, 0x08, 0x93, 0x08]), cfa)).toMatch(/optimized out/);
    expect(evaluate(Buffer.from([0x91, 0x10]), undefined)).toMatch(/call frame/);
    expect(evaluate(Buffer.from([0x91, 0x10]), { reg: 6, offset: 16 })).toMatch(/stack pointer/);
    expect(evaluate(Buffer.from([0x03, 1, 2, 3, 4, 5, 6, 7, 8]), cfa)).toMatch(/operation 0x3/);
  });
});
