// Golden tests: each cases/NAME.d beside its expected bpftrace (NAME.bt) or, for programs
// that must be refused, its expected diagnostics (NAME.errors.txt). Regenerate with
// `npx vitest run test/golden -u` and review the diff.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compiler/compile.js';
import { tracepointsNeeded } from '../../src/compiler/probes.js';
import { formatDiagnostic } from '../../src/lang/diagnostics.js';
import { parse } from '../../src/lang/parse.js';
import { Source } from '../../src/lang/source.js';
import { casesDir, loadCases, tracepoints } from './cases.js';

const cases = loadCases();

describe('golden compiler output', () => {
  it('has at least 40 programs that compile', () => {
    expect(cases.filter((c) => !c.expectError).length).toBeGreaterThanOrEqual(40);
  });

  it('the fixture holds every tracepoint the cases name', () => {
    const missing = cases.flatMap((c) => {
      const ast = parse(new Source(c.name, c.text)).program;
      return tracepointsNeeded(ast.items.flatMap((i) => (i.kind === 'Clause' ? i.probes : []))).filter((tp) => !tracepoints[tp] && !tp.includes('opne'));
    });
    expect(missing).toEqual([]);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const source = new Source(`${c.name}.d`, c.text);
      const result = compile(source, c.facts, { intervalMs: c.intervalMs });
      const errors = result.diagnostics.filter((d) => d.severity === 'error');
      if (c.expectError) {
        expect(errors.length).toBeGreaterThan(0);
        for (const d of result.diagnostics) {
          expect(d.span.start).toBeGreaterThanOrEqual(0);
          expect(d.span.end).toBeLessThanOrEqual(c.text.length);
        }
        const rendered = result.diagnostics.map((d) => formatDiagnostic(d, source)).join('\n') + '\n';
        await expect(rendered).toMatchFileSnapshot(join(casesDir, `${c.name}.errors.txt`));
      } else {
        expect(errors.map((d) => formatDiagnostic(d, source))).toEqual([]);
        expect(result.program).not.toBeNull();
        if (result.diagnostics.length) {
          await expect(result.diagnostics.map((d) => formatDiagnostic(d, source)).join('\n') + '\n').toMatchFileSnapshot(join(casesDir, `${c.name}.warnings.txt`));
        }
        await expect(result.program!.text).toMatchFileSnapshot(join(casesDir, `${c.name}.bt`));
      }
    });
  }
});
