import { describe, expect, it } from 'vitest';
import { InvalidObjectKeyError } from './invalid-object-key-error.ts';
import {
  assertValidKey,
  assertValidPrefix,
  compareKeys,
  decodeListToken,
  encodeListToken,
  normalizePageSize,
} from './object-key.ts';

describe('assertValidKey', () => {
  it.each(['a', 'jobs/42/input/frame 0001.jpg', 'ünï/€', '.hidden/x', 'a..b/c', 'a/b.c'])(
    'accepts %j',
    (key) => {
      expect(() => assertValidKey(key)).not.toThrow();
    },
  );

  it.each([
    ['', 'is empty'],
    ['/abs', 'absolute'],
    ['../x', '".." segment'],
    ['a/../../b', '".." segment'],
    ['a/./b', '"." segment'],
    ['a\\b', 'backslash'],
    ['a\u0000b', 'control character'],
    ['a\u007fb', 'control character'],
    ['a\ud800b', 'lone surrogate'],
    ['a//b', 'empty segment'],
    ['a/', 'empty segment'],
    ['x/.vb-meta.y', 'reserved'],
    ['x'.repeat(201), 'longer than 200'],
    [`${'abcdefgh/'.repeat(114)}x`, 'longer than 1024'],
  ])('refuses %j (%s)', (key, reason) => {
    expect(() => assertValidKey(key)).toThrow(InvalidObjectKeyError);
    expect(() => assertValidKey(key)).toThrow(reason);
  });
});

describe('assertValidPrefix', () => {
  it.each(['', 'jobs/', 'jobs/4', 'jobs/42/', 'a/..b', 'a/.'])('accepts %j', (prefix) => {
    expect(() => assertValidPrefix(prefix)).not.toThrow();
  });

  it.each(['../', '/a', 'a/../b', 'a//', 'a\\', 'a/.vb-'])('refuses %j', (prefix) => {
    expect(() => assertValidPrefix(prefix)).toThrow(InvalidObjectKeyError);
  });
});

describe('compareKeys', () => {
  it('orders by UTF-8 bytes, as S3 lists', () => {
    const keys = ['a0', 'a/x', 'a.txt', 'a-b', '\u{1f600}', '\uffff', 'Z'];
    // UTF-16 order would put U+FFFF after the emoji's surrogate pair; UTF-8 order does not.
    expect([...keys].sort(compareKeys)).toEqual(['Z', 'a-b', 'a.txt', 'a/x', 'a0', '\uffff', '\u{1f600}']);
  });
});

describe('list tokens', () => {
  it('round-trip keys and refuse garbage', () => {
    for (const key of ['a', 'jobs/1/ü €']) expect(decodeListToken(encodeListToken(key))).toBe(key);
    expect(() => decodeListToken('')).toThrow(TypeError);
    expect(() => decodeListToken('!!!')).toThrow(TypeError);
  });
});

describe('normalizePageSize', () => {
  it('defaults and caps at the maximum, refuses non-positive or fractional sizes', () => {
    expect(normalizePageSize(undefined, 1000)).toBe(1000);
    expect(normalizePageSize(10, 1000)).toBe(10);
    expect(normalizePageSize(5000, 1000)).toBe(1000);
    for (const bad of [0, -1, 1.5, Number.NaN])
      expect(() => normalizePageSize(bad, 1000)).toThrow(RangeError);
  });
});
