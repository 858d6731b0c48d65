// The facts `trace` would compile a program against, gathered once (as src/helper/prepare.ts's
// compileFor does, minus the compile), so in-process compile timings exclude all I/O.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './proc.js';

const dist = (p) => import(join(ROOT, 'dist', p));

let mods;
async function modules() {
  mods ??= {
    parse: await dist('lang/parse.js'),
    source: await dist('lang/source.js'),
    compile: await dist('compiler/compile.js'),
    facts: await dist('compiler/facts.js'),
    probes: await dist('compiler/probes.js'),
    // buildTargetFacts and bpftraceFacts: the same functions prepareRun uses (helper/prepare.ts).
    run: await dist('helper/prepare.js'),
    bpftrace: await dist('runner/bpftrace.js'),
    gather: await dist('runner/gather-facts.js'),
    targets: await dist('runner/targets/index.js'),
    elf: await dist('runner/elf.js'),
    go: await dist('runner/go.js'),
  };
  return mods;
}

/** { compile, Source } from dist/ for the timing loops. */
export async function compiler() {
  const m = await modules();
  return { compile: m.compile.compile, Source: m.source.Source };
}

/**
 * Facts for `text` as `trace [-c container] --bpftrace PATH` would gather them:
 * bpftrace features, the container's target facts, tracepoint fields, Go binary facts.
 */
export async function realFacts(text, { name = 'bench.d', container, bpftrace, args = [] } = {}) {
  const m = await modules();
  const source = new m.source.Source(name, text);
  const parsed = m.parse.parse(source);
  const descs = parsed.program.items.flatMap((i) => (i.kind === 'Clause' ? i.probes : []));
  const found = await m.bpftrace.findBpftrace({ explicit: bpftrace, env: process.env });
  if (!found.ok) throw new Error(found.message);
  let target;
  if (container) {
    const r = await m.targets.resolveTargets({ containers: [container], labels: [], pids: [], runtime: 'podman' }, { env: process.env });
    if (!r.ok) throw new Error(r.message);
    const tf = m.run.buildTargetFacts(r.targets, descs, false);
    if (!tf.ok) throw new Error(tf.message);
    target = tf.facts;
  }
  const g = m.gather.gatherFacts({
    bpftrace: m.run.bpftraceFacts(found.info),
    tracepoints: m.probes.tracepointsNeeded(descs),
    scriptArgs: args,
    scriptName: name,
    destructive: false,
    ...(target ? { target } : {}),
  });
  if (!g.ok) throw new Error(g.message);
  // As run.ts's binaryFacts(): Go binaries get their functions' RET offsets and parameters.
  const binaries = {};
  for (const [bin, fns] of m.probes.probeFunctions(descs, g.facts)) {
    const info = m.elf.binaryInfo(bin);
    if ('error' in info) continue;
    if (!info.go) {
      binaries[bin] = { go: null };
      continue;
    }
    const f = await m.go.goBinaryFacts(bin, [...fns.all], { decode: [...fns.returns] });
    binaries[bin] = 'error' in f ? { go: info.go } : f;
  }
  return { ...g.facts, binaries };
}

/** test/golden/cases.ts's facts, for a golden case (used when probes/ has no scripts). */
export async function goldenFacts(file, text) {
  const m = await modules();
  const tracepoints = JSON.parse(readFileSync(join(ROOT, 'test', 'golden', 'tracepoints.json'), 'utf8'));
  const d = new Map();
  for (const x of text.matchAll(/^\/\/@\s*(\w+)(?::\s*(.*))?$/gm)) d.set(x[1], (x[2] ?? '').trim());
  const GOLDEN_TARGET = { pid: 4242, exe: '/usr/bin/bash', paths: { '/usr/bin/bash': '/usr/bin/bash' }, modules: { 'libc.so.6': '/usr/lib/x86_64-linux-gnu/libc.so.6' } };
  const GO_EXE = '/proc/4242/root/app/frontend';
  const GO_TARGET = { pid: 4242, exe: GO_EXE, paths: {}, modules: {}, nspid: 1, pidnsLevel: 1, containers: [{ name: 'frontend', mntns: 4026532185 }] };
  const GO_BINARIES = {
    [GO_EXE]: {
      go: { version: 'go1.19.8', regabi: true, goidOffset: 152 },
      functions: {
        'main.handle': { returns: [320], tailCalls: 0, params: [{ name: 'n', goType: 'int', kind: 'int', reg: 0 }] },
        'main.vote': { returns: [181, 250], tailCalls: 1, params: [{ name: 'n', goType: 'int', kind: 'int', reg: 0 }, { name: 'name', goType: 'string', kind: 'string', reg: 1 }] },
      },
    },
  };
  const ref = m.facts.REFERENCE_FACTS;
  return {
    ...ref,
    bpftrace: d.get('bpftrace') === '0.17' ? { version: { major: 0, minor: 17, patch: 0 }, uprobeOffsets: false, kprobes: false, kfunc: false, btf: true } : ref.bpftrace,
    tracepoints,
    tracepointsComplete: true,
    scriptArgs: d.get('args')?.split(/\s+/) ?? [],
    scriptName: file,
    ...(d.get('target') === 'none' ? {} : { target: GOLDEN_TARGET }),
    ...(d.has('go') ? { target: GO_TARGET, binaries: GO_BINARIES } : {}),
    ...(d.has('containers') ? { target: { ...GO_TARGET, containers: [{ name: 'web', mntns: 4026532001 }, { name: 'api', mntns: 4026532002 }] } } : {}),
    _interval: d.get('interval') ? Number.parseInt(d.get('interval'), 10) * 1000 : null,
  };
}
