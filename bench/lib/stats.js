// Small statistics for repeated, interleaved measurements.

/** Median of numbers (mean of the middle two for an even count); NaN for none. */
export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** { median, min, max, n } of the finite values. */
export function summary(xs) {
  const v = xs.filter((x) => Number.isFinite(x));
  return { median: median(v), min: v.length ? Math.min(...v) : NaN, max: v.length ? Math.max(...v) : NaN, n: v.length };
}

/** Per-pair ratios a[i]/b[i] (pairs where both were measured). */
export function pairRatios(a, b) {
  const out = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (Number.isFinite(a[i]) && Number.isFinite(b[i]) && b[i] !== 0) out.push(a[i] / b[i]);
  }
  return out;
}

/** A number with a sensible number of digits. */
export function fmt(x, unit = '') {
  if (x === null || x === undefined || Number.isNaN(x)) return 'n/a';
  const a = Math.abs(x);
  let s;
  if (a >= 1e6) s = `${(x / 1e6).toFixed(a >= 1e7 ? 1 : 2)}M`;
  else if (a >= 1e4) s = `${(x / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  else if (a >= 100) s = x.toFixed(0);
  else if (a >= 10) s = x.toFixed(1);
  else if (a >= 1) s = x.toFixed(2);
  else if (a === 0) s = '0';
  else s = x.toPrecision(2);
  return s + unit;
}

/** "median (min-max)" of a summary. */
export function spread(s, unit = '') {
  if (!s || !s.n) return 'n/a';
  if (s.n === 1) return `${fmt(s.median, unit)} (n=1)`;
  return `${fmt(s.median, unit)} (${fmt(s.min)}-${fmt(s.max)})`;
}

/** "1.23x (1.10-1.40)" */
export function ratioText(s) {
  if (!s || !s.n) return 'n/a';
  const r = (x) => x.toFixed(x >= 10 ? 1 : 2);
  return s.n === 1 ? `${r(s.median)}x (n=1)` : `${r(s.median)}x (${r(s.min)}-${r(s.max)})`;
}
