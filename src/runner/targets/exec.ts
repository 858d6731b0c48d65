// Running a runtime's CLI: argv arrays only (never a shell), a hard timeout, no stdin.

import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { spawn } from 'node:child_process';

export interface CliResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  timedOut: boolean;
  /** The program could not be started at all (ENOENT, EACCES). */
  spawnError?: string;
  ms: number;
}

/** Plausible container names and ids: what podman and docker accept, minus anything a shell or option parser could read. */
export const CONTAINER_REF_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function isValidContainerRef(s: string): boolean {
  return s.length <= 253 && CONTAINER_REF_RE.test(s);
}

/** Label selector `key=value` or `key`: a key as the runtimes allow, a value without control characters. */
export function parseLabelSelector(s: string): { key: string; value?: string } | null {
  const eq = s.indexOf('=');
  const key = eq < 0 ? s : s.slice(0, eq);
  const value = eq < 0 ? undefined : s.slice(eq + 1);
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_./-]*$/.test(key) || key.length > 253) return null;
  // eslint-disable-next-line no-control-regex
  if (value !== undefined && (/[\x00-\x1f\x7f]/.test(value) || value.length > 4096)) return null;
  return value === undefined ? { key } : { key, value };
}

/** Absolute path of an executable found on PATH (or `name` itself if it is a path), else null. */
export function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = name.includes('/')
    ? [name]
    : (env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin')
        .split(delimiter)
        .filter((d) => d && isAbsolute(d))
        .map((d) => join(d, name));
  for (const c of candidates) {
    try {
      if (!statSync(c).isFile()) continue;
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return null;
}

export async function runCli(
  bin: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<CliResult> {
  // node:child_process rather than execa: this runs at every start of `trace`, and
  // loading execa alone costs ~0.2 s.
  const t0 = performance.now();
  return new Promise<CliResult>((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let spawnError: string | undefined;
    let child;
    try {
      child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env, shell: false });
    } catch (e) {
      resolve({ stdout: '', stderr: '', exitCode: -1, timedOut: false, spawnError: (e as NodeJS.ErrnoException).code ?? (e as Error).message, ms: performance.now() - t0 });
      return;
    }
    const limit = 64 * 1024 * 1024; // a runtime that prints megabytes here is not answering an inspect
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < limit) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < limit) stderr += d.toString();
    });
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killer = setTimeout(() => child.kill('SIGKILL'), 500);
    }, opts.timeoutMs);
    child.on('error', (e: NodeJS.ErrnoException) => {
      spawnError = e.code ?? e.message;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      resolve({ stdout, stderr, exitCode: code ?? -1, timedOut, ms: performance.now() - t0, ...(spawnError ? { spawnError } : {}) });
    });
  });
}

/** First meaningful line of a CLI's error output, without "Error:" prefixes, for a one-sentence message. */
export function firstErrorLine(text: string): string {
  const line =
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? '';
  return line
    .replace(/^(level=\w+\s+)?(msg=)?"?/, '')
    .replace(/^(Error( response from daemon)?|FATA\[\d+\]|E\d{4} [\d:.]+\s+\d+\s+\S+\])\s*:?\s*/i, '')
    .replace(/"$/, '')
    .replace(/\.$/, '')
    .slice(0, 300);
}
