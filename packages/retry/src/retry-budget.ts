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
   * Retries allowed per call, on top of the floor: 0.1 lets retries add at most 10% to the traffic (Google SRE's
   * per-client budget); Finagle and Envoy use 0.2. A number >= 0 and <= 1.
   * @default 0.1
   */
  ratio?: number | undefined;
  /**
   * Retries per second allowed even without traffic, so that a quiet client can still retry: the window holds
   * `minPerSecond * windowMs / 1000` of them. A number >= 0.
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
 * A Finagle-style retry budget over a time-bucketed sliding window: within any window, retries may not exceed
 * `ratio` times the calls plus `minPerSecond` times the window's seconds. Memory is fixed (two arrays of 10
 * counters) and no call allocates.
 */
export class WindowedRetryBudget implements RetryBudget {
  /** Retries allowed per call. */
  readonly ratio: number;
  /** Retries per second allowed without traffic. */
  readonly minPerSecond: number;
  /** The sliding window, in milliseconds. */
  readonly windowMs: number;
  readonly #clock: Clock;
  readonly #bucketMs: number;
  readonly #reserve: number;
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
    this.#bucketMs = windowMs / bucketCount;
    this.#reserve = (minPerSecond * windowMs) / 1000;
    this.#slot = Math.floor(clock.now() / this.#bucketMs);
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
    return this.#depositTotal * this.ratio + this.#reserve - this.#withdrawalTotal;
  }

  /** Empties the buckets that left the window since the last call; returns the index of the current one. */
  #rotate(): number {
    const slot = Math.floor(this.#clock.now() / this.#bucketMs);
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
 * A retry budget to share between retry policies: retries stay within `ratio` of the calls plus a small floor,
 * so that an outage costs about 1.1x the normal traffic instead of `maxAttempts` times it.
 *
 * @example
 * ```ts
 * const budget = retryBudget(); // 10% plus 10 retries per second, over 10 s
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
