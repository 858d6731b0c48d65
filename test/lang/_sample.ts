import { parse } from '../../src/lang/parse.js';
import { Source } from '../../src/lang/source.js';
import { formatDiagnostic } from '../../src/lang/diagnostics.js';
import { ProgramGen, Rand, prng } from './gen.js';
const r = new Rand(prng(7));
const gen = new ProgramGen(r);
let shown = 0;
const counts = new Map<string, number>();
for (let i = 0; i < 3000; i++) {
  const g = gen.program();
  const toks = g.text.match(/\s+|\w+|[^\w\s]/gu)!;
  const k = r.int(toks.length);
  const which = r.int(3);
  if (which === 0) toks.splice(k, 1); else if (which === 1) toks.splice(k, 0, r.pick(['}', ')', ';', '/', '>', '(', '{', '=', 'x'])); else toks[k] = r.pick(['}', ')', ';', '/', '>', '(', '{', '=', 'x']);
  const text = toks.join('');
  const src = new Source('m.d', text);
  const res = parse(src);
  for (const d of res.diagnostics) counts.set(d.message.replace(/'[^']*'/g, "'…'").replace(/line \d+/, 'line N'), (counts.get(d.message.replace(/'[^']*'/g, "'…'").replace(/line \d+/, 'line N')) ?? 0) + 1);
  if (res.diagnostics.length && shown < 12 && i % 7 === 0) { shown++; console.log(formatDiagnostic(res.diagnostics[0]!, src)); console.log(); }
}
console.log([...counts.entries()].sort((a, b) => b[1] - a[1]).map(([m, c]) => `${c}\t${m}`).join('\n'));
