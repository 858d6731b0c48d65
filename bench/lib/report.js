// The results table: plain text for the terminal, markdown for bench/results/latest.md and
// docs/benchmarks.md, JSON for bench/results/<timestamp>.json.

import { fmt, ratioText, spread } from './stats.js';

/**
 * A row is one of:
 *   { id, name, value: summary, unit, extra? }                 an absolute measurement
 *   { id, name, a, b, unit, ratio: summary, goal?, pass? }     A vs B, ratio of per-pair ratios
 *   { id, name, ratio: summary, goal?, pass?, note? }          a ratio alone
 *   { id, name, text }                                         not measured / failed
 */
export function cells(row) {
  const measured = row.text ?? (row.value ? spread(row.value, row.unit ?? '') : row.a ? `${spread(row.a, row.unit ?? '')} vs ${spread(row.b, row.unit ?? '')}` : '');
  const ratio = row.ratio ? ratioText(row.ratio) : '';
  const goal = row.goal ?? '';
  const verdict = row.pass === undefined ? '' : row.pass ? 'meets' : 'MISSES';
  const note = [row.extra, row.note].filter(Boolean).join('; ');
  return [row.id, row.name, measured, ratio, goal, verdict, note];
}

const HEAD = ['#', 'measurement', 'median (min-max)', 'ratio, median of pairs (min-max)', 'goal', '', 'notes'];

export function textTable(rows) {
  const all = [HEAD, ...rows.map(cells)];
  const widths = HEAD.map((_, i) => Math.min(i === 1 ? 70 : 48, Math.max(...all.map((r) => String(r[i]).length))));
  const line = (r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  return [line(HEAD), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map((r) => line(cells(r)))].join('\n');
}

const md = (s) => String(s).replace(/\|/g, '\\|');

export function markdownTable(rows) {
  return [
    `| ${HEAD.map(md).join(' | ')} |`,
    `| ${HEAD.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${cells(r).map(md).join(' | ')} |`),
  ].join('\n');
}

export function machineLine(m) {
  return `${m.cpu} (${m.nproc} CPUs), ${m.memGiB} GiB, kernel ${m.kernel}, ${m.os}, node ${m.node}, bpftrace ${Object.values(m.bpftrace).join(' / ')}, load average ${m.loadStart.map((x) => x.toFixed(2)).join(' ')} at start, ${m.loadEnd ? m.loadEnd.map((x) => x.toFixed(2)).join(' ') : '?'} at end`;
}

export function markdownReport(result) {
  return [
    `# ctrace benchmarks: ${result.timestamp}${result.quick ? ' (BENCH_QUICK=1)' : ''}`,
    '',
    `Machine: ${machineLine(result.machine)}.`,
    `Duration: ${(result.durationMs / 1000).toFixed(0)} s.`,
    '',
    markdownTable(result.rows),
    '',
  ].join('\n');
}

export { fmt };
