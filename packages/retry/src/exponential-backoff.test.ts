import { seededRandom } from '@breakwater/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Backoff, exponentialBackoff, type Jitter } from './index.js';

/** Runs a backoff through `count` delays of one sequence, as a retry loop does. */
function sequence(backoff: Backoff, count: number, random: () => number): number[] {
  const delays: number[] = [];
  let previousDelayMs: number | undefined;
  for (let attempt = 1; attempt <= count; attempt++) {
    previousDelayMs = backoff.next({ attempt, previousDelayMs, random });
    delays.push(previousDelayMs);
  }
  return delays;
}

describe('exponentialBackoff', () => {
  it('has the documented defaults: 500 ms doubling up to 30 s with full jitter', () => {
    const backoff = exponentialBackoff();
    expect({ ...backoff }).toEqual({ initialMs: 500, maxMs: 30_000, factor: 2, jitter: 'full' });
    expect(Object.isFrozen(backoff)).toBe(true);
  });

  it("'none' follows min(maxMs, initialMs * factor ** (attempt - 1)) exactly", () => {
    const backoff = exponentialBackoff({ initialMs: 100, maxMs: 1_000, factor: 3, jitter: 'none' });
    expect(sequence(backoff, 5, () => 0.5)).toEqual([100, 300, 900, 1_000, 1_000]);
  });

  it("'full' is random_between(0, ceiling) with the seeded random", () => {
    const backoff = exponentialBackoff({ initialMs: 100, maxMs: 1_000, jitter: 'full' });
    const expectedRandom = seededRandom(7);
    const ceilings = [100, 200, 400, 800, 1_000, 1_000];
    const expected = ceilings.map((ceiling) => expectedRandom() * ceiling);
    expect(sequence(backoff, 6, seededRandom(7))).toEqual(expected);
  });

  it("'equal' is ceiling / 2 + random_between(0, ceiling / 2) with the seeded random", () => {
    const backoff = exponentialBackoff({ initialMs: 100, maxMs: 1_000, jitter: 'equal' });
    const expectedRandom = seededRandom(8);
    const ceilings = [100, 200, 400, 800, 1_000, 1_000];
    const expected = ceilings.map((ceiling) => ceiling / 2 + expectedRandom() * (ceiling / 2));
    expect(sequence(backoff, 6, seededRandom(8))).toEqual(expected);
  });

  it("'decorrelated' is min(cap, random_between(base, previous * 3)) from previous = base", () => {
    const backoff = exponentialBackoff({ initialMs: 100, maxMs: 2_000, jitter: 'decorrelated' });
    const expectedRandom = seededRandom(9);
    const expected: number[] = [];
    let sleep = 100;
    for (let i = 0; i < 8; i++) {
      sleep = Math.min(2_000, 100 + expectedRandom() * (sleep * 3 - 100));
      expected.push(sleep);
    }
    expect(sequence(backoff, 8, seededRandom(9))).toEqual(expected);
  });

  it('uses only its input, so one backoff serves interleaved sequences', () => {
    const backoff = exponentialBackoff({ initialMs: 10, jitter: 'decorrelated' });
    const a = backoff.next({ attempt: 1, previousDelayMs: undefined, random: () => 0.5 });
    backoff.next({ attempt: 7, previousDelayMs: 5_000, random: () => 0.9 });
    expect(backoff.next({ attempt: 1, previousDelayMs: undefined, random: () => 0.5 })).toBe(a);
  });

  it('stays finite and capped after any number of attempts (no NaN from an overflowing power)', () => {
    for (const jitter of ['full', 'equal', 'none'] as const) {
      const delay = exponentialBackoff({ initialMs: 1, maxMs: 100, factor: 10, jitter }).next({
        attempt: 10_000,
        previousDelayMs: 100,
        random: () => 0.999,
      });
      expect(delay).toBeGreaterThan(0);
      expect(delay).toBeLessThanOrEqual(100);
    }
    const huge = exponentialBackoff({ initialMs: 1, maxMs: 100, jitter: 'decorrelated' });
    expect(sequence(huge, 10_000, seededRandom(1)).every((d) => d >= 1 && d <= 100)).toBe(true);
  });

  it('keeps every delay within its jitter bounds (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Jitter>('full', 'equal', 'decorrelated', 'none'),
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 1, max: 5, noNaN: true }),
        fc.integer(),
        fc.integer({ min: 1, max: 40 }),
        (jitter, initialMs, extraMs, factor, seed, count) => {
          const maxMs = initialMs + extraMs;
          const backoff = exponentialBackoff(
            jitter === 'decorrelated' ? { initialMs, maxMs, jitter } : { initialMs, maxMs, factor, jitter },
          );
          const delays = sequence(backoff, count, seededRandom(seed));
          delays.forEach((delay, i) => {
            const ceiling = Math.min(maxMs, initialMs * factor ** i);
            const [low, high] =
              jitter === 'full'
                ? [0, ceiling]
                : jitter === 'equal'
                  ? [ceiling / 2, ceiling]
                  : jitter === 'none'
                    ? [ceiling, ceiling]
                    : [initialMs, Math.min(maxMs, 3 * (i === 0 ? initialMs : delays[i - 1]!))];
            expect(delay).toBeGreaterThanOrEqual(low);
            expect(delay).toBeLessThanOrEqual(high);
          });
        },
      ),
    );
  });

  it.each<[unknown, ErrorConstructor, string]>([
    [
      { initialMs: 0 },
      RangeError,
      'exponentialBackoff: initialMs must be a number > 0 and <= 2147483647, received 0',
    ],
    [{ initialMs: '5' }, TypeError, 'exponentialBackoff: initialMs must be a number'],
    [
      { maxMs: -1 },
      RangeError,
      'exponentialBackoff: maxMs must be a number >= 0 and <= 2147483647, received -1',
    ],
    [{ maxMs: 2 ** 31 }, RangeError, 'exponentialBackoff: maxMs must be'],
    [
      { initialMs: 100, maxMs: 50 },
      RangeError,
      'exponentialBackoff: maxMs must be >= initialMs (100), received 50',
    ],
    [
      { initialMs: 60_000 },
      RangeError,
      'exponentialBackoff: maxMs (default 30000) must be >= initialMs (60000)',
    ],
    [{ factor: 0.5 }, RangeError, 'exponentialBackoff: factor must be a number >= 1, received 0.5'],
    [{ factor: Number.NaN }, RangeError, 'exponentialBackoff: factor must be a number >= 1, received NaN'],
    [
      { jitter: 'half' },
      RangeError,
      'exponentialBackoff: jitter must be one of "full", "equal", "decorrelated", "none"',
    ],
    [
      { jitter: 'decorrelated', factor: 2 },
      TypeError,
      "exponentialBackoff: factor does not apply to jitter 'decorrelated'",
    ],
    [{ base: 100 }, TypeError, 'exponentialBackoff: unknown option "base"'],
    [{ maxDelayMs: 100 }, TypeError, 'exponentialBackoff: unknown option "maxDelayMs"'],
    ['fast', TypeError, 'exponentialBackoff: options must be an object, received "fast"'],
  ])('rejects %o', (options, ErrorType, message) => {
    const build = () => exponentialBackoff(options as Parameters<typeof exponentialBackoff>[0]);
    expect(build).toThrow(ErrorType);
    expect(build).toThrow(message);
  });
});
