import { durationOption, integerOption, numberOption, readOptions } from '@breakwater/core';
import type { Breaker, BreakerCounter } from './breaker.js';
import { requiredNumber, snapshotObject } from './snapshot-fields.js';

/** Options of {@link failureRate}. */
export interface FailureRateOptions {
  /**
   * The share of failed calls in the window that opens the circuit: a number > 0 and <= 1.
   * @default 0.5
   */
  threshold?: number | undefined;
  /**
   * The length of the sliding window, in milliseconds. It is kept as 10 buckets of `windowMs / 10`, so a call
   * counts for between `windowMs * 0.9` and `windowMs` after it settled.
   * @default 10_000
   */
  windowMs?: number | undefined;
  /**
   * How many calls the window must hold before any rate can open the circuit: an integer >= 1. It keeps one
   * early failure from opening a quiet circuit.
   * @default 20
   */
  minThroughput?: number | undefined;
  /**
   * A call that takes at least this long, in milliseconds, is slow, whether it succeeded or failed; slow calls
   * open the circuit when they reach `slowCallRate` of the window. Unset, call durations are not measured.
   * @default undefined (no slow-call detection)
   */
  slowCallMs?: number | undefined;
  /**
   * The share of slow calls in the window that opens the circuit: a number > 0 and <= 1. Needs `slowCallMs`.
   * @default 1
   */
  slowCallRate?: number | undefined;
}

/** The snapshot of a {@link failureRate} counter. */
export interface FailureRateSnapshot {
  readonly type: 'failureRate';
  /** The window length it was taken with; a counter restores only a snapshot of the same length. */
  readonly windowMs: number;
  /** How long ago (ms) the newest bucket began. */
  readonly bucketAgeMs: number;
  /** The 10 buckets, oldest first, each `[calls, failures, slowCalls]`. */
  readonly buckets: readonly (readonly [number, number, number])[];
}

/** Validated {@link FailureRateOptions}; `slowCallMs` is Infinity without slow-call detection. */
interface FailureRateConfig {
  readonly threshold: number;
  readonly windowMs: number;
  readonly minThroughput: number;
  readonly slowCallMs: number;
  readonly slowCallRate: number;
}

const name = 'failureRate';
const bucketCount = 10;

/**
 * A sliding window of `bucketCount` time buckets in fixed typed arrays, with running totals, so recording a
 * call is O(1) and allocates nothing. Buckets go stale lazily: a call first clears the buckets its clock time
 * has moved past, so an idle breaker costs no timer.
 */
class FailureRateCounter implements BreakerCounter {
  readonly #threshold: number;
  readonly #minThroughput: number;
  readonly #slowCallMs: number;
  readonly #slowCallRate: number;
  readonly #bucketMs: number;
  readonly #calls = new Uint32Array(bucketCount);
  readonly #failures = new Uint32Array(bucketCount);
  readonly #slow = new Uint32Array(bucketCount);
  #totalCalls = 0;
  #totalFailures = 0;
  #totalSlow = 0;
  #current = 0;
  #bucketStart: number;

  constructor(options: FailureRateConfig, now: number) {
    this.#threshold = options.threshold;
    this.#minThroughput = options.minThroughput;
    this.#slowCallMs = options.slowCallMs;
    this.#slowCallRate = options.slowCallRate;
    this.#bucketMs = options.windowMs / bucketCount;
    this.#bucketStart = now;
  }

  success(now: number, durationMs: number): boolean {
    this.#roll(now);
    this.#totalCalls++;
    this.#calls[this.#current]!++;
    if (durationMs < this.#slowCallMs) return false;
    this.#totalSlow++;
    this.#slow[this.#current]!++;
    return this.#exceeded();
  }

  failure(now: number, durationMs: number): boolean {
    this.#roll(now);
    this.#totalCalls++;
    this.#calls[this.#current]!++;
    this.#totalFailures++;
    this.#failures[this.#current]!++;
    if (durationMs >= this.#slowCallMs) {
      this.#totalSlow++;
      this.#slow[this.#current]!++;
    }
    return this.#exceeded();
  }

  reset(now: number): void {
    this.#calls.fill(0);
    this.#failures.fill(0);
    this.#slow.fill(0);
    this.#totalCalls = this.#totalFailures = this.#totalSlow = 0;
    this.#bucketStart = now;
  }

  snapshot(now: number): FailureRateSnapshot {
    this.#roll(now);
    const buckets: [number, number, number][] = [];
    for (let i = 1; i <= bucketCount; i++) {
      const b = (this.#current + i) % bucketCount;
      buckets.push([this.#calls[b]!, this.#failures[b]!, this.#slow[b]!]);
    }
    return {
      type: name,
      windowMs: this.#bucketMs * bucketCount,
      bucketAgeMs: now - this.#bucketStart,
      buckets,
    };
  }

  /** Restores buckets from a validated snapshot, oldest first, so that the newest lands in the current one. */
  restore(snapshot: FailureRateSnapshot, now: number): void {
    snapshot.buckets.forEach(([calls, failures, slow], b) => {
      this.#calls[b] = calls;
      this.#failures[b] = failures;
      this.#slow[b] = slow;
      this.#totalCalls += calls;
      this.#totalFailures += failures;
      this.#totalSlow += slow;
    });
    this.#current = bucketCount - 1;
    this.#bucketStart = now - snapshot.bucketAgeMs;
  }

  #exceeded(): boolean {
    const calls = this.#totalCalls;
    return (
      calls >= this.#minThroughput &&
      (this.#totalFailures / calls >= this.#threshold || this.#totalSlow / calls >= this.#slowCallRate)
    );
  }

  /** Moves the window to `now`: clears every bucket that `now` has passed since the current one began. */
  #roll(now: number): void {
    const elapsed = now - this.#bucketStart;
    if (elapsed < this.#bucketMs) return;
    const steps = Math.floor(elapsed / this.#bucketMs);
    for (let i = Math.min(steps, bucketCount); i > 0; i--) {
      const b = (this.#current + 1) % bucketCount;
      this.#current = b;
      this.#totalCalls -= this.#calls[b]!;
      this.#totalFailures -= this.#failures[b]!;
      this.#totalSlow -= this.#slow[b]!;
      this.#calls[b] = this.#failures[b] = this.#slow[b] = 0;
    }
    this.#bucketStart += steps * this.#bucketMs;
  }
}

/**
 * Opens the circuit when, over a sliding time window holding at least `minThroughput` calls, the share of
 * failures reaches `threshold`, or (with `slowCallMs`) the share of slow calls reaches `slowCallRate`, as in
 * resilience4j. Memory is fixed (10 buckets), recording a call is O(1) and allocates nothing, and no timer
 * runs: old buckets are cleared when the next call comes.
 *
 * @example
 * ```ts
 * // Open when half the calls of the last 30 s fail, or 80% take 2 s or more, once 50 calls were seen.
 * failureRate({ threshold: 0.5, windowMs: 30_000, minThroughput: 50, slowCallMs: 2_000, slowCallRate: 0.8 });
 * ```
 */
export function failureRate(options?: FailureRateOptions): Breaker {
  const read = readOptions(name, options, [
    'threshold',
    'windowMs',
    'minThroughput',
    'slowCallMs',
    'slowCallRate',
  ]);
  const rate = { min: 0, minExclusive: true, max: 1 };
  const threshold = numberOption(name, 'threshold', read.threshold, 0.5, rate);
  const windowMs = durationOption(name, 'windowMs', read.windowMs, 10_000, { minExclusive: true });
  const minThroughput = integerOption(name, 'minThroughput', read.minThroughput, 20, { min: 1 });
  const slowCallMs = durationOption(name, 'slowCallMs', read.slowCallMs, Number.POSITIVE_INFINITY, {
    minExclusive: true,
  });
  if (read.slowCallRate !== undefined && read.slowCallMs === undefined) {
    throw new TypeError(`${name}: slowCallRate needs slowCallMs (the duration from which a call is slow)`);
  }
  const slowCallRate = numberOption(name, 'slowCallRate', read.slowCallRate, 1, rate);
  const config: FailureRateConfig = { threshold, windowMs, minThroughput, slowCallMs, slowCallRate };
  return Object.freeze({
    measure: slowCallMs === Number.POSITIVE_INFINITY ? 'time' : 'duration',
    create(now: number, snapshot?: unknown): BreakerCounter {
      const counter = new FailureRateCounter(config, now);
      if (snapshot !== undefined) counter.restore(readSnapshot(snapshot, windowMs), now);
      return counter;
    },
  } as const);
}

function readSnapshot(snapshot: unknown, windowMs: number): FailureRateSnapshot {
  const path = 'initialState.breaker';
  const read = snapshotObject(name, path, snapshot, ['type', 'windowMs', 'bucketAgeMs', 'buckets'], name);
  const savedWindowMs = requiredNumber(name, `${path}.windowMs`, read.windowMs, {
    min: 0,
    minExclusive: true,
  });
  if (savedWindowMs !== windowMs) {
    throw new RangeError(
      `${name}: ${path}.windowMs is ${savedWindowMs}, but this breaker's windowMs is ${windowMs}; a window cannot be restored into another length`,
    );
  }
  const bucketAgeMs = requiredNumber(name, `${path}.bucketAgeMs`, read.bucketAgeMs, { min: 0 });
  const buckets = read.buckets;
  if (!Array.isArray(buckets) || buckets.length !== bucketCount) {
    throw new TypeError(
      `${name}: ${path}.buckets must be an array of ${bucketCount} [calls, failures, slowCalls]`,
    );
  }
  const counts = { min: 0, max: 0xffff_ffff, integer: true };
  return {
    type: name,
    windowMs,
    bucketAgeMs,
    buckets: buckets.map((bucket: unknown, i) => {
      const at = `${path}.buckets[${i}]`;
      if (!Array.isArray(bucket) || bucket.length !== 3) {
        throw new TypeError(`${name}: ${at} must be an array [calls, failures, slowCalls]`);
      }
      const calls = requiredNumber(name, `${at}[0]`, bucket[0], counts);
      const failures = requiredNumber(name, `${at}[1]`, bucket[1], { ...counts, max: calls });
      const slow = requiredNumber(name, `${at}[2]`, bucket[2], { ...counts, max: calls });
      return [calls, failures, slow] as const;
    }),
  };
}
