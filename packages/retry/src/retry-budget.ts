import { type Clock, clockOption, durationOption, numberOption, readOptions } from '@breakwater/core';

/**
 * Caps retries as a share of traffic. A retry policy calls `deposit()` once per call it runs and
 * `tryWithdraw()` before each retry, and gives up when that returns false. Many policies may share one budget
 * (e.g. every retry towards one service). Implement it yourself to keep a budget elsewhere.
 */
export interface RetryBudget {
  /** Records one call (a first attempt). */
  deposit(): void;
  /** Takes one retry out of the budget; false when there is none left, and then nothing is taken. */
  tryWithdraw(): boolean;
}

/** Options of {@link retryBudget}. */
export interface RetryBudgetOptions {
  /**
   * Retries allowed per call: 0.1 lets retries add at most 10% to the traffic whenever the calls in the window
   * earn more retries than the floor (Google SRE's per-client budget); Finagle and Envoy use 0.2. A number >= 0
   * and <= 1.
   * @default 0.1
   */
  ratio?: number | undefined;
  /**
   * The floor, in retries per second: the window always allows at least `minPerSecond * windowMs / 1000`
   * retries, so that a quiet client can still retry. A minimum, not an addition: once `ratio` times the calls in
   * the window exceeds it, the floor no longer counts. A number >= 0.
   * @default 10
   */
  minPerSecond?: number | undefined;
  /**
   * How long a call or a retry counts, in milliseconds: the sliding window (kept in 10 buckets, so it slides
   * in steps of windowMs / 10). At least 1000 and at most 60000, as in Finagle.
   * @default 10000
   */
  windowMs?: number | undefined;
  /** Source of time for the window. @default systemClock */
  clock?: Clock | undefined;
}

const bucketCount = 10;
/** Float slack, so that e.g. 10 calls at ratio 0.1 allow exactly 1 retry. */
const epsilon = 1e-9;

/**
 * A retry budget over a time-bucketed sliding window: a retry is allowed while the retries in the window stay
 * within the larger of `ratio` times the calls in it and the floor, `minPerSecond` times the window's seconds.
 * The floor is a minimum, as in Envoy's (concurrency-based) budget, not an addition as in Finagle's: under load
 * the ratio alone bounds the retries, so an outage costs at most `1 + ratio` times the traffic. Memory is fixed
 * (two arrays of 10 counters) and no call allocates.
 */
export class WindowedRetryBudget implements RetryBudget {
  /** Retries allowed per call. */
  readonly ratio: number;
  /** The floor, in retries per second: the window allows at least this many per second of it. */
  readonly minPerSecond: number;
  /** The sliding window, in milliseconds. */
  readonly windowMs: number;
  readonly #clock: Clock;
  /** The floor over the whole window, in retries. */
  readonly #floor: number;
  readonly #deposits = new Float64Array(bucketCount);
  readonly #withdrawals = new Float64Array(bucketCount);
  #depositTotal = 0;
  #withdrawalTotal = 0;
  /** The bucket that counts now, as a number of bucket lengths since the clock's zero. */
  #slot: number;

  constructor(ratio: number, minPerSecond: number, windowMs: number, clock: Clock) {
    this.ratio = ratio;
    this.minPerSecond = minPerSecond;
    this.windowMs = windowMs;
    this.#clock = clock;
    this.#floor = (minPerSecond * windowMs) / 1000;
    this.#slot = this.#slotAt(clock.now());
  }

  /** How many retries the budget allows now. */
  get available(): number {
    this.#rotate();
    return Math.max(0, Math.floor(this.#balance() + epsilon));
  }

  deposit(): void {
    this.#deposits[this.#rotate()]!++;
    this.#depositTotal++;
  }

  tryWithdraw(): boolean {
    const bucket = this.#rotate();
    if (this.#balance() < 1 - epsilon) return false;
    this.#withdrawals[bucket]!++;
    this.#withdrawalTotal++;
    return true;
  }

  #balance(): number {
    return Math.max(this.#depositTotal * this.ratio, this.#floor) - this.#withdrawalTotal;
  }

  /**
   * Multiplies before dividing: `time / (windowMs / 10)` can land just below a bucket's boundary when
   * windowMs / 10 is not exact in binary (3849 / 128.3 gives 29.999...), which would keep a bucket a step too long.
   */
  #slotAt(time: number): number {
    return Math.floor((time * bucketCount) / this.windowMs);
  }

  /** Empties the buckets that left the window since the last call; returns the index of the current one. */
  #rotate(): number {
    const slot = this.#slotAt(this.#clock.now());
    const elapsed = slot - this.#slot;
    if (elapsed > 0) {
      for (let i = Math.min(elapsed, bucketCount); i > 0; i--) {
        const index = indexOf(slot - i + 1);
        this.#depositTotal -= this.#deposits[index]!;
        this.#withdrawalTotal -= this.#withdrawals[index]!;
        this.#deposits[index] = 0;
        this.#withdrawals[index] = 0;
      }
      this.#slot = slot;
    }
    return indexOf(this.#slot);
  }
}

function indexOf(slot: number): number {
  return ((slot % bucketCount) + bucketCount) % bucketCount;
}

/**
 * A retry budget to share between retry policies: retries stay within `ratio` of the calls, or a small floor
 * when that is larger. With the defaults, a client making more than 100 calls per second sends at most 1.1x its
 * calls during an outage, instead of `maxAttempts` times them.
 *
 * @example
 * ```ts
 * const budget = retryBudget(); // 10% of the calls, at least 10 retries per second, over 10 s
 * const a = retry({ budget });
 * const b = retry({ budget, maxAttempts: 5 });
 * ```
 */
export function retryBudget(options?: RetryBudgetOptions): WindowedRetryBudget {
  const read = readOptions('retryBudget', options, ['ratio', 'minPerSecond', 'windowMs', 'clock']);
  return new WindowedRetryBudget(
    numberOption('retryBudget', 'ratio', read.ratio, 0.1, { min: 0, max: 1 }),
    numberOption('retryBudget', 'minPerSecond', read.minPerSecond, 10, { min: 0 }),
    durationOption('retryBudget', 'windowMs', read.windowMs, 10_000, { min: 1_000, max: 60_000 }),
    clockOption('retryBudget', read.clock),
  );
}
