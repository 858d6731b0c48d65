import { parse } from '../../src/lang/parse.js';
import { Source } from '../../src/lang/source.js';
import { ProgramGen, Rand, prng } from './gen.js';
const r = new Rand(prng(7));
const gen = new ProgramGen(r);
for (let i = 0; i < 3000; i++) {
  const g = gen.program();
  const toks = g.text.match(/\s+|\w+|[^\w\s]/gu)!;
  const k = r.int(toks.length);
  const which = r.int(3);
  if (which === 0) toks.splice(k, 1); else if (which === 1) toks.splice(k, 0, r.pick(['}', ')', ';', '/', '>', '(', '{', '=', 'x'])); else toks[k] = r.pick(['}', ')', ';', '/', '>', '(', '{', '=', 'x']);
  const text = toks.join('');
  const res = parse(new Source('m.d', text));
  if (res.diagnostics.some(d => d.message === "unexpected ')'" && d.hints?.length)) { console.log(JSON.stringify(text)); break; }
}
