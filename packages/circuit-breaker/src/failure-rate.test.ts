import { describe, expect, it } from 'vitest';
import { failureRate } from './failure-rate.js';

describe('failureRate', () => {
  it('opens once the window holds minThroughput calls and the failure share reaches threshold', () => {
    const counter = failureRate({ threshold: 0.5, windowMs: 1000, minThroughput: 4 }).create(0);
    expect(counter.failure(0, 0)).toBe(false); // 1/1 failed, but only 1 call
    expect(counter.failure(10, 0)).toBe(false); // 2/2
    expect(counter.success(20, 0)).toBe(false);
    expect(counter.success(30, 0)).toBe(false); // 2/4 = threshold, but a success never opens
    expect(counter.failure(40, 0)).toBe(true); // 3/5 >= 0.5
  });

  it('compares the share exactly, without floating-point drift (3/10 reaches 0.3)', () => {
    const counter = failureRate({ threshold: 0.3, windowMs: 1000, minThroughput: 10 }).create(0);
    for (let i = 0; i < 7; i++) counter.success(0, 0);
    expect(counter.failure(0, 0)).toBe(false);
    expect(counter.failure(0, 0)).toBe(false);
    expect(counter.failure(0, 0)).toBe(true);
  });

  it('forgets a call when its bucket leaves the window: between 0.9 and 1 window after it', () => {
    const breaker = failureRate({ threshold: 1, windowMs: 1000, minThroughput: 2 });
    // Buckets are [0,100), [100,200), ... from the counter's creation at 0.
    const late = breaker.create(0);
    late.failure(199, 0); // bucket [100,200): forgotten at 1100, 901 ms later
    expect(late.failure(1099, 0)).toBe(true);
    const forgotten = breaker.create(0);
    forgotten.failure(199, 0);
    expect(forgotten.failure(1100, 0)).toBe(false);
    const early = breaker.create(0);
    early.failure(100, 0); // same bucket, forgotten 1000 ms later
    expect(early.failure(1099, 0)).toBe(true);
  });

  it('clears the whole window after a long idle time, and the totals stay consistent', () => {
    const counter = failureRate({ threshold: 0.5, windowMs: 1000, minThroughput: 3 }).create(0);
    for (let t = 0; t < 1000; t += 100) counter.success(t, 0);
    counter.failure(950, 0);
    expect(counter.failure(1_000_000, 0)).toBe(false); // everything before is gone: 1 call
    expect(counter.failure(1_000_001, 0)).toBe(false); // 2 calls
    expect(counter.success(1_000_002, 0)).toBe(false); // a success never opens
    expect(counter.failure(1_000_003, 0)).toBe(true); // 3/4
  });

  it('opens on slow calls, successes included, as resilience4j does', () => {
    const breaker = failureRate({
      threshold: 1,
      windowMs: 1000,
      minThroughput: 4,
      slowCallMs: 200,
      slowCallRate: 0.5,
    });
    expect(breaker.measure).toBe('duration');
    const counter = breaker.create(0);
    expect(counter.success(0, 199)).toBe(false);
    expect(counter.success(0, 10)).toBe(false);
    expect(counter.success(0, 200)).toBe(false); // 1 slow of 3 calls: below minThroughput anyway
    expect(counter.failure(0, 500)).toBe(true); // 2 slow of 4 = 50%, though failures are only 25%
  });

  it('measures only settle times without slowCallMs', () => {
    expect(failureRate().measure).toBe('time');
  });

  it('reset empties the window and starts its buckets at that time', () => {
    const counter = failureRate({ threshold: 0.5, windowMs: 1000, minThroughput: 2 }).create(0);
    counter.failure(10, 0);
    counter.reset(50);
    expect(counter.failure(60, 0)).toBe(false);
    // Buckets now start at 50: the failure at 60 is forgotten at 1050, not 1000.
    expect(counter.failure(1049, 0)).toBe(true);
  });

  it('round-trips its window through a snapshot taken on another clock origin', () => {
    const breaker = failureRate({ threshold: 0.5, windowMs: 1000, minThroughput: 4 });
    const original = breaker.create(0);
    original.failure(120, 0);
    original.success(450, 0);
    original.failure(930, 0);
    const snapshot = JSON.parse(JSON.stringify(original.snapshot(960)));
    expect(snapshot).toEqual({
      type: 'failureRate',
      windowMs: 1000,
      bucketAgeMs: 60,
      buckets: [
        [0, 0, 0],
        [1, 1, 0],
        [0, 0, 0],
        [0, 0, 0],
        [1, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
        [1, 1, 0],
      ],
    });
    // The restored counter lives on a clock 50 s ahead; it must forget the same calls at the same moments.
    const restored = breaker.create(50_960, snapshot);
    for (const [t, failed] of [
      [1000, false],
      [1150, true],
      [1199, true],
      [1200, false],
      [1460, true],
    ] as const) {
      const a = failed ? original.failure(t, 0) : original.success(t, 0);
      const b = failed ? restored.failure(t + 50_000, 0) : restored.success(t + 50_000, 0);
      expect(b).toBe(a);
      expect(restored.snapshot(t + 50_000)).toEqual(original.snapshot(t));
    }
  });

  it('validates its options and a snapshot with clear messages', () => {
    expect(() => failureRate({ threshold: 0 })).toThrow(
      new RangeError('failureRate: threshold must be a number > 0 and <= 1, received 0'),
    );
    expect(() => failureRate({ threshold: 1.5 })).toThrow(
      new RangeError('failureRate: threshold must be a number > 0 and <= 1, received 1.5'),
    );
    expect(() => failureRate({ windowMs: 0 })).toThrow(
      new RangeError('failureRate: windowMs must be a number > 0, received 0'),
    );
    expect(() => failureRate({ minThroughput: 0 })).toThrow(
      new RangeError('failureRate: minThroughput must be an integer >= 1, received 0'),
    );
    expect(() => failureRate({ slowCallMs: -1 })).toThrow(
      new RangeError('failureRate: slowCallMs must be a number > 0, received -1'),
    );
    expect(() => failureRate({ slowCallRate: 0.5 })).toThrow(
      new TypeError('failureRate: slowCallRate needs slowCallMs (the duration from which a call is slow)'),
    );
    expect(() => failureRate({ slowCallMs: 10, slowCallRate: 2 })).toThrow(
      new RangeError('failureRate: slowCallRate must be a number > 0 and <= 1, received 2'),
    );
    expect(() => failureRate({ treshold: 0.5 } as never)).toThrow(
      /^failureRate: unknown option "treshold" \(did you mean "threshold"\?\)/,
    );

    const breaker = failureRate({ windowMs: 1000 });
    const valid = breaker.create(0).snapshot(0) as { buckets: unknown[] };
    expect(() => breaker.create(0, { ...valid, windowMs: 2000 })).toThrow(
      new RangeError(
        "failureRate: initialState.breaker.windowMs is 2000, but this breaker's windowMs is 1000; a window cannot be restored into another length",
      ),
    );
    expect(() => breaker.create(0, { ...valid, buckets: valid.buckets.slice(1) })).toThrow(
      new TypeError(
        'failureRate: initialState.breaker.buckets must be an array of 10 [calls, failures, slowCalls]',
      ),
    );
    const badBucket = [...valid.buckets];
    badBucket[3] = [1, 2, 0];
    expect(() => breaker.create(0, { ...valid, buckets: badBucket })).toThrow(
      new RangeError(
        'failureRate: initialState.breaker.buckets[3][1] must be an integer >= 0 and <= 1, received 2',
      ),
    );
    badBucket[3] = [1, 0];
    expect(() => breaker.create(0, { ...valid, buckets: badBucket })).toThrow(
      new TypeError(
        'failureRate: initialState.breaker.buckets[3] must be an array [calls, failures, slowCalls]',
      ),
    );
    expect(() => breaker.create(0, { ...valid, bucketAgeMs: -5 })).toThrow(
      new RangeError('failureRate: initialState.breaker.bucketAgeMs must be a number >= 0, received -5'),
    );
    expect(() => breaker.create(0, { type: 'consecutiveFailures', failures: 1 })).toThrow(
      new TypeError(
        'failureRate: initialState.breaker.type must be "failureRate" (a snapshot of this kind of breaker), received "consecutiveFailures"',
      ),
    );
    expect(() => breaker.create(0, { ...valid, extra: true })).toThrow(
      new TypeError(
        'failureRate: initialState.breaker has an unknown key "extra"; known keys: type, windowMs, bucketAgeMs, buckets',
      ),
    );
  });
});
