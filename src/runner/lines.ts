// Splits a byte stream into lines. A line is emitted only once its '\n' has arrived (or the
// stream ended), so a JSON object is never decoded half-read. Bytes are joined before UTF-8
// decoding, so a multi-byte character split across chunks stays whole.

/** bpftrace prints a whole map on one line; 2,000 keys are ~120 KB, so this is generous. */
export const DEFAULT_MAX_LINE_BYTES = 256 * 1024 * 1024;

export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private skipping = false;
  /** Lines dropped because they were longer than `maxBytes`. */
  overlong = 0;

  constructor(private readonly maxBytes: number = DEFAULT_MAX_LINE_BYTES) {}

  push(chunk: Buffer | string): string[] {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const out: string[] = [];
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(10, start);
      if (nl === -1) break;
      this.append(buf.subarray(start, nl));
      const line = this.take();
      if (line !== null) out.push(line);
      start = nl + 1;
    }
    if (start < buf.length) this.append(buf.subarray(start));
    return out;
  }

  /** The stream ended: whatever is buffered is the last line. */
  end(): string[] {
    if (this.size === 0 && !this.skipping) return [];
    const line = this.take();
    return line === null || line === '' ? [] : [line];
  }

  private append(b: Buffer): void {
    if (this.skipping || b.length === 0) return;
    if (this.size + b.length > this.maxBytes) {
      this.skipping = true;
      this.parts = [];
      this.size = 0;
      return;
    }
    this.parts.push(b);
    this.size += b.length;
  }

  /** Completes the current line; null when it was too long and dropped. */
  private take(): string | null {
    if (this.skipping) {
      this.skipping = false;
      this.overlong++;
      return null;
    }
    const line = this.parts.length === 1 ? this.parts[0]!.toString('utf8') : Buffer.concat(this.parts, this.size).toString('utf8');
    this.parts = [];
    this.size = 0;
    return line.endsWith('\r') ? line.slice(0, -1) : line;
  }
}
