import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maxRetryAfterMs, parseRetryAfter } from './retry-after.js';

const now = Date.UTC(2026, 10, 21, 12, 0, 0);

describe('parseRetryAfter', () => {
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter('1', now)).toBe(1_000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
  });

  it('reads an HTTP-date relative to now, and a past date as 0', () => {
    expect(parseRetryAfter('Sat, 21 Nov 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter(new Date(now + 5_000).toUTCString(), now)).toBe(5_000);
    expect(parseRetryAfter('Fri, 20 Nov 2026 12:00:00 GMT', now)).toBe(0);
  });

  it('caps waits at the largest timer delay', () => {
    expect(parseRetryAfter('99999999999', now)).toBe(maxRetryAfterMs);
    expect(parseRetryAfter('Fri, 01 Jan 2100 00:00:00 GMT', now)).toBe(maxRetryAfterMs);
  });

  it('takes a single-value array (Node header shape) and refuses several values', () => {
    expect(parseRetryAfter(['3'], now)).toBe(3_000);
    expect(parseRetryAfter(['3', '4'], now)).toBeUndefined();
  });

  it.each([
    null,
    undefined,
    '',
    '   ',
    '-1',
    '1.5',
    '1e3',
    '0x10',
    'soon',
    'NaN',
    '12abc',
    `${'9'.repeat(70)}`,
    '2026-11-21',
  ])('ignores %j', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });

  it('never throws and returns undefined or a wait within [0, max] for any input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.integer({ min: 0, max: 4e12 }), (value, at) => {
        const wait = parseRetryAfter(value, at);
        return wait === undefined || (Number.isInteger(wait) && wait >= 0 && wait <= maxRetryAfterMs);
      }),
    );
  });

  it('agrees with the number for every delta-seconds value', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2_000_000 }),
        (seconds) => parseRetryAfter(String(seconds), now) === Math.min(seconds * 1000, maxRetryAfterMs),
      ),
    );
  });
});
