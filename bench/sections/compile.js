// 1. Compile time: each probes/*.d script (or, while probes/ has none, the golden cases that
// compile), and a generated 200-clause program, in-process (dist/compiler/compile.js, warmed
// up) and as a whole `trace --emit bpftrace` process.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compiler, goldenFacts, realFacts } from '../lib/facts.js';
import { BPFTRACE, ROOT, timeToExit, traceCmd } from '../lib/proc.js';
import { pairRatios, summary } from '../lib/stats.js';

/** Syscalls used by the generated program (those this kernel lacks are skipped). */
const SYSCALLS = [
  'read', 'write', 'openat', 'close', 'fstat', 'lseek', 'mmap', 'mprotect', 'munmap', 'brk', 'rt_sigaction', 'rt_sigprocmask',
  'ioctl', 'pread64', 'pwrite64', 'readv', 'writev', 'access', 'pipe2', 'sched_yield', 'mremap', 'msync', 'madvise', 'dup',
  'dup3', 'nanosleep', 'getpid', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'shutdown', 'bind', 'listen', 'getsockname',
  'socket', 'connect', 'accept4', 'clone', 'execve', 'exit_group', 'wait4', 'kill', 'uname', 'fcntl', 'flock', 'fsync',
  'getdents64', 'getcwd', 'chdir', 'rename', 'mkdir', 'rmdir', 'unlink', 'readlink', 'chmod', 'fchmod', 'umask',
  'gettimeofday', 'getrlimit', 'getuid', 'getgid', 'futex', 'epoll_wait', 'epoll_ctl', 'epoll_pwait', 'clock_gettime',
  'clock_nanosleep', 'tgkill', 'newfstatat', 'statx', 'getrandom', 'memfd_create', 'eventfd2', 'prlimit64', 'set_robust_list',
];

/** A 200-clause program mixing syscalls, Go entry/return latency, timers and printf. */
export function generatedProgram(clauses, { go = true } = {}) {
  const sc = SYSCALLS.filter((s) => existsSync(`/sys/kernel/tracing/events/syscalls/sys_enter_${s}`));
  const out = [];
  for (let i = 0; out.length < clauses; i++) {
    const s = sc[i % sc.length];
    switch (i % 6) {
      case 0:
        out.push(`syscall::${s}:entry /pid != 0/ { @c${i}[execname] = count(); }`);
        break;
      case 1:
        out.push(`syscall::${s}:return /errno != 0/ { @e${i}[probefunc, errno] = count(); }`);
        break;
      case 2:
        out.push(`tracepoint:syscalls:sys_exit_${s} { @q${i} = quantize(args->ret); }`);
        break;
      case 3:
        if (go && out.length + 2 <= clauses) {
          out.push(`pid$target::main.handle:entry { self->t${i} = timestamp; }`);
          out.push(`pid$target::main.handle:return /self->t${i}/ { @lat${i} = latency(timestamp - self->t${i}); self->t${i} = 0; }`);
        } else out.push(`syscall::${s}:entry { @s${i} = sum(arg0); }`);
        break;
      case 4:
        out.push(`profile-99 /cpu == ${i % 2}/ { @p${i}[cpu] = count(); }`);
        break;
      default:
        out.push(`tick-1s { printf("clause ${i}: %d\\n", ${i}); }`);
    }
  }
  return out.join('\n') + '\n';
}

/** Script arguments a probe script documents (`//@ args: ...` or a `usage: trace ... x.d ARGS` comment). */
function documentedArgs(file, text) {
  const d = /^\/\/@\s*args:\s*(.*)$/m.exec(text);
  if (d) return [d[1].trim().split(/\s+/)];
  const base = file.replace(/^.*\//, '');
  const u = new RegExp(`(?:usage|example)s?:?.*?\\b${base.replace(/[.]/g, '\\.')}\\s+([^\\n]*)`, 'i').exec(text);
  const found = u ? [u[1].replace(/\s*(#|\/\/|\*\/).*$/, '').trim().split(/\s+/).filter((a) => a && !/^[<[]/.test(a))] : [];
  return [...found, [], ['main.handle'], ['main.handle', '10'], ['10']];
}

/**
 * Times `fn` in-process: `warmup` calls, then `rounds` rounds of ~budgetMs each; each round's
 * mean per call is one sample. Rounds of several functions are interleaved by the caller.
 */
function timeRound(fn, budgetMs) {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  do {
    fn();
    n++;
    t = performance.now();
  } while (t - t0 < budgetMs || n < 3);
  return { ms: (t - t0) / n, n };
}

export async function compileSection(ctx) {
  const { quick, demo, log } = ctx;
  const { compile, Source } = await compiler();
  const rows = [];
  const raw = {};
  const rounds = quick ? 3 : 7;
  const budget = quick ? 80 : 250;
  const warmup = quick ? 10 : 40;
  const procRuns = quick ? 2 : 3;

  // --- the scripts: probes/*.d, else the golden cases that compile --------------------------
  const probesDir = process.env.BENCH_PROBES_DIR ?? join(ROOT, 'probes');
  const probeFiles = existsSync(probesDir) ? readdirSync(probesDir).filter((f) => f.endsWith('.d')).sort() : [];
  const scripts = [];
  const skipped = [];
  if (probeFiles.length) {
    for (const f of probeFiles) {
      const path = join(probesDir, f);
      const text = readFileSync(path, 'utf8');
      let ok = null;
      let why = '';
      // Compiled against the demo's containers, as `trace -c NAME probes/x.d ARGS` would.
      outer: for (const args of documentedArgs(path, text)) {
        for (const container of [demo.frontend, demo.demo.containers.emoji.name, demo.demo.containers.voting.name, undefined]) {
          try {
            const facts = await realFacts(text, { name: `probes/${f}`, container, bpftrace: BPFTRACE, args });
            const r = compile(new Source(`probes/${f}`, text), facts);
            if (r.program) {
              ok = { facts, args, container };
              break outer;
            }
            why ||= r.diagnostics.find((d) => d.severity === 'error')?.message ?? 'no program';
          } catch (e) {
            why ||= e.message;
          }
        }
      }
      if (ok) scripts.push({ name: `probes/${f}`, path, text, ...ok });
      else skipped.push({ name: `probes/${f}`, why });
    }
  } else {
    const dir = join(ROOT, 'test', 'golden', 'cases');
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.d') && !x.startsWith('e')).sort()) {
      const text = readFileSync(join(dir, f), 'utf8');
      const facts = await goldenFacts(f, text);
      const r = compile(new Source(f, text), facts, { intervalMs: facts._interval });
      if (r.program) scripts.push({ name: `golden/${f}`, path: join(dir, f), text, facts, args: facts.scriptArgs, container: undefined, golden: true });
      else skipped.push({ name: `golden/${f}`, why: r.diagnostics[0]?.message ?? 'no program' });
    }
  }
  for (const s of skipped) log(`  compile: skipped ${s.name}: ${s.why}`);
  // In-process: interleave the scripts round by round.
  const perScript = scripts.map((s) => ({ s, samples: [], clauses: 0, n: 0 }));
  for (const p of perScript) {
    const src = new Source(p.s.name, p.s.text);
    const opts = p.s.facts._interval ? { intervalMs: p.s.facts._interval } : {};
    p.fn = () => compile(src, p.s.facts, opts);
    for (let i = 0; i < warmup; i++) p.fn();
    p.clauses = p.fn().ast.items.filter((i) => i.kind === 'Clause').length;
  }
  const perScriptBudget = scripts.length > 12 ? Math.max(15, budget / 4) : budget;
  for (let r = 0; r < rounds; r++) {
    for (const p of perScript) {
      const t = timeRound(p.fn, perScriptBudget);
      p.samples.push(t.ms);
      p.n += t.n;
    }
  }
  raw.scripts = perScript.map((p) => ({ name: p.s.name, clauses: p.clauses, args: p.s.args, container: p.s.container ?? null, msPerCompile: p.samples, iterations: p.n }));
  raw.skipped = skipped;

  for (const s of skipped.filter((x) => x.name.startsWith('probes/'))) rows.push({ id: '1', name: `compile ${s.name}`, text: `not measured: does not compile against the demo (${s.why.slice(0, 120)})` });
  if (perScript.length && !perScript[0].s.golden) {
    for (const p of perScript) {
      const s = summary(p.samples);
      rows.push({ id: '1', name: `compile ${p.s.name} (${p.clauses} clause${p.clauses === 1 ? '' : 's'}), in-process`, value: s, unit: 'ms', extra: `${(s.median / Math.max(1, p.clauses)).toFixed(3)} ms/clause` });
    }
  } else if (perScript.length) {
    const med = perScript.map((p) => summary(p.samples).median);
    const perClause = perScript.map((p) => summary(p.samples).median / Math.max(1, p.clauses));
    rows.push({
      id: '1',
      name: `compile, in-process: ${perScript.length} golden cases (probes/ has no scripts yet); median case, range over cases`,
      value: summary(med),
      unit: 'ms',
      extra: `${summary(perClause).median.toFixed(3)} ms/clause`,
    });
  }

  // --- the generated 200-clause program vs a 1-clause one, interleaved -----------------------
  const big = generatedProgram(200);
  const one = 'syscall::read:entry /pid != 0/ { @c[execname] = count(); }\n';
  const bigFacts = await realFacts(big, { name: 'gen200.d', container: demo.frontend, bpftrace: BPFTRACE });
  const oneFacts = await realFacts(one, { name: 'one.d', container: demo.frontend, bpftrace: BPFTRACE });
  const bigSrc = new Source('gen200.d', big);
  const oneSrc = new Source('one.d', one);
  const check = compile(bigSrc, bigFacts);
  if (!check.program) throw new Error(`the generated 200-clause program does not compile: ${check.diagnostics.map((d) => d.message).slice(0, 3).join('; ')}`);
  const bigClauses = check.ast.items.filter((i) => i.kind === 'Clause').length;
  for (let i = 0; i < warmup; i++) {
    compile(bigSrc, bigFacts);
    compile(oneSrc, oneFacts);
  }
  const bigMs = [];
  const oneMs = [];
  for (let r = 0; r < rounds; r++) {
    bigMs.push(timeRound(() => compile(bigSrc, bigFacts), budget * 2).ms);
    oneMs.push(timeRound(() => compile(oneSrc, oneFacts), budget).ms);
  }
  const bigPerClause = bigMs.map((x) => x / bigClauses);
  raw.generated = { clauses: bigClauses, bytes: big.length, outBytes: check.program.text.length, msPerCompile: bigMs, oneClauseMs: oneMs };
  rows.push({ id: '1', name: `compile generated ${bigClauses}-clause program, in-process`, value: summary(bigMs), unit: 'ms', extra: `${summary(bigPerClause).median.toFixed(3)} ms/clause` });
  rows.push({ id: '1', name: 'compile a 1-clause program, in-process', value: summary(oneMs), unit: 'ms' });
  rows.push({
    id: '1',
    name: `per-clause cost: ${bigClauses}-clause program / 1-clause program`,
    ratio: summary(pairRatios(bigPerClause, oneMs)),
    note: 'below 1: fixed costs amortised; above 1: superlinear',
  });

  // --- whole process: trace --emit bpftrace -------------------------------------------------
  const genFile = join(ctx.tmp, 'gen200.d');
  writeFileSync(genFile, big);
  const emitTargets = [
    { name: `generated ${bigClauses}-clause program (-c frontend)`, args: ['-c', demo.frontend, genFile] },
    { name: '1-clause one-liner (no target)', args: [one.trim()] },
  ];
  const procScripts = perScript.filter((p) => !p.s.golden).slice(0, quick ? 2 : 100);
  for (const p of procScripts) emitTargets.push({ name: p.s.name + (p.s.container ? ' (-c)' : ''), args: [...(p.s.container ? ['-c', p.s.container] : []), p.s.path, ...p.s.args] });
  if (!procScripts.length) {
    // Golden cases compile against synthetic targets; emit those that need none.
    for (const p of perScript.filter((x) => !/target|pid\$|uprobe|usdt|\$1/.test(x.s.text)).slice(0, 2)) {
      emitTargets.push({ name: `${p.s.name} (no target)`, args: [p.s.path, ...p.s.args], optional: true });
    }
  }
  raw.emit = [];
  const samples = emitTargets.map(() => []);
  for (let r = 0; r < procRuns; r++) {
    for (const [i, t] of emitTargets.entries()) {
      const [cmd, args] = traceCmd(['--emit', 'bpftrace', ...t.args]);
      try {
        samples[i].push(await timeToExit(cmd, args));
      } catch (e) {
        if (!t.optional) throw e;
        t.failed = e.message.split('\n')[0];
      }
    }
  }
  for (const [i, t] of emitTargets.entries()) {
    raw.emit.push({ name: t.name, ms: samples[i], failed: t.failed ?? null });
    if (samples[i].length) rows.push({ id: '1', name: `trace --emit bpftrace, whole process: ${t.name}`, value: summary(samples[i]), unit: 'ms' });
  }
  return { rows, raw };
}
