import { describe, expect, it } from 'vitest';
import { compareKeys, fixByteEscapes, normalizeStack, splitKey, unescapeKey } from '../../src/runner/keys.js';

describe('splitKey', () => {
  it('splits by declared kinds; a string part absorbs extra commas', () => {
    expect(splitKey('x,3', ['string', 'int'])).toEqual(['x', 3]);
    expect(splitKey('a,b,c,3', ['string', 'int'])).toEqual(['a,b,c', 3]);
    expect(splitKey('3,a,b', ['int', 'string'])).toEqual([3, 'a,b']);
    expect(splitKey('1,a,b,2', ['int', 'string', 'int'])).toEqual([1, 'a,b', 2]);
    expect(splitKey('a,b,c', ['string', 'string'])).toEqual(['a', 'b,c']);
    expect(splitKey('b,c', ['string'])).toEqual(['b,c']);
    expect(splitKey('-5', ['int'])).toEqual([-5]);
  });

  it('keeps integers beyond 2^53 as digits', () => {
    expect(splitKey('18446744073709551615', ['int'])).toEqual(['18446744073709551615']);
  });

  it('splits a string and a stack at the stack', () => {
    expect(splitKey('node,x,\n    f+1\n    g+2\n', ['string', 'stack'])).toEqual(['node,x', 'f+1\ng+2']);
  });

  it('without kinds splits only all-integer keys', () => {
    expect(splitKey('1,2', undefined)).toEqual([1, 2]);
    expect(splitKey('x,3', undefined)).toEqual(['x,3']);
    expect(splitKey('\n  a+1\n', undefined)).toEqual(['a+1']);
  });

  it('falls back when the key does not fit the kinds', () => {
    expect(splitKey('a', ['int', 'int'])).toEqual(['a']);
    expect(splitKey('a,b', ['int', 'int'])).toEqual(['a', 'b']);
  });
});

describe('escapes', () => {
  it('fixByteEscapes decodes sign-extended UTF-8 runs', () => {
    expect(JSON.parse(fixByteEscapes('"\\uffffffc3\\uffffffa9x"'))).toBe('éx');
    expect(fixByteEscapes('"\\\\uffffffc3"')).toBe('"\\\\uffffffc3"');
    expect(fixByteEscapes('"plain"')).toBe('"plain"');
  });

  it('unescapeKey undoes one level of JSON escaping', () => {
    expect(unescapeKey('quo\\"te')).toBe('quo"te');
    expect(unescapeKey('nl\\nx')).toBe('nl\nx');
    expect(unescapeKey('back\\\\slash')).toBe('back\\slash');
    expect(unescapeKey('\\uffffffc3\\uffffffa9')).toBe('é');
    expect(unescapeKey('bad\\')).toBe('bad\\');
  });

  it('normalizeStack drops indentation and blank lines', () => {
    expect(normalizeStack('\n        a+1\n        b+2\n')).toBe('a+1\nb+2');
  });
});

describe('compareKeys', () => {
  it('orders numbers numerically and strings by code unit', () => {
    const keys = [[10], [9], ['b'], ['a'], [1, 'z'], [1, 'a']];
    expect([...keys].sort(compareKeys)).toEqual([[1, 'a'], [1, 'z'], [9], [10], ['a'], ['b']]);
  });
});
