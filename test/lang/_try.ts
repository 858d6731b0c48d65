import { parse } from '../../src/lang/parse.js';
import { Source } from '../../src/lang/source.js';
import { formatDiagnostic } from '../../src/lang/diagnostics.js';
import { sexpr, stmtSexpr } from './sexpr.js';
for (const text of process.argv.slice(2)) {
  const src = new Source('<command line>', text);
  const r = parse(src);
  console.log('>>> ' + text);
  for (const it of r.program.items) {
    if (it.kind === 'Pragma') console.log(`  pragma ${it.namespace} ${it.directive} [${it.argument}] ${JSON.stringify(it.argumentSpan)} ${JSON.stringify(it.span)}`);
    else console.log(`  clause ${it.probes.map(p => JSON.stringify(p.parts.map(x => x.value + (x.quoted ? '"' : '')))).join(', ')} ${it.predicate ? '/' + sexpr(it.predicate) + '/' : ''} ${it.blockStyle} {${it.body.map(stmtSexpr).join('; ')}} [${it.span.start},${it.span.end})`);
  }
  for (const d of r.diagnostics) console.log(formatDiagnostic(d, src).replace(/^/gm, '  '));
}
