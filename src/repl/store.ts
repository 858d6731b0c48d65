// The session's aggregations across attachments (pure).
//
// Each attachment is one bpftrace run. When the program changes while running, the old run is
// stopped (SIGINT: bpftrace prints its maps) and its aggregations are folded into `base`; the
// new run's latest interval snapshot is `live`. What is shown is base merged with live, per
// name, when the definition (function with its arguments, keys) is the same. A changed
// definition is not merged: its earlier data is dropped, and the caller says so.

import type { AggregationInfo } from '../compiler/program.js';
import { merge, type Aggregation } from '../runner/aggregate.js';

interface Kept {
  readonly agg: Aggregation;
  readonly sig: string;
  readonly desc: string;
}

/** What makes two aggregations of one name mergeable. */
export function signature(info: AggregationInfo): string {
  return JSON.stringify({
    func: info.func,
    value: info.valueLabel ?? info.func,
    keys: info.keys.map((k) => [k.label, k.type, k.transform]),
    buckets: info.buckets ?? null,
    linear: info.linear ?? null,
  });
}

/** `count() by [arg0]`, for messages. */
export function describe(info: AggregationInfo): string {
  const value = info.valueLabel && info.valueLabel !== info.func ? info.valueLabel : `${info.func}()`;
  return info.keys.length ? `${value} by [${info.keys.map((k) => k.label).join(', ')}]` : value;
}

export class AggregationStore {
  private readonly base = new Map<string, Kept>();
  private live = new Map<string, Aggregation>();
  private program: readonly AggregationInfo[] = [];
  private sigs = new Map<string, string>();

  /**
   * A run of `infos` begins. Earlier data whose definition differs is dropped: one message
   * per such aggregation.
   */
  beginRun(infos: readonly AggregationInfo[]): string[] {
    this.program = infos;
    this.sigs = new Map(infos.map((i) => [i.name, signature(i)]));
    this.live = new Map();
    const messages: string[] = [];
    for (const info of infos) {
      const kept = this.base.get(info.name);
      if (!kept || kept.sig === signature(info)) continue;
      messages.push(`${info.name} changed from ${kept.desc} to ${describe(info)}: its earlier data is not merged (dropped)`);
      this.base.delete(info.name);
    }
    return messages;
  }

  /** The latest interval snapshot of the current run (complete: it replaces the previous one). */
  snapshot(aggs: readonly Aggregation[]): void {
    this.live = new Map(aggs.map((a) => [a.name, a]));
  }

  /** The current run ended with these aggregations (its exit-time dump): fold them into base. */
  endRun(aggs: readonly Aggregation[]): void {
    for (const a of aggs) {
      const info = this.program.find((i) => i.name === a.name);
      const sig = this.sigs.get(a.name) ?? `?${a.func}`;
      const desc = info ? describe(info) : a.func;
      const kept = this.base.get(a.name);
      if (kept && kept.sig === sig && kept.agg.kind === a.kind && kept.agg.func === a.func) this.base.set(a.name, { agg: merge(a, kept.agg), sig, desc });
      else this.base.set(a.name, { agg: a, sig, desc });
    }
    this.live = new Map();
  }

  /** Forgets every aggregation, or one. */
  clear(name: string | null): void {
    if (name === null) {
      this.base.clear();
      this.live = new Map();
    } else {
      this.base.delete(name);
      this.live.delete(name);
    }
  }

  has(name: string): boolean {
    return this.base.has(name) || this.live.has(name);
  }

  get names(): string[] {
    return [...new Set([...this.program.map((i) => i.name), ...this.base.keys()])].filter((n) => this.has(n));
  }

  /** Earlier runs merged with the current run's latest snapshot: the current program's first, in its order. */
  merged(): Aggregation[] {
    const out: Aggregation[] = [];
    for (const name of this.names) {
      const kept = this.base.get(name);
      const live = this.live.get(name);
      if (kept && live && kept.agg.kind === live.kind && kept.agg.func === live.func) out.push(merge(live, kept.agg));
      else if (live) out.push(live);
      else if (kept) out.push(kept.agg);
    }
    return out;
  }
}
