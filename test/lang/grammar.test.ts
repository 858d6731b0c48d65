import { describe, expect, it } from 'vitest';
import { ClauseParser } from '../../src/lang/parser.js';

describe('the grammar', () => {
  it("passes chevrotain's own validations (the shared parser skips them at start-up)", () => {
    const p = new ClauseParser({ validate: true });
    expect(p.definitionErrors).toEqual([]);
  });
});
