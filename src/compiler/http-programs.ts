// The D programs behind `trace stat`, `trace top` and `trace tap`: Go net/http (HTTP/1.x)
// servers, generated from options rather than copied from probes/http-*.d, whose facts they
// share. A request is timed from net/http.serverHandler.ServeHTTP's entry to its return (RET
// sites: Go cannot take uretprobes), per goroutine; its status is the first
// net/http.(*response).WriteHeader's (200 when the handler never set one); the method and path
// come from the *http.Request (Method at offset 0, URL at 16, RemoteAddr at 176; url.URL's
// Path at 56: unchanged for many Go releases).
//
// Probes without a binary attach to the target's main executable, so one program serves one
// binary: the command runs one per binary, keyed by container. Filters are predicates, so
// requests that do not match never leave the kernel.

export type StatKeys = 'container' | 'path';

/** Separates a tap line's fields; the path comes last, so a path holding it still parses. */
export const TAP_SEPARATOR = '\x1f';

export interface TapFilter {
  /** Path prefix, e.g. /vote. */
  readonly path?: string;
  /** An exact status (404), or a class (5xx). */
  readonly status?: string;
  /** An exact method (GET). */
  readonly method?: string;
}

const ENTRY = 'uprobe:"net/http.serverHandler.ServeHTTP"';
const RETURN = 'uretprobe:"net/http.serverHandler.ServeHTTP"';
const HEADER = 'uprobe:"net/http.(*response).WriteHeader"';

const COMMON = [
  '#pragma D option quiet',
  `${ENTRY} { self->ts = timestamp; self->req = args.req; }`,
  `${HEADER} /self->ts && !self->status/ { self->status = arg1; }`,
];

/** Statements of the return clause that name the request's status, method and path. */
const DECODE = [
  // (via this->: bpftrace gets `@m[k] ? @m[k] : 200` wrong, always 200)
  'this->status = self->status;',
  'this->status = this->status ? this->status : 200;',
  'this->url = *(uint64_t *)(self->req + 16);',
  'this->method = gostr(*(uint64_t *)self->req, *(uint64_t *)(self->req + 8));',
  'this->path = gostr(*(uint64_t *)(this->url + 56), *(uint64_t *)(this->url + 64));',
];

const CLEAR = ['self->ts = 0;', 'self->req = 0;', 'self->status = 0;'];

function clause(probe: string, predicate: string, body: readonly string[]): string {
  return `${probe}\n${predicate ? `/${predicate}/\n` : ''}{\n${body.map((s) => `\t${s}`).join('\n')}\n}`;
}

/**
 * @requests, @failures (status >= 500) and @latency (ns), keyed by container, or by
 * container, method and path. By container also @connections: TCP connections accepted
 * (accept4, in the server's own context, so the container filter applies). Cumulative: the
 * command takes differences between snapshots.
 */
export function httpStatProgram(keys: StatKeys): string {
  const k = keys === 'container' ? 'container' : 'container, this->method, this->path';
  const decode = keys === 'container' ? DECODE.slice(0, 2) : DECODE;
  return [
    ...COMMON,
    ...(keys === 'container' ? ['tracepoint:syscalls:sys_exit_accept4 /args.ret >= 0/ { @connections[container] = count(); }'] : []),
    clause(RETURN, 'self->ts', [
      ...decode,
      `@requests[${k}] = count();`,
      `@failures[${k}] = sum(this->status >= 500 ? 1 : 0);`,
      `@latency[${k}] = latency(timestamp - self->ts);`,
      ...CLEAR,
    ]),
  ].join('\n') + '\n';
}

/** Why a filter cannot be used (one sentence), or null. Its values go into D source text. */
export function tapFilterProblem(f: TapFilter): string | null {
  if (f.path !== undefined && !/^\/[A-Za-z0-9/._~%!$&'()*+,;=:@-]*$/.test(f.path)) return `bad --path '${f.path}': give a URL path starting with /, like /vote`;
  if (f.status !== undefined && !/^[1-5](\d\d|xx)$/i.test(f.status)) return `bad --status '${f.status}': give a status (404) or a class (5xx)`;
  if (f.method !== undefined && !/^[A-Za-z]{1,16}$/.test(f.method)) return `bad --method '${f.method}': give an HTTP method, like GET`;
  return null;
}

/** The BPF predicate for a (valid) filter, over the DECODE statements' names; '' for none. */
export function tapPredicate(f: TapFilter): string {
  const parts: string[] = [];
  if (f.status !== undefined) {
    const s = f.status.toLowerCase();
    if (s.endsWith('xx')) {
      const lo = Number(s[0]) * 100;
      parts.push(`this->status >= ${lo} && this->status <= ${lo + 99}`);
    } else parts.push(`this->status == ${Number(s)}`);
  }
  if (f.method !== undefined) parts.push(`this->method == "${f.method.toUpperCase()}"`);
  if (f.path !== undefined) parts.push(`strncmp(this->path, "${f.path}", ${f.path.length}) == 0`);
  return parts.join(' && ');
}

/**
 * One printf per request that passes the filter: wall-clock ns, container, client address,
 * method, status, latency ns and path, TAP_SEPARATOR between them. The filter is an `if` in the return
 * clause (the request must be decoded before it can be tested), so only matching requests
 * reach user space.
 */
export function httpTapProgram(f: TapFilter): string {
  const pred = tapPredicate(f);
  const sep = '\\x1f';
  const client = 'gostr(*(uint64_t *)(self->req + 176), *(uint64_t *)(self->req + 184))';
  const print = `printf("%d${sep}%s${sep}%s${sep}%s${sep}%d${sep}%d${sep}%s\\n", walltimestamp, container, ${client}, this->method, this->status, timestamp - self->ts, this->path);`;
  return [
    ...COMMON,
    clause(RETURN, 'self->ts', [...DECODE, ...(pred ? [`if (${pred}) {`, `\t${print}`, '}'] : [print]), ...CLEAR]),
  ].join('\n') + '\n';
}
