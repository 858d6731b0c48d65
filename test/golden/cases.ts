// Loads the golden cases and the facts each compiles against.
//
// Directives in a case's leading comments: `//@ args: A B`, `//@ target: none`,
// `//@ interval: 2s`, `//@ bpftrace: 0.17`, `//@ host: NAME` (the `host` builtin's value).

import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REFERENCE_FACTS, type Facts } from '../../src/compiler/facts.js';

const here = dirname(fileURLToPath(import.meta.url));
export const casesDir = join(here, 'cases');
export const tracepoints = JSON.parse(readFileSync(join(here, 'tracepoints.json'), 'utf8')) as Record<string, string[]>;

export const GOLDEN_TARGET = {
  pid: 4242,
  exe: '/usr/bin/bash',
  paths: { '/usr/bin/bash': '/usr/bin/bash' },
  modules: { 'libc.so.6': '/usr/lib/x86_64-linux-gnu/libc.so.6' },
};

/** A Go service in a container (`//@ go`), as the runner would describe it. */
export const GO_EXE = '/proc/4242/root/app/frontend';
export const GO_TARGET = {
  pid: 4242,
  exe: GO_EXE,
  paths: {},
  modules: {},
  nspid: 1,
  pidnsLevel: 1,
  containers: [{ name: 'frontend', mntns: 4026532185 }],
};
export const GO_BINARIES = {
  [GO_EXE]: {
    go: { version: 'go1.19.8', regabi: true, goidOffset: 152 },
    functions: {
      'main.handle': { returns: [320], tailCalls: 0, entry: 10, params: [{ name: 'n', goType: 'int', kind: 'int' as const, reg: 0 }] },
      // A pointer-receiver method: its name holds '*', which is no wildcard when quoted.
      'main.(*Server).handle': { returns: [96], tailCalls: 0, entry: 10, params: [{ name: 'id', goType: 'int', kind: 'int' as const, reg: 1 }] },
      'main.vote': {
        returns: [181, 250],
        tailCalls: 1,
        entry: 10,
        params: [
          { name: 'n', goType: 'int', kind: 'int' as const, reg: 0 },
          { name: 'name', goType: 'string', kind: 'string' as const, reg: 1 },
        ],
      },
    },
    // Source lines as the runner's DWARF reader gives them (see test/go/lines.test.ts for the real ones).
    lines: {
      'main.go:75': {
        kind: 'found' as const,
        file: 'ctrace.dev/demo/services/frontend/main.go',
        line: 75,
        sites: [
          {
            func: 'main.main.func1',
            offset: 328,
            vars: [
              { name: 'r', goType: '*net/http.Request', kind: 'pointer' as const, size: 8, param: true, pieces: [{ sp: 216 }] },
              { name: 'n', goType: 'int', kind: 'int' as const, size: 8, param: false, pieces: [{ sp: 80 }] },
              { name: 'early', goType: 'bool', kind: 'bool' as const, size: 1, param: false, pieces: [{ reg: 'cx' }] },
              { name: 'voter', goType: 'string', kind: 'string' as const, size: 16, param: false, pieces: [{ sp: 96 }, { sp: 64 }] },
              { name: 'status', goType: 'int', kind: 'int' as const, size: 8, param: false, pieces: null, why: 'DWARF gives it no location at this address (optimized out, or not yet set)' },
            ],
          },
        ],
      },
      // One line inlined into two functions: the same parameter in different places.
      'url.go:886': {
        kind: 'found' as const,
        file: 'net/url/url.go',
        line: 886,
        sites: [
          { func: 'ctrace.dev/demo/internal/svc.IntParam', offset: 80, inlinedFrom: 'net/url.Values.Get', vars: [{ name: 'v', goType: 'net/url.Values', kind: 'pointer' as const, size: 8, param: true, pieces: [{ reg: 'ax' }] }, { name: 'key', goType: 'string', kind: 'string' as const, size: 16, param: true, pieces: [{ sp: 152 }, { sp: 160 }] }] },
          { func: 'main.main.func1', offset: 137, inlinedFrom: 'net/url.Values.Get', vars: [{ name: 'v', goType: 'net/url.Values', kind: 'pointer' as const, size: 8, param: true, pieces: [{ reg: 'ax' }] }, { name: 'key', goType: 'string', kind: 'string' as const, size: 16, param: true, pieces: [{ reg: 'bx' }, { reg: 'cx' }] }] },
        ],
      },
      'main.go:72': { kind: 'no-code' as const, file: 'ctrace.dev/demo/services/frontend/main.go', near: [69, 73] },
      'nope.go:3': { kind: 'no-file' as const, similar: [] },
      'errors.go:10': { kind: 'ambiguous' as const, candidates: ['errors/errors.go', 'internal/poll/errors.go', 'net/http/internal/errors.go'] },
    },
  },
};

export interface GoldenCase {
  readonly name: string;
  readonly text: string;
  readonly facts: Facts;
  readonly intervalMs: number | null;
  readonly expectError: boolean;
  /** Names synthetic binaries: compiled only, not given to bpftrace --dry-run. */
  readonly synthetic: boolean;
}

function directives(text: string): Map<string, string> {
  const d = new Map<string, string>();
  for (const m of text.matchAll(/^\/\/@\s*(\w+)(?::\s*(.*))?$/gm)) d.set(m[1]!, (m[2] ?? '').trim());
  return d;
}

export function loadCases(): GoldenCase[] {
  return readdirSync(casesDir)
    .filter((f) => f.endsWith('.d'))
    .sort()
    .map((file) => {
      const name = file.replace(/\.d$/, '');
      const text = readFileSync(join(casesDir, file), 'utf8');
      const d = directives(text);
      const v017 = d.get('bpftrace') === '0.17';
      const facts: Facts = {
        ...REFERENCE_FACTS,
        bpftrace: v017 ? { version: { major: 0, minor: 17, patch: 0 }, uprobeOffsets: false, kprobes: false, kfunc: false, btf: true } : REFERENCE_FACTS.bpftrace,
        tracepoints,
        tracepointsComplete: true,
        scriptArgs: d.get('args')?.split(/\s+/) ?? [],
        scriptName: file,
        ...(d.get('target') === 'none' ? {} : { target: GOLDEN_TARGET }),
        ...(d.has('go') ? { target: GO_TARGET, binaries: GO_BINARIES } : {}),
        ...(d.has('host') ? { host: d.get('host')! } : {}),
        ...(d.has('containers')
          ? { target: { ...GO_TARGET, containers: [{ name: 'web', mntns: 4026532001 }, { name: 'api', mntns: 4026532002 }] } }
          : {}),
      };
      const interval = d.get('interval');
      return { name, text, facts, intervalMs: interval ? Number.parseInt(interval, 10) * 1000 : null, expectError: name.startsWith('e'), synthetic: d.has('go') || d.has('containers') };
    });
}

