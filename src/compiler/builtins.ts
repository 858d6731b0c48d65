// The language's builtin variables and functions: their types, arities and what they are.
// Lowering to bpftrace is in lower.ts; this file is the single list the checker, the REPL's
// completion and the docs read.

export type Type = 'int' | 'string' | 'stack' | 'ptr' | 'void' | 'unknown';

export interface BuiltinVar {
  readonly type: Type;
  readonly doc: string;
}

export const BUILTIN_VARS: Readonly<Record<string, BuiltinVar>> = {
  timestamp: { type: 'int', doc: 'nanoseconds since boot (monotonic)' },
  walltimestamp: { type: 'int', doc: 'nanoseconds since the Unix epoch' },
  vtimestamp: { type: 'int', doc: "nanoseconds the current thread has run on CPU (scheduler's accounting)" },
  pid: { type: 'int', doc: 'process id' },
  tid: { type: 'int', doc: 'thread id' },
  ppid: { type: 'int', doc: 'parent process id' },
  uid: { type: 'int', doc: 'user id' },
  gid: { type: 'int', doc: 'group id' },
  execname: { type: 'string', doc: 'process name (comm)' },
  probeprov: { type: 'string', doc: "the probe's provider" },
  probemod: { type: 'string', doc: "the probe's module" },
  probefunc: { type: 'string', doc: "the probe's function" },
  probename: { type: 'string', doc: "the probe's name (entry, return, ...)" },
  cpu: { type: 'int', doc: 'current CPU' },
  arg0: { type: 'int', doc: 'first probe argument' },
  arg1: { type: 'int', doc: 'second probe argument' },
  arg2: { type: 'int', doc: 'third probe argument' },
  arg3: { type: 'int', doc: 'fourth probe argument' },
  arg4: { type: 'int', doc: 'fifth probe argument' },
  arg5: { type: 'int', doc: 'sixth probe argument' },
  arg6: { type: 'int', doc: 'seventh probe argument' },
  arg7: { type: 'int', doc: 'eighth probe argument' },
  arg8: { type: 'int', doc: 'ninth probe argument' },
  arg9: { type: 'int', doc: 'tenth probe argument' },
  args: { type: 'unknown', doc: 'typed probe arguments: args[N], args->name' },
  retval: { type: 'int', doc: 'return value, in return probes' },
  errno: { type: 'int', doc: 'error number of a failed system call (syscall return probes)' },
  stack: { type: 'stack', doc: 'kernel stack, as a key' },
  ustack: { type: 'stack', doc: 'user stack, as a key' },
  curthread: { type: 'ptr', doc: 'the current task_struct (BTF-typed)' },
  goid: { type: 'int', doc: 'the current goroutine id (Go probes)' },
  container: { type: 'string', doc: 'name of the traced container the event came from (-c)' },
  host: { type: 'string', doc: 'name of the host the program runs on (fixed when compiled: one program per host in a fleet), e.g. @[host, execname] = count()' },
  // bpftrace's own names, for users coming from bpftrace
  comm: { type: 'string', doc: 'process name (bpftrace name of execname)' },
  nsecs: { type: 'int', doc: 'nanoseconds since boot (bpftrace name of timestamp)' },
  elapsed: { type: 'int', doc: 'nanoseconds since the program started' },
  kstack: { type: 'stack', doc: 'kernel stack (bpftrace name of stack)' },
  curtask: { type: 'ptr', doc: 'the current task_struct (bpftrace name of curthread)' },
  func: { type: 'string', doc: 'function name (bpftrace name of probefunc)' },
  probe: { type: 'string', doc: 'full probe name' },
};

export type FunctionKind = 'aggregating' | 'action' | 'subroutine';

export interface BuiltinFunction {
  readonly kind: FunctionKind;
  readonly min: number;
  /** Maximum arity; Infinity for variadic. */
  readonly max: number;
  readonly returns: Type;
  /** Needs `#pragma D option destructive` (or -w), as in DTrace. */
  readonly destructive?: boolean;
  readonly signature: string;
  readonly doc: string;
}

const agg = (min: number, max: number, signature: string, doc: string): BuiltinFunction => ({
  kind: 'aggregating', min, max, returns: 'void', signature, doc,
});
const action = (min: number, max: number, signature: string, doc: string, destructive = false): BuiltinFunction => ({
  kind: 'action', min, max, returns: 'void', signature, doc, ...(destructive ? { destructive } : {}),
});
const subr = (min: number, max: number, returns: Type, signature: string, doc: string): BuiltinFunction => ({
  kind: 'subroutine', min, max, returns, signature, doc,
});

export const FUNCTIONS: Readonly<Record<string, BuiltinFunction>> = {
  // aggregating functions
  count: agg(0, 0, 'count()', 'number of times called'),
  sum: agg(1, 1, 'sum(value)', 'total of the values'),
  avg: agg(1, 1, 'avg(value)', 'arithmetic mean of the values'),
  min: agg(1, 1, 'min(value)', 'smallest value'),
  max: agg(1, 1, 'max(value)', 'largest value'),
  stddev: agg(1, 1, 'stddev(value)', 'standard deviation of the values'),
  quantize: agg(1, 1, 'quantize(value)', 'power-of-two frequency distribution'),
  lquantize: agg(3, 4, 'lquantize(value, lower, upper[, step])', 'linear frequency distribution'),
  llquantize: agg(5, 5, 'llquantize(value, factor, low, high, steps)', 'log-linear frequency distribution'),
  latency: agg(1, 1, 'latency(value)', 'log-linear histogram (32 sub-buckets per power of two, error under 3.2%) with percentiles'),
  hist: agg(1, 1, 'hist(value)', 'bpftrace name of quantize'),
  lhist: agg(4, 4, 'lhist(value, min, max, step)', 'bpftrace name of lquantize'),
  // actions
  printf: action(1, Infinity, 'printf(format, ...)', 'formatted output'),
  printa: action(1, Infinity, 'printa([format,] @agg...)', 'print aggregations now'),
  trace: action(1, 1, 'trace(value)', 'print a value'),
  print: action(1, 1, 'print(value)', 'print a value'),
  trunc: action(1, 2, 'trunc(@agg[, n])', 'remove all entries, or keep the n largest'),
  clear: action(1, 1, 'clear(@agg)', 'reset the values, keep the keys'),
  normalize: action(2, 2, 'normalize(@agg, n)', 'divide shown values by n'),
  denormalize: action(1, 1, 'denormalize(@agg)', 'undo normalize'),
  exit: action(0, 1, 'exit([status])', 'end the program'),
  system: action(1, Infinity, 'system(format, ...)', 'run a command (destructive)', true),
  raise: action(1, 1, 'raise(signal)', 'send a signal to the current process (destructive)', true),
  delete: action(1, 1, 'delete(@map[key])', 'remove an entry of a map or associative array'),
  zero: action(1, 1, 'zero(@agg)', 'bpftrace name of clear'),
  // subroutines
  copyinstr: subr(1, 2, 'string', 'copyinstr(addr[, len])', 'read a NUL-terminated string from user memory'),
  stringof: subr(1, 1, 'string', 'stringof(value)', 'the value as a string'),
  str: subr(1, 2, 'string', 'str(addr[, len])', 'read a string (bpftrace name of copyinstr)'),
  strcontains: subr(2, 2, 'int', 'strcontains(haystack, needle)', '1 when needle occurs in haystack'),
  strncmp: subr(3, 3, 'int', 'strncmp(a, b, n)', 'compare the first n characters'),
  basename: subr(1, 1, 'string', 'basename(path)', 'not available: bpftrace has no string slicing'),
  strlen: subr(1, 1, 'int', 'strlen(s)', 'not available: bpftrace has no strlen'),
  strjoin: subr(2, 2, 'string', 'strjoin(a, b)', 'not available: bpftrace has no string concatenation'),
  ksym: subr(1, 1, 'string', 'ksym(addr)', 'kernel symbol name of an address'),
  gostr: subr(2, 2, 'string', 'gostr(ptr, len)', 'a Go string from its pointer and length (two argument registers)'),
  usym: subr(1, 1, 'string', 'usym(addr)', 'user symbol name of an address'),
  ntop: subr(1, 2, 'string', 'ntop([af,] addr)', 'an IPv4/IPv6 address as text'),
  kstack: subr(0, 1, 'stack', 'kstack([depth])', 'kernel stack'),
  stack: subr(0, 1, 'stack', 'stack([depth])', 'kernel stack: a key, or printed as a statement'),
  ustack: subr(0, 2, 'stack', 'ustack([depth])', 'user stack: a key, or printed as a statement'),
};

/** Subroutines the language names but bpftrace cannot do: a clear error, with a hint. */
export const UNAVAILABLE: Readonly<Record<string, string>> = {
  strlen: 'compare with strncmp or strcontains, or print the string and measure it outside',
  strjoin: 'print the parts side by side with printf("%s%s", a, b)',
  basename: 'key by the whole path',
};

/** bpftrace names of aggregating functions -> the language's. */
export const AGG_ALIASES: Readonly<Record<string, string>> = { hist: 'quantize', lhist: 'lquantize' };

export const AGG_FUNCS = Object.keys(FUNCTIONS).filter((k) => FUNCTIONS[k]!.kind === 'aggregating');

/** D integer type names -> bpftrace cast types. */
export const INT_TYPES: Readonly<Record<string, string>> = {
  char: 'int8', 'signed char': 'int8', 'unsigned char': 'uint8',
  short: 'int16', 'unsigned short': 'uint16',
  int: 'int32', signed: 'int32', 'signed int': 'int32', unsigned: 'uint32', 'unsigned int': 'uint32', uint: 'uint32',
  long: 'int64', 'long long': 'int64', 'unsigned long': 'uint64', 'unsigned long long': 'uint64',
  int8_t: 'int8', int16_t: 'int16', int32_t: 'int32', int64_t: 'int64',
  uint8_t: 'uint8', uint16_t: 'uint16', uint32_t: 'uint32', uint64_t: 'uint64',
  size_t: 'uint64', ssize_t: 'int64', uintptr_t: 'uint64', bool: 'uint8',
};

export const TIME_UNIT_NS: Readonly<Record<string, bigint>> = {
  ns: 1n, us: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n,
};

/** D options we act on or knowingly accept (DTrace buffer tunables have no bpftrace meaning). */
export const KNOWN_OPTIONS = [
  'quiet', 'destructive', 'aggrate', 'switchrate', 'bufsize', 'aggsize', 'dynvarsize', 'strsize',
  'aggsortkey', 'aggsortrev', 'aggsortpos', 'aggsortkeypos', 'cleanrate', 'nspec', 'specsize',
  'statusrate', 'flowindent', 'stackframes', 'ustackframes', 'rawbytes', 'zdefs', 'defaultargs',
];
