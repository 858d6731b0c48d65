// The generated programs of trace stat/top/tap: they compile against a Go net/http binary's
// facts, key what the commands read, and turn tap's filters into BPF predicates.

import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compiler/compile.js';
import { REFERENCE_FACTS, type Facts } from '../../src/compiler/facts.js';
import { httpStatProgram, httpTapProgram, tapFilterProblem, tapPredicate } from '../../src/compiler/http-programs.js';
import { Source } from '../../src/lang/source.js';
import { GO_EXE, GO_TARGET } from '../golden/cases.js';

/** A net/http server's facts as the runner reads them (Go 1.19, register ABI). */
const FACTS: Facts = {
  ...REFERENCE_FACTS,
  target: GO_TARGET,
  binaries: {
    [GO_EXE]: {
      go: { version: 'go1.19.8', regabi: true, goidOffset: 152 },
      functions: {
        'net/http.serverHandler.ServeHTTP': {
          returns: [825, 866],
          tailCalls: 0,
          entry: 15,
          params: [
            { name: 'sh', goType: 'net/http.serverHandler', kind: 'pointer', reg: 0 },
            { name: 'rw', goType: 'net/http.ResponseWriter', kind: 'other', reg: 1 },
            { name: 'req', goType: '*net/http.Request', kind: 'pointer', reg: 3 },
          ],
        },
        'net/http.(*response).WriteHeader': { returns: [400], tailCalls: 0, entry: 18, params: [] },
      },
    },
  },
};

function compiled(text: string): string {
  const r = compile(new Source('<gen>', text), FACTS, { intervalMs: 1000, quiet: true });
  expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([]);
  return r.program!.text;
}

describe('httpStatProgram', () => {
  it('counts requests, failures and latency by container, with return probes on the RET sites', () => {
    const bt = compiled(httpStatProgram('container'));
    expect(bt).toContain(`uprobe:${GO_EXE}:"net/http.serverHandler.ServeHTTP"+825`);
    expect(bt).toContain(`uprobe:${GO_EXE}:"net/http.serverHandler.ServeHTTP"+866`);
    expect(bt).not.toMatch(/uretprobe/);
    expect(bt).toMatch(/@requests\["frontend"\] = count\(\)/);
    expect(bt).toMatch(/@failures\["frontend"\] = sum\(\$this_status >= 500 \? 1 : 0\)/);
    expect(bt).toMatch(/@latency\["frontend", /);
    // The container key needs no method or path: the request is not read.
    expect(bt).not.toContain('+ 56');
    expect(bt).toMatch(/interval:s:1/);
    // New TCP connections: accept4 in the server's own context, filtered to the container.
    expect(bt).toMatch(/tracepoint:syscalls:sys_exit_accept4\n\/\(.*mnt_ns.*\) && \(args.ret >= 0\)\/\n\{\n\s*@connections\["frontend"\] = count\(\);/);
  });

  it('by path: keyed by container, method and path', () => {
    const bt = compiled(httpStatProgram('path'));
    expect(bt).toMatch(/@requests\["frontend", \$this_method, \$this_path\] = count\(\)/);
    expect(bt).toContain('+ 56');
    expect(bt).not.toContain('accept4');
  });
});

describe('tap filters', () => {
  it('status classes, exact statuses, methods and path prefixes become one predicate', () => {
    expect(tapPredicate({})).toBe('');
    expect(tapPredicate({ status: '5xx' })).toBe('this->status >= 500 && this->status <= 599');
    expect(tapPredicate({ status: '404' })).toBe('this->status == 404');
    expect(tapPredicate({ method: 'get', path: '/vote' })).toBe('this->method == "GET" && strncmp(this->path, "/vote", 5) == 0');
  });

  it('refuses values that are not a path, status or method (they become D source text)', () => {
    expect(tapFilterProblem({ path: '/vote', status: '5XX', method: 'POST' })).toBeNull();
    expect(tapFilterProblem({ path: 'vote' })).toMatch(/^bad --path 'vote'/);
    expect(tapFilterProblem({ path: '/a"b' })).toMatch(/^bad --path/);
    expect(tapFilterProblem({ status: '600' })).toMatch(/^bad --status '600'/);
    expect(tapFilterProblem({ status: '5x' })).toMatch(/^bad --status/);
    expect(tapFilterProblem({ method: 'GE T' })).toMatch(/^bad --method/);
  });

  it('filters in the kernel: the printf runs only inside the predicate', () => {
    const bt = compiled(httpTapProgram({ status: '5xx', path: '/vote' }));
    expect(bt).toMatch(/if \(\$this_status >= 500 && \$this_status <= 599 && strncmp\(\$this_path, "\/vote", 5\) == 0\) \{\n\s*printf\(/);
    const all = compiled(httpTapProgram({}));
    expect(all).not.toMatch(/if \(/);
    expect(all).toContain('printf(');
  });
});
