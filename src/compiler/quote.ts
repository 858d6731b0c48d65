// bpftrace's spelling of a function name in an attach point: quoted when it has characters
// its lexer would split on (Go's main.(*Server).handle, package paths with '/').

export function quoteFunc(name: string): string {
  return /^[A-Za-z0-9_.*?[\]!$-]+$/.test(name) ? name : `"${name.replace(/"/g, '\\"')}"`;
}
