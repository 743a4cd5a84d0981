import { virtualClock } from '@breakwater/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { retryBudget } from './index.js';

/** Withdraws until the budget says no; returns how many retries it allowed. */
function drain(budget: { tryWithdraw(): boolean }): number {
  let allowed = 0;
  while (budget.tryWithdraw()) allowed++;
  return allowed;
}

describe('retryBudget', () => {
  it('has the documented defaults', () => {
    const budget = retryBudget();
    expect({ ratio: budget.ratio, minPerSecond: budget.minPerSecond, windowMs: budget.windowMs }).toEqual({
      ratio: 0.1,
      minPerSecond: 10,
      windowMs: 10_000,
    });
  });

  it('allows ratio x calls retries, exactly, with no floor', () => {
    const budget = retryBudget({ ratio: 0.1, minPerSecond: 0, clock: virtualClock() });
    expect(budget.tryWithdraw()).toBe(false);
    for (let i = 0; i < 9; i++) budget.deposit();
    expect(budget.available).toBe(0);
    expect(budget.tryWithdraw()).toBe(false);
    budget.deposit();
    expect(budget.available).toBe(1);
    for (let i = 0; i < 990; i++) budget.deposit();
    expect(budget.available).toBe(100);
    expect(drain(budget)).toBe(100);
    expect(budget.available).toBe(0);
  });

  it('handles ratios that are not exact in binary floating point', () => {
    const budget = retryBudget({ ratio: 0.3, minPerSecond: 0, clock: virtualClock() });
    for (let i = 0; i < 10; i++) budget.deposit();
    expect(drain(budget)).toBe(3);
  });

  it('allows minPerSecond x window seconds retries without any traffic', () => {
    const budget = retryBudget({ minPerSecond: 10, windowMs: 10_000, clock: virtualClock() });
    expect(budget.available).toBe(100);
    expect(drain(budget)).toBe(100);
    expect(retryBudget({ minPerSecond: 2.5, windowMs: 2_000, clock: virtualClock() }).available).toBe(5);
  });

  it('takes the larger of ratio x calls and the floor, not their sum', () => {
    const options = { ratio: 0.1, minPerSecond: 10, windowMs: 10_000 };
    const quiet = retryBudget({ ...options, clock: virtualClock() });
    for (let i = 0; i < 50; i++) quiet.deposit();
    expect(quiet.available).toBe(100); // the floor wins: 10/s x 10 s, not 5 + 100
    expect(drain(quiet)).toBe(100);

    const busy = retryBudget({ ...options, clock: virtualClock() });
    for (let i = 0; i < 2_000; i++) busy.deposit();
    expect(busy.available).toBe(200); // the ratio wins: 0.1 x 2,000, not 200 + 100
    expect(drain(busy)).toBe(200);

    const even = retryBudget({ ...options, clock: virtualClock() });
    for (let i = 0; i < 1_000; i++) even.deposit();
    expect(even.available).toBe(100); // where the two meet
    for (let i = 0; i < 10; i++) even.deposit();
    expect(even.available).toBe(101);
  });

  it('counts retries taken under the floor against what the ratio allows later', () => {
    const budget = retryBudget({ ratio: 0.1, minPerSecond: 10, windowMs: 10_000, clock: virtualClock() });
    for (let i = 0; i < 500; i++) budget.deposit();
    expect(drain(budget)).toBe(100);
    for (let i = 0; i < 1_000; i++) budget.deposit();
    expect(budget.available).toBe(50); // max(150, 100) - 100
    for (let i = 0; i < 500; i++) budget.deposit();
    expect(drain(budget)).toBe(100); // max(200, 100) - 100
    expect(budget.tryWithdraw()).toBe(false);
  });

  it('applies the rule to what is left in the window as buckets rotate', async () => {
    const clock = virtualClock();
    const budget = retryBudget({ ratio: 0.1, minPerSecond: 10, windowMs: 10_000, clock });
    for (let i = 0; i < 2_000; i++) budget.deposit(); // bucket [0, 1000)
    for (let i = 0; i < 150; i++) expect(budget.tryWithdraw()).toBe(true);
    expect(budget.available).toBe(50);
    await clock.advance(5_000);
    for (let i = 0; i < 1_000; i++) budget.deposit(); // bucket [5000, 6000): 3,000 calls in the window
    expect(drain(budget)).toBe(150); // max(300, 100) - 150
    await clock.advance(4_999); // 9999: the first bucket still counts
    expect(budget.tryWithdraw()).toBe(false);
    await clock.advance(1); // 10000: 2,000 calls and 150 retries leave; 1,000 calls and 150 retries stay
    expect(budget.available).toBe(0); // max(100, 100) - 150 is below zero: nothing until retries leave too
    expect(budget.tryWithdraw()).toBe(false);
    for (let i = 0; i < 1_600; i++) budget.deposit(); // 2,600 calls in the window
    expect(drain(budget)).toBe(110); // max(260, 100) - 150
    await clock.advance(5_000); // 15000: only the 1,600 calls and the 110 retries of [10000, 11000) count
    expect(budget.available).toBe(50); // max(160, 100) - 110
    await clock.advance(4_999); // 19999
    expect(budget.available).toBe(50);
    await clock.advance(1); // 20000: the window is empty, the floor alone counts
    expect(budget.available).toBe(100);
  });

  it('forgets calls and retries once they leave the sliding window', async () => {
    const clock = virtualClock();
    const budget = retryBudget({ ratio: 0.5, minPerSecond: 0, windowMs: 10_000, clock });
    for (let i = 0; i < 20; i++) budget.deposit(); // bucket [0, 1000)
    expect(drain(budget)).toBe(10);
    await clock.advance(5_000);
    for (let i = 0; i < 4; i++) budget.deposit(); // bucket [5000, 6000)
    expect(budget.available).toBe(2);
    await clock.advance(4_999); // 9999: the first bucket still counts
    expect(budget.available).toBe(2);
    await clock.advance(1); // 10000: the first bucket (20 calls, 10 retries) has left the window
    expect(budget.available).toBe(2);
    expect(drain(budget)).toBe(2);
    await clock.advance(6_000); // the second bucket has left too; the 2 retries taken at 10000 still count
    expect(budget.available).toBe(0);
    for (let i = 0; i < 6; i++) budget.deposit();
    expect(budget.available).toBe(1);
    await clock.advance(4_000); // 20000: those 2 retries have left the window
    expect(budget.available).toBe(3);
  });

  it('recovers after a long idle gap (more than a window) in one step', async () => {
    const clock = virtualClock();
    const budget = retryBudget({ ratio: 1, minPerSecond: 1, windowMs: 1_000, clock });
    for (let i = 0; i < 10; i++) budget.deposit();
    expect(drain(budget)).toBe(10);
    await clock.advance(1_000_000);
    expect(budget.available).toBe(1);
  });

  it('moves to the next bucket exactly on its boundary when windowMs / 10 is not exact in binary', async () => {
    const clock = virtualClock({ start: 2 * 1_283 });
    const budget = retryBudget({ ratio: 1, minPerSecond: 0, windowMs: 1_283, clock });
    budget.deposit();
    await clock.advance(1_282); // 3848
    expect(budget.available).toBe(1);
    await clock.advance(1); // 3849 = 3 windows: the call has left (3849 / 128.3 is 29.999... in floating point)
    expect(budget.available).toBe(0);
  });

  it('works with a clock that starts below zero', async () => {
    const clock = virtualClock({ start: -5_500 });
    const budget = retryBudget({ ratio: 1, minPerSecond: 0, windowMs: 1_000, clock });
    budget.deposit();
    await clock.advance(500);
    budget.deposit();
    expect(budget.available).toBe(2);
    await clock.advance(1_000);
    expect(budget.available).toBe(0);
  });

  it('grants a retry exactly when the retries in the window stay within max(ratio x calls in it, floor)', async () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('deposit' as const), count: fc.integer({ min: 1, max: 400 }) }),
      fc.record({ kind: fc.constant('withdraw' as const), count: fc.integer({ min: 1, max: 60 }) }),
      fc.record({
        kind: fc.constant('advance' as const),
        ms: fc.oneof(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 90_000 })),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 100 }), // the ratio, in hundredths
        fc.integer({ min: 0, max: 20 }), // minPerSecond
        fc.integer({ min: 1_000, max: 60_000 }), // windowMs
        fc.integer({ min: -100_000, max: 100_000 }), // the clock's start
        fc.array(step, { maxLength: 40 }),
        async (percent, minPerSecond, windowMs, start, steps) => {
          const clock = virtualClock({ start });
          const budget = retryBudget({ ratio: percent / 100, minPerSecond, windowMs, clock });
          // The reference model, in integers: calls and granted retries per tenth of a window, and the limit
          // max(ratio x calls in the window, minPerSecond x window seconds) in thousandths of a retry.
          const deposits = new Map<number, number>();
          const withdrawals = new Map<number, number>();
          const bucket = (): number => Math.floor((clock.now() * 10) / windowMs);
          const add = (log: Map<number, number>): void => {
            log.set(bucket(), (log.get(bucket()) ?? 0) + 1);
          };
          const inWindow = (log: ReadonlyMap<number, number>): number => {
            let sum = 0;
            for (let b = bucket() - 9; b <= bucket(); b++) sum += log.get(b) ?? 0;
            return sum;
          };
          const limit = (): number => Math.max(10 * percent * inWindow(deposits), minPerSecond * windowMs);
          for (const s of steps) {
            if (s.kind === 'advance') await clock.advance(s.ms);
            else if (s.kind === 'deposit') {
              for (let i = 0; i < s.count; i++) {
                budget.deposit();
                add(deposits);
              }
            } else {
              for (let i = 0; i < s.count; i++) {
                // Granted only if the retries in the window, this one included, stay within the limit: never
                // more, and never refused when they would.
                const allowed = 1_000 * (inWindow(withdrawals) + 1) <= limit();
                expect(budget.tryWithdraw()).toBe(allowed);
                if (allowed) add(withdrawals);
              }
            }
            expect(budget.available).toBe(
              Math.max(0, Math.floor((limit() - 1_000 * inWindow(withdrawals)) / 1_000)),
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each<[unknown, ErrorConstructor, string]>([
    [{ ratio: -0.1 }, RangeError, 'retryBudget: ratio must be a number >= 0 and <= 1, received -0.1'],
    [{ ratio: 20 }, RangeError, 'retryBudget: ratio must be a number >= 0 and <= 1, received 20'],
    [{ ratio: '0.1' }, TypeError, 'retryBudget: ratio must be a number'],
    [{ minPerSecond: -1 }, RangeError, 'retryBudget: minPerSecond must be a number >= 0, received -1'],
    [
      { minPerSecond: Number.POSITIVE_INFINITY },
      RangeError,
      'retryBudget: minPerSecond must be a number >= 0',
    ],
    [
      { windowMs: 999 },
      RangeError,
      'retryBudget: windowMs must be a number >= 1000 and <= 60000, received 999',
    ],
    [{ windowMs: 60_001 }, RangeError, 'retryBudget: windowMs must be a number >= 1000 and <= 60000'],
    [
      { clock: 5 },
      TypeError,
      'retryBudget: clock must be an object with now(), setTimeout() and clearTimeout()',
    ],
    [{ percent: 20 }, TypeError, 'retryBudget: unknown option "percent"'],
    [{ minRetriesPerSecond: 20 }, TypeError, 'retryBudget: unknown option "minRetriesPerSecond"'],
  ])('rejects %o', (options, ErrorType, message) => {
    const build = () => retryBudget(options as Parameters<typeof retryBudget>[0]);
    expect(build).toThrow(ErrorType);
    expect(build).toThrow(message);
  });
});
