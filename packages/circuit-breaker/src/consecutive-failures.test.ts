import { describe, expect, it } from 'vitest';
import { consecutiveFailures } from './consecutive-failures.js';

describe('consecutiveFailures', () => {
  it('opens on the n-th failure in a row; a success starts the count again', () => {
    const counter = consecutiveFailures(3).create(0);
    expect([counter.failure(0, 0), counter.failure(0, 0), counter.success(0, 0)]).toEqual([
      false,
      false,
      false,
    ]);
    expect([counter.failure(0, 0), counter.failure(0, 0), counter.failure(0, 0)]).toEqual([
      false,
      false,
      true,
    ]);
    counter.reset(0);
    expect(counter.failure(0, 0)).toBe(false);
  });

  it('needs no clock', () => {
    expect(consecutiveFailures(1).measure).toBe('none');
  });

  it('round-trips its count through a snapshot, and each circuit gets its own count', () => {
    const breaker = consecutiveFailures(3);
    const counter = breaker.create(0);
    counter.failure(0, 0);
    counter.failure(0, 0);
    const snapshot = JSON.parse(JSON.stringify(counter.snapshot(0)));
    expect(snapshot).toEqual({ type: 'consecutiveFailures', failures: 2 });
    expect(breaker.create(0, snapshot).failure(0, 0)).toBe(true);
    expect(breaker.create(0).failure(0, 0)).toBe(false);
  });

  it('validates its threshold and a snapshot with clear messages', () => {
    expect(() => consecutiveFailures(0)).toThrow(
      new RangeError('consecutiveFailures: threshold must be an integer >= 1, received 0'),
    );
    expect(() => consecutiveFailures(undefined as never)).toThrow(
      new TypeError('consecutiveFailures: threshold is required'),
    );
    expect(() => consecutiveFailures('3' as never)).toThrow(
      new TypeError('consecutiveFailures: threshold must be an integer >= 1, received "3"'),
    );
    const breaker = consecutiveFailures(3);
    expect(() => breaker.create(0, { type: 'failureRate', failures: 1 })).toThrow(
      new TypeError(
        'consecutiveFailures: initialState.breaker.type must be "consecutiveFailures" (a snapshot of this kind of breaker), received "failureRate"',
      ),
    );
    expect(() => breaker.create(0, { type: 'consecutiveFailures', failures: -1 })).toThrow(
      new RangeError(
        'consecutiveFailures: initialState.breaker.failures must be an integer >= 0, received -1',
      ),
    );
    expect(() => breaker.create(0, { type: 'consecutiveFailures' })).toThrow(
      new TypeError('consecutiveFailures: initialState.breaker.failures is required'),
    );
    expect(() => breaker.create(0, { type: 'consecutiveFailures', failures: 0, extra: 1 })).toThrow(
      new TypeError(
        'consecutiveFailures: initialState.breaker has an unknown key "extra"; known keys: type, failures',
      ),
    );
    expect(() => breaker.create(0, 'x')).toThrow(
      new TypeError('consecutiveFailures: initialState.breaker must be an object, received "x"'),
    );
  });
});
