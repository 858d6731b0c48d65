// Parses `bpftrace --info`. 0.17 prints one `key: value` per line; 0.23 prints two columns
// per line ("probe_read: yes                  probe_read_str: yes"). Pure: the file-system
// check for kprobes is passed in.

export interface BpftraceVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

export interface BpftraceFeatures {
  /** uprobe:bin:func+OFFSET and address probes (needs bfd; 0.17 here: no, 0.23: yes). */
  readonly uprobeOffsets: boolean;
  readonly btf: boolean;
  /** kfunc/fentry probes (`kfunc` in 0.17's --info, `fentry` in 0.23's). */
  readonly kfunc: boolean;
  /** kprobe PMU present in the kernel; --info claims `kprobe: yes` regardless. */
  readonly kprobes: boolean;
  readonly kprobeMulti: boolean;
  readonly uprobeMulti: boolean;
  readonly ringbuf: boolean;
  /** DWARF for uprobe arguments (libdw in 0.17, liblldb in 0.23). */
  readonly dwarf: boolean;
  readonly getFuncIp: boolean;
  readonly sendSignal: boolean;
  readonly overrideReturn: boolean;
  /** `args.x` (0.20+; args became a struct in 0.19) or `args->x` (older; 0.23 accepts both). */
  readonly argsSyntax: 'dot' | 'arrow';
  /**
   * `-f json` escapes string map keys twice (seen in 0.23.2, not in 0.17.0; assumed from 0.22,
   * when bpftrace's output code was rewritten).
   */
  readonly jsonKeysDoubleEscaped: boolean;
}

export interface ParsedInfo {
  readonly version: BpftraceVersion | null;
  /** Every `key: value` pair, keys lower-cased without their parenthesised notes. */
  readonly values: ReadonlyMap<string, string>;
}

export function parseVersion(text: string): BpftraceVersion | null {
  const m = /\bv?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0) };
}

export function parseInfo(text: string): ParsedInfo {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    // Columns are separated by runs of 2+ spaces; a key never contains two spaces.
    for (const cell of line.trim().split(/\s{2,}/)) {
      const i = cell.lastIndexOf(': ');
      const j = cell.endsWith(':') ? -1 : i;
      if (j <= 0) continue;
      const key = cell
        .slice(0, j)
        .replace(/\s*\(.*\)\s*$/, '')
        .trim()
        .toLowerCase();
      const value = cell.slice(j + 2).trim();
      if (key && !values.has(key)) values.set(key, value);
    }
  }
  const v = values.get('version');
  return { version: v ? parseVersion(v) : null, values };
}

export function atLeast(v: BpftraceVersion, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

export function featuresOf(info: ParsedInfo, version: BpftraceVersion, kprobePmu: boolean): BpftraceFeatures {
  const yes = (...keys: string[]) => keys.some((k) => info.values.get(k) === 'yes');
  return {
    uprobeOffsets: yes('bfd'),
    btf: yes('btf'),
    kfunc: yes('fentry', 'kfunc'),
    kprobes: kprobePmu,
    kprobeMulti: kprobePmu && yes('kprobe_multi'),
    uprobeMulti: yes('uprobe_multi'),
    ringbuf: yes('ringbuf'),
    dwarf: yes('libdw', 'liblldb'),
    getFuncIp: yes('get_func_ip'),
    sendSignal: yes('send_signal'),
    overrideReturn: yes('override_return'),
    argsSyntax: atLeast(version, 0, 20) ? 'dot' : 'arrow',
    jsonKeysDoubleEscaped: atLeast(version, 0, 22),
  };
}
