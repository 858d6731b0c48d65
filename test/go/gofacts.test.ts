// go.ts on real Go binaries: the demo services (Go 1.19, static, DWARF) and a tiny fixture
// program built here with flags that change its DWARF (none, uncompressed, .zdebug, zstd).
import { copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BinaryFacts, GoFunctionFacts } from '../../src/compiler/facts.js';
import { buildDemo, type DemoBinaries } from '../../src/demo/build.js';
import { ElfFile } from '../../src/runner/elf.js';
import { decodeReturns, goBinaryFacts, goidOffsetForVersion, goPackageOf } from '../../src/runner/go.js';
import { buildGofacts, cleanupBuilds, has, tryRun } from './helpers.js';

let demo: DemoBinaries;
let gofacts: string;

beforeAll(async () => {
  demo = await buildDemo();
  gofacts = buildGofacts('gofacts');
}, 600_000);
afterAll(cleanupBuilds);

async function facts(path: string, fns: string[], opts = {}): Promise<BinaryFacts> {
  const r = await goBinaryFacts(path, fns, opts);
  if ('error' in r) throw new Error(r.error);
  return r;
}

function fn(b: BinaryFacts, name: string): GoFunctionFacts {
  const f = b.functions?.[name];
  if (!f) throw new Error(`no facts for ${name}`);
  return f;
}

/** RET offsets of a function as objdump decodes them (an independent decoder). */
function objdumpRets(bin: string, sym: string): number[] | undefined {
  const out = tryRun('objdump', ['-d', '--no-show-raw-insn', `--disassemble=${sym}`, bin]);
  if (out === undefined) return undefined;
  const start = new RegExp(`^([0-9a-f]+) <${sym.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}>:`, 'm').exec(out);
  if (!start) return undefined;
  const base = Number.parseInt(start[1]!, 16);
  return [...out.matchAll(/^\s+([0-9a-f]+):\s+(?:rep[z ]*\s*)?(ret|retq|lret|lretq)\b/gm)].map((m) => Number.parseInt(m[1]!, 16) - base);
}

/** The function's bytes, for checking what sits at each RET offset. */
function codeOf(bin: string, sym: string): Buffer {
  const f = ElfFile.open(bin);
  if ('error' in f) throw new Error(f.error);
  try {
    const s = f.functionNamed(sym)!;
    return f.functionBytes(s)!;
  } finally {
    f.close();
  }
}

describe('demo binaries', () => {
  it('frontend: version, regabi, goid offset from DWARF', async () => {
    const b = await facts(demo.paths.frontend, []);
    expect(b.go?.version).toMatch(/^go1\.19(\.\d+)?$/);
    expect(b.go?.regabi).toBe(true);
    expect(b.go?.goidOffset).toBe(152);
  });

  it('main.handle: its RET and no tail call (the jmp back to the start is the morestack loop)', async () => {
    const b = await facts(demo.paths.frontend, ['main.handle']);
    const h = fn(b, 'main.handle');
    expect(h.returns.length).toBeGreaterThan(0);
    expect(h.returns).toEqual([320]);
    const code = codeOf(demo.paths.frontend, 'main.handle');
    for (const off of h.returns) expect(code[off]).toBe(0xc3);
    // The same list as an independent decoder's.
    const od = objdumpRets(demo.paths.frontend, 'main.handle');
    if (od) expect(h.returns).toEqual(od);
    expect(h.tailCalls).toBe(0);
    expect(h.params).toEqual([{ name: 'n', goType: 'int', kind: 'int', reg: 0 }]);
  });

  it('main.vote(n int, name string): n in AX, name in BX/CX', async () => {
    const b = await facts(demo.paths.voting, ['main.vote']);
    const v = fn(b, 'main.vote');
    expect(v.params).toEqual([
      { name: 'n', goType: 'int', kind: 'int', reg: 0 },
      { name: 'name', goType: 'string', kind: 'string', reg: 1 },
    ]);
    const od = objdumpRets(demo.paths.voting, 'main.vote');
    if (od) expect(v.returns).toEqual(od);
  });

  it('emoji: lookup, sleepFor, churn', async () => {
    const b = await facts(demo.paths.emoji, ['main.lookup', 'main.sleepFor', 'main.churn']);
    expect(fn(b, 'main.lookup').params).toEqual([{ name: 'n', goType: 'int', kind: 'int', reg: 0 }]);
    expect(fn(b, 'main.sleepFor').params).toEqual([{ name: 'ms', goType: 'int', kind: 'int', reg: 0 }]);
    expect(fn(b, 'main.churn').params).toEqual([{ name: 'depth', goType: 'int', kind: 'int', reg: 0 }]);
    for (const name of ['main.lookup', 'main.sleepFor', 'main.churn']) {
      const f = fn(b, name);
      expect(f.returns.length).toBeGreaterThan(0);
      const od = objdumpRets(demo.paths.emoji, name);
      if (od) expect(f.returns).toEqual(od);
    }
  });

  it('a compiler-made wrapper that leaves only by a tail call: no RET, one tail call', async () => {
    // net.(*TCPConn).Read is the promoted method of the embedded net.conn: Go 1.19 compiles
    // the wrapper to a jmp to net.(*conn).Read.
    const b = await facts(demo.paths.frontend, ['net.(*TCPConn).Read']);
    const r = fn(b, 'net.(*TCPConn).Read');
    expect(r.returns).toEqual([]);
    expect(r.tailCalls).toBe(1);
  });

  it('methods and other packages: receiver first, named Go types', async () => {
    const b = await facts(demo.paths.frontend, ['net/http.(*conn).serve']);
    expect(fn(b, 'net/http.(*conn).serve').params).toEqual([
      { name: 'c', goType: '*net/http.conn', kind: 'pointer', reg: 0 },
      { name: 'ctx', goType: 'context.Context', kind: 'other', reg: 1 },
    ]);
  });

  it('a function the binary lacks is left out', async () => {
    const b = await facts(demo.paths.frontend, ['main.handle', 'main.nosuch']);
    expect(Object.keys(b.functions ?? {})).toEqual(['main.handle']);
  });

  it('decode: only the listed functions are disassembled', async () => {
    const b = await facts(demo.paths.voting, ['main.vote'], { decode: [] });
    expect(fn(b, 'main.vote')).toMatchObject({ returns: [], tailCalls: 0 });
    expect(fn(b, 'main.vote').params).toHaveLength(2);
  });

  it('is quick on a 7 MB binary', async () => {
    const t0 = performance.now();
    await facts(demo.paths.frontend, ['main.handle']);
    const ms = performance.now() - t0;
    // Warm here (the decoder is loaded); ~10-40 ms. Generous for a loaded CI machine.
    expect(ms).toBeLessThan(1000);
  });
});

describe('fixture program', () => {
  it('goid: DWARF agrees with the offset the running program finds in g', async () => {
    const out = tryRun(gofacts, ['goid']);
    expect(out?.trim()).toBe('[152]');
    const b = await facts(gofacts, []);
    expect(b.go?.goidOffset).toBe(152);
  });

  it("Go's register assignment: whole values in registers or on the stack", async () => {
    const b = await facts(gofacts, ['main.mixed', 'main.spill', 'main.(*Server).handle']);
    // mixed(a int, s string, f float64, ok bool, p *Server, sl []int, e error, m map[string]int,
    //       u uint8, st pair, arr [2]int, last int): checked against the call in main.main.
    expect(fn(b, 'main.mixed').params).toEqual([
      { name: 'a', goType: 'int', kind: 'int', reg: 0 },
      { name: 's', goType: 'string', kind: 'string', reg: 1 },
      { name: 'f', goType: 'float64', kind: 'other', reg: -1 }, // X0
      { name: 'ok', goType: 'bool', kind: 'bool', reg: 3 },
      { name: 'p', goType: '*main.Server', kind: 'pointer', reg: 4 },
      { name: 'sl', goType: '[]int', kind: 'other', reg: 5 },
      { name: 'e', goType: 'error', kind: 'other', reg: -1 }, // needs 2, 1 left: stack
      { name: 'm', goType: 'map[string]int', kind: 'pointer', reg: 8 }, // still takes R11
      { name: 'u', goType: 'uint8', kind: 'uint', reg: -1 },
      { name: 'st', goType: 'main.pair', kind: 'other', reg: -1 },
      { name: 'arr', goType: '[2]int', kind: 'other', reg: -1 },
      { name: 'last', goType: 'int', kind: 'int', reg: -1 },
    ]);
    const spill = fn(b, 'main.spill').params!;
    expect(spill.map((p) => p.reg)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, -1, 8]);
    expect(fn(b, 'main.(*Server).handle').params).toEqual([
      { name: 's', goType: '*main.Server', kind: 'pointer', reg: 0 },
      { name: 'n', goType: 'int', kind: 'int', reg: 1 },
    ]);
  });

  it('a jump table stays inside the function; an assembly tail call is counted', async () => {
    const b = await facts(gofacts, ['main.sw', 'main.pick.abi0']);
    const sw = fn(b, 'main.sw');
    expect(sw.tailCalls).toBe(0);
    expect(sw.returns.length).toBeGreaterThanOrEqual(10);
    const od = objdumpRets(gofacts, 'main.sw');
    if (od) {
      expect(sw.returns).toEqual(od);
      expect(tryRun('objdump', ['-d', '--disassemble=main.sw', gofacts])).toMatch(/jmp\s+\*\(%\w+,%\w+,8\)/);
    }
    // pick: JEQ zero; JMP ·target(SB); zero: ...; RET
    const pick = fn(b, 'main.pick.abi0');
    expect(pick.tailCalls).toBe(1);
    expect(pick.returns).toHaveLength(1);
    expect(pick.params).toBeUndefined(); // assembly has no DWARF parameters
  });

  it('uncompressed, .zdebug (zlib-gnu) and zstd DWARF', async () => {
    const dir = dirname(gofacts);
    const plain = buildGofacts('plain', ['-ldflags=-compressdwarf=false']);
    const want = await facts(gofacts, ['main.spill']);
    const p = await facts(plain, ['main.spill']);
    expect(p).toEqual(want);
    const f = ElfFile.open(plain) as ElfFile;
    expect(f.sections.find((s) => s.name === '.debug_info')!.flags & 0x800).toBe(0);
    f.close();

    const zgnu = join(dir, 'zgnu');
    if (tryRun('objcopy', ['--compress-debug-sections=zlib-gnu', plain, zgnu]) !== undefined && has(zgnu)) {
      const z = ElfFile.open(zgnu) as ElfFile;
      const hasZ = z.section('.zdebug_info') !== undefined;
      z.close();
      if (hasZ) expect(await facts(zgnu, ['main.spill'])).toEqual(want);
    }
    const zstd = join(dir, 'zstd');
    if (tryRun('objcopy', ['--compress-debug-sections=zstd', plain, zstd]) !== undefined && has(zstd)) {
      // node:zlib has no zstd in Node 20: the DWARF is unreadable, so the version table answers.
      const z = await facts(zstd, ['main.spill']);
      expect(z.go?.goidOffset).toBe(152);
      expect(fn(z, 'main.spill').params).toBeUndefined();
      expect(fn(z, 'main.spill').returns).toEqual(fn(want, 'main.spill').returns);
    }
  });

  it('without DWARF (-ldflags=-w): no params, goid offset from the version table', async () => {
    const bin = buildGofacts('nodwarf', ['-ldflags=-w']);
    const f = ElfFile.open(bin) as ElfFile;
    expect(f.section('.debug_info')).toBeUndefined();
    f.close();
    const b = await facts(bin, ['main.spill']);
    expect(b.go).toEqual({ version: expect.stringMatching(/^go1\.19/), regabi: true, goidOffset: 152 });
    expect(fn(b, 'main.spill').params).toBeUndefined();
    expect(fn(b, 'main.spill').returns.length).toBeGreaterThan(0);
  });

  it('a copy keeps working (no path-dependent state)', async () => {
    const copy = join(dirname(gofacts), 'copy');
    copyFileSync(gofacts, copy);
    expect(await facts(copy, ['main.sw'])).toEqual(await facts(gofacts, ['main.sw']));
  });
});

describe('non-Go and bad input', () => {
  it('/usr/bin/bash is not Go', async () => {
    const b = await facts('/usr/bin/bash', ['main']);
    expect(b).toEqual({ go: null });
  });

  it('a missing file and a non-ELF file are errors', async () => {
    expect(await goBinaryFacts('/nonexistent/bin', [])).toEqual({ error: expect.stringContaining('cannot open') });
    const r = await goBinaryFacts(new URL(import.meta.url).pathname, []);
    expect(r).toEqual({ error: expect.stringContaining('not an ELF file') });
  });
});

describe('helpers', () => {
  it('goidOffsetForVersion', () => {
    expect(goidOffsetForVersion('go1.16.5')).toBeNull();
    expect(goidOffsetForVersion('go1.17')).toBe(152);
    expect(goidOffsetForVersion('go1.19.8')).toBe(152);
    expect(goidOffsetForVersion('go1.22.1')).toBe(152);
    expect(goidOffsetForVersion('go1.23.0')).toBe(160);
    expect(goidOffsetForVersion('go1.24.4')).toBe(160);
    expect(goidOffsetForVersion('go1.25.3')).toBe(152);
    expect(goidOffsetForVersion('go1.27')).toBeNull();
    expect(goidOffsetForVersion('devel +abc')).toBeNull();
  });

  it('goPackageOf', () => {
    expect(goPackageOf('main.handle')).toBe('main');
    expect(goPackageOf('net/http.(*conn).serve')).toBe('net/http');
    expect(goPackageOf('ctrace.dev/demo/internal/svc.New')).toBe('ctrace.dev/demo/internal/svc');
    expect(goPackageOf('main.Map[go.shape.string_0]')).toBe('main');
    expect(goPackageOf('sync/atomic.(*Pointer[net/http.x]).Load')).toBe('sync/atomic');
  });

  it('decodeReturns: decoded instructions, not bytes', () => {
    const start = 0x1000n;
    const code = Uint8Array.from([
      0xb8, 0xc3, 0x00, 0x00, 0x00, //  0: mov eax, 0xc3        (a c3 byte, not a RET)
      0x74, 0x02, //                     5: je +2 (inside)
      0xc2, 0x08, 0x00, //               7: ret 8
      0xeb, 0xf4, //                    10: jmp start (12 - 12 = 0): the morestack loop-back
      0xe9, 0x00, 0x10, 0x00, 0x00, //  12: jmp far outside        -> tail call
      0x0f, 0x84, 0x00, 0x20, 0x00, 0x00, // 17: je far outside   -> tail call
      0xff, 0x24, 0xc1, //              23: jmp [rcx+rax*8]        jump table: inside
      0xff, 0xe0, //                    26: jmp rax                -> tail call
      0xcb, //                          28: retf
      0xca, 0x10, 0x00, //              29: retf 16
      0xc3, //                          32: ret
    ]);
    expect(decodeReturns(code, start)).toEqual({ returns: [7, 28, 29, 32], tailCalls: 3 });
  });
});
