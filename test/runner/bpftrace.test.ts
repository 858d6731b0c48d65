import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { featuresOf, parseInfo } from '../../src/runner/bpftrace-info.js';
import { findBpftrace, getBpftraceInfo, locateBpftrace, NOT_FOUND } from '../../src/runner/bpftrace.js';
import { fixtureText } from './fixtures.js';

describe('parseInfo', () => {
  it('reads 0.17 (one column)', () => {
    const p = parseInfo(fixtureText('0.17', 'info.txt'));
    expect(p.version).toEqual({ major: 0, minor: 17, patch: 0 });
    expect(p.values.get('bfd')).toBe('no');
    expect(p.values.get('libdw')).toBe('yes');
    expect(p.values.get('kfunc')).toBe('no');
    expect(p.values.get('uprobe refcount')).toBe('yes');
    expect(p.values.get('instruction limit')).toBe('1000000');
    const f = featuresOf(p, p.version!, false);
    expect(f).toMatchObject({ uprobeOffsets: false, btf: true, kfunc: false, kprobes: false, uprobeMulti: false, argsSyntax: 'arrow', jsonKeysDoubleEscaped: false });
  });

  it('reads 0.23 (two columns)', () => {
    const p = parseInfo(fixtureText('0.23', 'info.txt'));
    expect(p.version).toEqual({ major: 0, minor: 23, patch: 2 });
    expect(p.values.get('probe_read_str')).toBe('yes');
    expect(p.values.get('override_return')).toBe('no');
    expect(p.values.get('uprobe_multi')).toBe('yes');
    expect(p.values.get('fentry')).toBe('no');
    expect(p.values.get('kprobe')).toBe('yes');
    const f = featuresOf(p, p.version!, false);
    expect(f).toMatchObject({ uprobeOffsets: true, btf: true, kfunc: false, kprobes: false, uprobeMulti: true, ringbuf: true, argsSyntax: 'dot', jsonKeysDoubleEscaped: true });
    // --info says `kprobe: yes`; only the kernel's kprobe PMU decides.
    expect(featuresOf(p, p.version!, true).kprobes).toBe(true);
  });
});

describe('locateBpftrace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctrace-find-'));
  const fake = (p: string) => {
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, '#!/bin/sh\necho "bpftrace v0.99.1"\n');
    chmodSync(p, 0o755);
    return p;
  };
  const explicit = fake(join(dir, 'explicit', 'bpftrace'));
  const fromEnv = fake(join(dir, 'env', 'bpftrace'));
  const prefix = join(dir, 'prefix');
  const prefixed = fake(join(prefix, 'bin', 'bpftrace'));
  const onPath = fake(join(dir, 'path', 'bpftrace'));
  const env = { TRACE_BPFTRACE: fromEnv, TRACE_PREFIX: prefix, PATH: join(dir, 'path') };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('follows the order: --bpftrace, TRACE_BPFTRACE, TRACE_PREFIX, PATH', () => {
    expect(locateBpftrace({ explicit, env })).toEqual({ ok: true, path: explicit });
    expect(locateBpftrace({ env })).toEqual({ ok: true, path: fromEnv });
    expect(locateBpftrace({ env: { ...env, TRACE_BPFTRACE: '' } })).toEqual({ ok: true, path: prefixed });
    expect(locateBpftrace({ env: { PATH: join(dir, 'path'), TRACE_PREFIX: join(dir, 'none') } })).toEqual({ ok: true, path: onPath });
  });

  it('reports a named path that is not executable instead of using another', () => {
    const r = locateBpftrace({ explicit: join(dir, 'missing'), env });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(/--bpftrace/);
  });

  it('returns the documented error when there is none', async () => {
    const env2 = { PATH: join(dir, 'empty'), TRACE_PREFIX: join(dir, 'none') };
    expect(locateBpftrace({ env: env2 })).toEqual({ ok: false, message: NOT_FOUND });
    expect(await findBpftrace({ env: env2 })).toEqual({ ok: false, message: NOT_FOUND });
  });

  it('falls back to --version when --info has no version', async () => {
    const r = await getBpftraceInfo(onPath, { kprobePmu: false });
    expect(r.ok && r.info.version).toEqual({ major: 0, minor: 99, patch: 1 });
  });
});

describe('real bpftrace --info', () => {
  it.each([
    ['/usr/bin/bpftrace', 17, false],
    ['/opt/ctrace/bin/bpftrace', 23, true],
  ])('%s', async (path, minor, offsets) => {
    const r = await getBpftraceInfo(path);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.info.version.minor).toBe(minor);
    expect(r.info.features.uprobeOffsets).toBe(offsets);
    expect(r.info.features.kprobes).toBe(false);
    expect(r.info.text).not.toContain('RLIMIT_MEMLOCK');
    // Memoised: the same promise for the same path.
    expect(await getBpftraceInfo(path)).toBe(r);
  });

  it('finds the private prefix build first by default', async () => {
    const r = await findBpftrace({ env: { PATH: process.env['PATH'] ?? '' } });
    expect(r.ok && r.info.path).toBe('/opt/ctrace/bin/bpftrace');
  });
});
