// `trace` for the docs test (test/docs/examples.test.ts): runs the real CLI, bin/trace.js,
// in this process, after bounding how long the command can run:
//   - a run without -d/--duration gets `--duration 1s`; a longer one is cut to DOCS_CAP_S
//     (default 2 s). `trace check --run CMD` is bounded by CMD (wrk is capped the same way).
//   - `trace demo` runs with `--step 1s` and without `--keep` (the test has its own containers).
//   - `--emit`, `list`, `probes`, `helper`, `--help`, `--version` are left alone.
//   - `trace helper install` without --host (which installs on this machine) is refused
//     unless the shell runs inside a test host (DOCS_TEST_HOST, set on `hosts=N` pages), or
//     with --kube (which only prints a manifest).
const cap = Number(process.env.DOCS_CAP_S ?? '2');
const args = process.argv.slice(2);

function seconds(d) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(d);
  if (!m) return null;
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] ?? 's'];
}

/** Caps -d/--duration values in place; true when one was given. */
function capDurations(list) {
  let given = false;
  for (let i = 0; i < list.length; i++) {
    const a = list[i];
    if (a === '--') break;
    let value;
    let set;
    if (a === '-d' || a === '--duration') {
      value = list[i + 1];
      set = (v) => (list[i + 1] = v);
    } else if (/^--duration=/.test(a)) {
      value = a.slice('--duration='.length);
      set = (v) => (list[i] = `--duration=${v}`);
    } else if (/^-d\d/.test(a)) {
      value = a.slice(2);
      set = (v) => (list[i] = `-d${v}`);
    } else continue;
    given = true;
    const s = value === undefined ? null : seconds(value);
    if (s !== null && s > cap) set(`${cap}s`);
  }
  return given;
}

if (args[0] === 'helper' && args[1] === 'install' && !args.some((a) => a === '--host' || a.startsWith('--host=') || a === '--kube') && !process.env.DOCS_TEST_HOST) {
  process.stderr.write('docs test: `trace helper install` without --host would install on the test machine: run it on a page marked <!-- test: hosts=N --> (see docs/README.md)\n');
  process.exit(1);
}
const has = (...flags) => args.some((a) => flags.includes(a) || flags.some((f) => a.startsWith(`${f}=`)));
let out = args;
const first = args[0];
if (has('-h', '--help', '-V', '--version', '--emit')) {
  out = args;
} else if (first === 'demo') {
  out = ['demo', ...args.slice(1).filter((a) => a !== '--keep'), '--step', '1s'];
} else if (first === 'list' || first === 'probes' || first === 'repl' || first === 'helper') {
  out = args;
} else if (first === 'check') {
  const rest = args.slice(1);
  const given = capDurations(rest);
  out = ['check', ...(given || has('--run') ? [] : ['--duration', '1s']), ...rest];
} else if (first === 'run' || first === 'stat' || first === 'top' || first === 'tap') {
  const rest = args.slice(1);
  const given = capDurations(rest);
  out = [first, ...rest, ...(given ? [] : ['--duration', '1s'])];
} else {
  const given = capDurations(out);
  out = given ? out : ['--duration', '1s', ...out];
}
process.argv = [process.argv[0], new URL('../../bin/trace.js', import.meta.url).pathname, ...out];
await import('../../bin/trace.js');
