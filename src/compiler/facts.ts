// Facts about the machine and target: the compiler's only view of the world. The runner
// gathers them (bpftrace --info, tracefs formats, the container's PIDs and files); the
// compiler reads them and does no I/O, so the same program and facts give the same output.

export interface BpftraceFacts {
  readonly version: { readonly major: number; readonly minor: number; readonly patch: number };
  /** bpftrace can attach uprobes at an offset inside a function (0.23 built with bfd; not 0.17). */
  readonly uprobeOffsets: boolean;
  /** The kernel has kprobes (CONFIG_KPROBES); not this project's CI kernel. */
  readonly kprobes: boolean;
  /** fentry/fexit (kfunc) probes. */
  readonly kfunc: boolean;
  /** BTF is available (curtask->... typed access). */
  readonly btf: boolean;
}

/** The traced process or container, as the runner resolved it. */
export interface TargetFacts {
  /** Host PID of the target's main process ($target). */
  readonly pid: number;
  /** Host path of the main executable (e.g. /proc/1234/root/app/frontend). */
  readonly exe: string;
  /** Container-visible path -> host path, for binaries and libraries the program names. */
  readonly paths: Readonly<Record<string, string>>;
  /** Shared-object basename (libc.so.6) -> host path, for pid provider module names. */
  readonly modules: Readonly<Record<string, string>>;
  /** The main process's PID as the container sees it ($target in container view). */
  readonly nspid?: number;
  /** Depth of the target's PID namespace (0: the host's). */
  readonly pidnsLevel?: number;
  /**
   * Traced containers, by mount namespace: every probe but BEGIN/END/interval is filtered to
   * them in BPF (cgroup ids are shared by all containers under cgroup v1), and the
   * `container` builtin names them.
   */
  readonly containers?: readonly { readonly name: string; readonly mntns: number }[];
  /** Traced plain processes (-p): probes are filtered to these host PIDs. */
  readonly pids?: readonly number[];
  /** --host-pids: pid/tid/$target show host PIDs instead of the container's. */
  readonly hostPids?: boolean;
}

export interface GoParam {
  readonly name: string;
  /** Go type as written ('int', 'string', '*main.Server', ...). */
  readonly goType: string;
  /** How it is read: one integer register, a (pointer, length) pair, or not supported. */
  readonly kind: 'int' | 'uint' | 'bool' | 'pointer' | 'string' | 'other';
  /** Index of its first integer register in Go's ABI order (AX=0, BX=1, CX=2, DI, SI, R8-R11); -1 if on the stack. */
  readonly reg: number;
}

export interface GoFunctionFacts {
  /** Offsets from the function's start of every RET instruction (decoded, not byte-searched). */
  readonly returns: readonly number[];
  /** jmp instructions that leave the function (tail calls): returns through them are not seen. */
  readonly tailCalls: number;
  /**
   * Offset just past Go's stack-check prologue. Its slow path jumps back to the function's
   * start after growing the stack, so an entry probe there would fire twice for that call.
   */
  readonly entry?: number;
  /** Parameters from DWARF, in order, where the binary has DWARF. */
  readonly params?: readonly GoParam[];
}

/** Where one piece of a variable is at a PC: a register (bpftrace's name) or memory at RSP+sp. */
export type VarPlace = { readonly reg: string } | { readonly sp: number };

/** A parameter or local variable in scope at a source line's address, from DWARF. */
export interface LineVar {
  readonly name: string;
  /** Go type as written ('int', 'string', '*main.Server', ...). */
  readonly goType: string;
  readonly kind: 'int' | 'uint' | 'bool' | 'pointer' | 'string' | 'other';
  /** Bytes of an int, uint, bool or pointer (1, 2, 4 or 8). */
  readonly size: number;
  /** A parameter (args.NAME) rather than a local (locals.NAME). */
  readonly param: boolean;
  /** Its pieces there, in order (a string: pointer, then length); null when it cannot be read there. */
  readonly pieces: readonly VarPlace[] | null;
  /** Why it cannot be read, when `pieces` is null. */
  readonly why?: string;
}

/** One copy of a source line's code: in a function, or inlined into one. */
export interface LineSite {
  /** The function symbol holding the code, and the offset of the line's first statement in it. */
  readonly func: string;
  readonly offset: number;
  /** The function whose line this is, when its code was inlined into `func`. */
  readonly inlinedFrom?: string;
  /** Parameters and locals in scope there. */
  readonly vars: readonly LineVar[];
}

/** What a source line (`main.go:75`, as written) is in a binary, from its DWARF line table. */
export type LineLookup =
  | { readonly kind: 'found'; readonly file: string; readonly line: number; readonly sites: readonly LineSite[] }
  /** No file of the binary ends with the name; `similar`: files of the same base name. */
  | { readonly kind: 'no-file'; readonly similar: readonly string[] }
  | { readonly kind: 'ambiguous'; readonly candidates: readonly string[] }
  /** The file has no statement on that line; `near`: the closest lines that have one. */
  | { readonly kind: 'no-code'; readonly file: string; readonly near: readonly number[] }
  /** The binary has no line table (stripped, or built without DWARF). */
  | { readonly kind: 'no-dwarf'; readonly why: string };

export interface BinaryFacts {
  /** Go toolchain facts, or null for a non-Go binary. */
  readonly go: {
    readonly version: string;
    readonly regabi: boolean;
    /** Offset of goid in runtime.g (from DWARF, or known per Go version); null if unknown. */
    readonly goidOffset?: number | null;
  } | null;
  /** Facts about the functions the program's probes name (exact names). */
  readonly functions?: Readonly<Record<string, GoFunctionFacts>>;
  /** The source lines the program's probes name ('main.go:75', as written). */
  readonly lines?: Readonly<Record<string, LineLookup>>;
}

export interface Facts {
  readonly bpftrace: BpftraceFacts;
  /**
   * Tracepoint argument names in order, excluding common_* fields and __syscall_nr,
   * keyed 'category:name' (e.g. 'syscalls:sys_enter_read' -> ['fd', 'buf', 'count']).
   * A tracepoint absent here is unknown when `tracepointsComplete` is true.
   */
  readonly tracepoints: Readonly<Record<string, readonly string[]>>;
  readonly tracepointsComplete: boolean;
  readonly target?: TargetFacts;
  /** Host path of a probed binary -> what it is (Go or not). */
  readonly binaries?: Readonly<Record<string, BinaryFacts>>;
  /** Script arguments $1..$9, as given on the command line. */
  readonly scriptArgs: readonly string[];
  /** Script name, for $0. */
  readonly scriptName: string;
  /** Allows destructive actions (system, raise) as DTrace's -w does. */
  readonly destructive: boolean;
  /** Wall clock minus the monotonic clock bpftrace's nsecs reads, in ns, for walltimestamp. */
  readonly wallclockOffsetNs: bigint;
  /**
   * Name of the host the program runs on, for the `host` builtin (a string constant in the
   * program). A fleet compiles one program per host, each with its own name, and merges
   * results keyed by it. The runner supplies the local hostname when the host is local.
   */
  readonly host?: string;
}

/** bpftrace 0.23 on a kernel without kprobes: the facts golden tests compile against. */
export const REFERENCE_FACTS: Facts = {
  bpftrace: { version: { major: 0, minor: 23, patch: 2 }, uprobeOffsets: true, kprobes: false, kfunc: false, btf: true },
  tracepoints: {},
  tracepointsComplete: false,
  scriptArgs: [],
  scriptName: 'script.d',
  destructive: false,
  wallclockOffsetNs: 0n,
};
