import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CacheControl, deltaSeconds, maxParsedFieldLength, splitList } from './cache-control.js';

describe('CacheControl.parse', () => {
  it('reads bare, token and quoted directives, case-insensitively', () => {
    const cc = CacheControl.parse('Public, MAX-AGE=60, stale-if-error="120", private="Set-Cookie, X-Foo"')!;
    expect(cc.has('public')).toBe(true);
    expect(cc.hasUnqualified('public')).toBe(true);
    expect(cc.seconds('max-age')).toBe(60);
    expect(cc.seconds('stale-if-error')).toBe(120);
    expect(cc.has('private')).toBe(true);
    expect(cc.hasUnqualified('private')).toBe(false);
    expect(cc.fieldNames('private')).toEqual(['set-cookie', 'x-foo']);
    expect(cc.fieldNames('public')).toEqual([]);
    expect(cc.has('no-store')).toBe(false);
    expect(cc.seconds('s-maxage')).toBeUndefined();
  });

  it('keeps the first of a repeated directive', () => {
    expect(CacheControl.parse('max-age=10, max-age=1000')!.seconds('max-age')).toBe(10);
  });

  it('tolerates whitespace, empty members and junk after a value', () => {
    const cc = CacheControl.parse(' ,, no-cache ,max-age = 5 junk, ,must-revalidate')!;
    expect(cc.hasUnqualified('no-cache')).toBe(true);
    expect(cc.seconds('max-age')).toBe(5);
    expect(cc.has('must-revalidate')).toBe(true);
  });

  it('unescapes quoted strings and keeps commas inside them', () => {
    const cc = CacheControl.parse('no-cache="a, b\\"c", max-age=3')!;
    expect(cc.fieldNames('no-cache')).toEqual(['a', 'b"c']);
    expect(cc.seconds('max-age')).toBe(3);
  });

  it('reports an invalid delta-seconds as NaN, and caps huge ones at 2^31', () => {
    const cc = CacheControl.parse('max-age=abc, s-maxage, stale-if-error=-1, min-fresh=99999999999999')!;
    expect(cc.seconds('max-age')).toBeNaN();
    expect(cc.seconds('s-maxage')).toBeNaN();
    expect(cc.seconds('stale-if-error')).toBeNaN();
    expect(cc.seconds('min-fresh')).toBe(2_147_483_648);
  });

  it('treats absent and empty fields as no directives, and refuses fields over the length cap', () => {
    expect(CacheControl.parse(null)).toBe(CacheControl.empty);
    expect(CacheControl.parse('')).toBe(CacheControl.empty);
    expect(CacheControl.parse(`max-age=1,${' '.repeat(maxParsedFieldLength)}`)).toBeUndefined();
  });

  it('never throws and stays fast on hostile input (linear scan, no regular expression)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (value) => {
        const cc = CacheControl.parse(value);
        expect(cc).toBeInstanceOf(CacheControl);
      }),
      { numRuns: 2000 },
    );
    const hostile = [
      '"'.repeat(maxParsedFieldLength),
      'a='.repeat(maxParsedFieldLength / 2),
      `x="${'\\'.repeat(maxParsedFieldLength - 4)}"`,
      ','.repeat(maxParsedFieldLength),
    ];
    const started = performance.now();
    for (let i = 0; i < 50; i++) for (const value of hostile) CacheControl.parse(value);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('deltaSeconds and splitList', () => {
  it('parses digits only', () => {
    expect(deltaSeconds('0')).toBe(0);
    expect(deltaSeconds('42')).toBe(42);
    expect(deltaSeconds(' 42')).toBeNaN();
    expect(deltaSeconds('4.2')).toBeNaN();
    expect(deltaSeconds('')).toBeNaN();
    expect(deltaSeconds(null)).toBeNaN();
  });

  it('splits, trims, lower-cases and drops empty members', () => {
    expect(splitList(' Accept-Encoding ,, Accept-Language,')).toEqual(['accept-encoding', 'accept-language']);
  });
});
