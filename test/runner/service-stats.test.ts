// trace stat/top rows: counters from aggregations, interval differences, grouping by binary,
// and the table and JSON they print.

import { describe, expect, it } from 'vitest';
import type { Aggregation } from '../../src/runner/aggregate.js';
import { countersOf, groupServices, pathRows, renderRows, rowJson, serviceRows, subtract } from '../../src/runner/service-stats.js';
import { formatTapEvent, parseTapLine, tapJson } from '../../src/commands/tap.js';

const key = (label: string) => ({ label, type: 'string' as const, transform: 'none' as const });

/** Cumulative aggregations as bpftrace's snapshot gives them: requests, failures, latency (ns). */
function snapshot(rows: { keys: string[]; requests: number; failures: number; connections?: number; buckets: [number, number, number][] }[]): Aggregation[] {
  const keys = rows[0]!.keys.map((_, i) => key(`k${i}`));
  const conns = rows.filter((r) => r.connections !== undefined);
  return [
    ...(conns.length ? [{ name: '@connections', keys, kind: 'scalar' as const, func: 'count' as const, rows: conns.map((r) => ({ keys: r.keys, value: r.connections! })) }] : []),
    { name: '@requests', keys, kind: 'scalar', func: 'count', rows: rows.map((r) => ({ keys: r.keys, value: r.requests })) },
    { name: '@failures', keys, kind: 'scalar', func: 'sum', rows: rows.map((r) => ({ keys: r.keys, value: r.failures })) },
    { name: '@latency', keys, kind: 'hist', func: 'latency', scheme: { kind: 'observed' }, rows: rows.map((r) => ({ keys: r.keys, buckets: r.buckets.map(([lo, hi, count]) => ({ lo, hi, count })) })) },
  ];
}

const services = [
  { name: 'voting', containers: ['vote-1', 'vote-2'] },
  { name: 'emoji', containers: ['emoji-1'] },
];

describe('service rows', () => {
  const before = countersOf(snapshot([
    { keys: ['vote-1'], requests: 100, failures: 10, connections: 2, buckets: [[1000, 2000, 100]] },
    { keys: ['emoji-1'], requests: 50, failures: 0, buckets: [[1000, 2000, 50]] },
  ]));
  const now = countersOf(snapshot([
    { keys: ['vote-1'], requests: 300, failures: 30, connections: 2, buckets: [[1000, 2000, 250], [8000, 9000, 50]] },
    { keys: ['vote-2'], requests: 100, failures: 10, connections: 1, buckets: [[1000, 2000, 99], [64000, 65000, 1]] },
    { keys: ['emoji-1'], requests: 50, failures: 0, buckets: [[1000, 2000, 50]] },
  ]));

  it('an interval is the difference of two snapshots; replicas are added up into their service', () => {
    const rows = serviceRows(services, subtract(now, before), 2);
    expect(rows).toEqual([
      // vote-1: 200 new (150 fast, 50 slow), vote-2: 100 new (99 fast, 1 very slow); 1 new connection (vote-2's)
      { service: 'voting', replicas: 2, connections: 1, requests: 300, rps: 150, success: 0.9, p50: 2000, p95: 9000, p99: 9000 },
      { service: 'emoji', replicas: 1, connections: 0, requests: 0, rps: 0, success: null, p50: null, p95: null, p99: null },
    ]);
  });

  it('the whole run is the last snapshot', () => {
    const [voting] = serviceRows(services, now, 10);
    expect(voting).toMatchObject({ requests: 400, rps: 40, success: 0.9, p50: 2000, p99: 9000 });
  });

  it('a table with a row per service, REQUESTS for the whole run, and one JSON object per row', () => {
    const rows = serviceRows(services, now, 10);
    const text = renderRows(rows, { total: true });
    const lines = text.trimEnd().split('\n');
    expect(lines[1]).toMatch(/│ SERVICE +│ REPLICAS │ REQUESTS │ +RPS │ SUCCESS │ +P50 │ +P95 │ +P99 │ NEW TCP │/);
    expect(lines[3]).toMatch(/│ voting +│ +2 │ +400 │ +40\.0 │ +90\.00% │ +2us │ +9us │ +9us │ +3 │/);
    expect(lines[4]).toMatch(/│ emoji +│ +1 │ +50 │ +5\.0 │ 100\.00% │/);
    expect(JSON.parse(rowJson(rows[0]!, '2026-01-01T00:00:00.000Z', true))).toEqual({
      type: 'total', time: '2026-01-01T00:00:00.000Z', service: 'voting', replicas: 2, requests: 400, rps: 40, new_connections: 3, success: 0.9, p50_ns: 2000, p95_ns: 9000, p99_ns: 9000,
    });
  });

  it('by path: busiest first, replicas of one service merged', () => {
    const c = countersOf(snapshot([
      { keys: ['vote-1', 'GET', '/vote'], requests: 10, failures: 1, buckets: [[1000, 2000, 10]] },
      { keys: ['vote-2', 'GET', '/vote'], requests: 10, failures: 1, buckets: [[1000, 2000, 10]] },
      { keys: ['vote-1', 'GET', '/healthz'], requests: 2, failures: 0, buckets: [[500, 600, 2]] },
      { keys: ['emoji-1', 'GET', '/emoji'], requests: 30, failures: 0, buckets: [[3000, 4000, 30]] },
    ]));
    const rows = pathRows(services, c, 1);
    expect(rows.map((r) => [r.service, r.method, r.path, r.requests, r.success])).toEqual([
      ['emoji', 'GET', '/emoji', 30, 1],
      ['voting', 'GET', '/vote', 20, 0.9],
      ['voting', 'GET', '/healthz', 2, 1],
    ]);
    expect(renderRows(rows, { paths: true }).split('\n')[1]).toMatch(/│ SERVICE │ METHOD │ PATH +│ +RPS │ SUCCESS │/);
  });
});

describe('groupServices', () => {
  it('groups containers by the file they run, named by its base name', () => {
    const t = (name: string, exe: string, file: string) => ({ name, exe, file });
    const g = groupServices([t('fe-1', '/app/frontend', 'A'), t('vo-1', '/app/voting', 'B'), t('fe-2', '/app/frontend', 'A')], (x) => x.file);
    expect(g.map((s) => [s.name, s.containers])).toEqual([
      ['frontend', ['fe-1', 'fe-2']],
      ['voting', ['vo-1']],
    ]);
  });

  it('two binaries of one name (two images of /app/server) are told apart by their first container', () => {
    const g = groupServices([{ name: 'shop', exe: '/app/server', f: 1 }, { name: 'cart', exe: '/app/server', f: 2 }], (x) => String(x.f));
    expect(g.map((s) => s.name)).toEqual(['server@shop', 'server@cart']);
  });
});

describe('tap lines', () => {
  const line = '1796594442013199287\x1fweb-1\x1f10.0.0.7:41234\x1fGET\x1f500\x1f324519\x1f/vote\x1fodd\n';
  it('parses the program\'s printf, keeping a separator inside the path', () => {
    const e = parseTapLine(line)!;
    expect(e).toMatchObject({ container: 'web-1', client: '10.0.0.7:41234', method: 'GET', status: 500, latencyNs: 324519, path: '/vote\x1fodd' });
    expect(e.time.toISOString()).toBe('2026-12-06T22:00:42.013Z');
    expect(parseTapLine('something else\n')).toBeNull();
  });

  it('prints one aligned line, control characters escaped, or one JSON object', () => {
    const e = parseTapLine(line)!;
    expect(formatTapEvent(e)).toBe('22:00:42.013 web-1                            10.0.0.7:41234        GET        500     325us  /vote\\x1fodd\n');
    expect(JSON.parse(tapJson(e))).toEqual({ type: 'request', time: '2026-12-06T22:00:42.013Z', container: 'web-1', client: '10.0.0.7:41234', method: 'GET', path: '/vote\x1fodd', status: 500, latency_ns: 324519 });
  });
});
