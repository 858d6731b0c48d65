import { parse } from '../../src/lang/parse.js';
import { Source } from '../../src/lang/source.js';
const clause = (i: number) => `syscall::read:entry, uprobe:/app/bin/svc:main.handle${i} /pid == $target && (arg0 / 2) > ${i}/ {
  self->ts[${i}] = timestamp;
  @lat[execname, probefunc] = quantize((timestamp - self->ts) / 1000);
  if (arg1 > 0x10) { @big = count(); } else @small = sum(arg1 * 2 + 1);
  printf("%d %s\\n", pid, copyinstr(arg0));
}
`;
const text = Array.from({ length: 200 }, (_, i) => clause(i)).join('');
const src = new Source('x.d', text);
for (let i = 0; i < 50; i++) parse(src);
const t0 = performance.now();
const N = 100;
for (let i = 0; i < N; i++) parse(src);
console.log(`${text.length} chars, ${((performance.now() - t0) / N).toFixed(2)} ms per parse`, parse(src).diagnostics.length);
import { lex } from '../../src/lang/lexer.js';
import { parser } from '../../src/lang/parser.js';
import { buildClause } from '../../src/lang/build-ast.js';
{
  const t0 = performance.now();
  for (let i = 0; i < N; i++) lex(text);
  console.log('lex', ((performance.now() - t0) / N).toFixed(2));
  const l = lex(text);
  const t1 = performance.now();
  const csts: any[] = [];
  for (let i = 0; i < N; i++) for (const it of l.items) if (it.kind === 'clause') { parser.messages.begin(src, []); csts.push(parser.parseClause(l.tokens.slice(it.from, it.to))); }
  console.log('parse', ((performance.now() - t1) / N).toFixed(2));
  const t2 = performance.now();
  for (const c of csts) buildClause(c);
  console.log('build', ((performance.now() - t2) / N).toFixed(2));
}
