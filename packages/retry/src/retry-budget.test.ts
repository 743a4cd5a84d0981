import { virtualClock } from '@breakwater/testing';
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

  it('allows ratio x calls retries, exactly, on top of no floor', () => {
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
    expect(drain(budget)).toBe(11);
    await clock.advance(1_000_000);
    expect(budget.available).toBe(1);
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
