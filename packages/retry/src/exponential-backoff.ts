import { describeValue, durationOption, numberOption, oneOfOption, readOptions } from '@breakwater/core';
import type { Backoff, BackoffInput } from './backoff.js';

/**
 * How an exponential backoff randomises its delays, with Marc Brooker's formulas ("Exponential Backoff And
 * Jitter", AWS Architecture Blog, 2015), where `ceiling = min(maxMs, initialMs * factor ** (attempt - 1))`:
 * - `'full'`: `random_between(0, ceiling)`. The fewest calls for clients that failed together.
 * - `'equal'`: `ceiling / 2 + random_between(0, ceiling / 2)`. Never retries sooner than half the ceiling.
 * - `'decorrelated'`: `min(maxMs, random_between(initialMs, previous * 3))`, starting from `previous =
 *   initialMs`; grows from the previous delay, not the attempt, so it ignores `factor`.
 * - `'none'`: `ceiling`. Clients that failed together retry together; avoid for shared services.
 */
export type Jitter = 'full' | 'equal' | 'decorrelated' | 'none';

/** Options of {@link exponentialBackoff}. */
export interface ExponentialBackoffOptions {
  /** The first delay (its ceiling, with jitter), in milliseconds: > 0. @default 500 */
  initialMs?: number | undefined;
  /** The largest delay, in milliseconds: >= initialMs and <= 2147483647. @default 30000 */
  maxMs?: number | undefined;
  /** How much the ceiling grows per attempt: >= 1. Not accepted with `jitter: 'decorrelated'`. @default 2 */
  factor?: number | undefined;
  /** How delays are randomised; see {@link Jitter}. @default 'full' */
  jitter?: Jitter | undefined;
}

/** A capped exponential {@link Backoff} with jitter; see {@link exponentialBackoff}. */
export class ExponentialBackoff implements Backoff {
  /** The first delay's ceiling, in milliseconds. */
  readonly initialMs: number;
  /** The largest delay, in milliseconds. */
  readonly maxMs: number;
  /** The ceiling's growth per attempt (unused by decorrelated jitter). */
  readonly factor: number;
  /** How delays are randomised. */
  readonly jitter: Jitter;

  constructor(initialMs: number, maxMs: number, factor: number, jitter: Jitter) {
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.factor = factor;
    this.jitter = jitter;
    Object.freeze(this);
  }

  next({ attempt, previousDelayMs, random }: BackoffInput): number {
    const { initialMs, maxMs } = this;
    switch (this.jitter) {
      case 'decorrelated': {
        const previous = previousDelayMs ?? initialMs;
        return Math.min(maxMs, initialMs + random() * (previous * 3 - initialMs));
      }
      case 'full':
        return random() * this.#ceiling(attempt);
      case 'equal': {
        const half = this.#ceiling(attempt) / 2;
        return half + random() * half;
      }
      default:
        return this.#ceiling(attempt);
    }
  }

  /** `initialMs > 0`, so an overflowing power gives Infinity, capped to maxMs, never NaN. */
  #ceiling(attempt: number): number {
    return Math.min(this.maxMs, this.initialMs * this.factor ** (attempt - 1));
  }
}

/**
 * A capped exponential backoff with jitter. The defaults (500 ms doubling up to 30 s, full jitter) follow the
 * AWS and gRPC guidance; see {@link Jitter} for the modes.
 *
 * @example
 * ```ts
 * retry({ backoff: exponentialBackoff({ initialMs: 100, maxMs: 5_000, jitter: 'decorrelated' }) });
 * ```
 */
export function exponentialBackoff(options?: ExponentialBackoffOptions): ExponentialBackoff {
  const read = readOptions('exponentialBackoff', options, ['initialMs', 'maxMs', 'factor', 'jitter']);
  const max = 2_147_483_647;
  const initialMs = durationOption('exponentialBackoff', 'initialMs', read.initialMs, 500, {
    min: 0,
    minExclusive: true,
    max,
  });
  const maxMs = durationOption('exponentialBackoff', 'maxMs', read.maxMs, 30_000, { max });
  if (maxMs < initialMs) {
    throw new RangeError(
      `exponentialBackoff: maxMs${read.maxMs === undefined ? ' (default 30000)' : ''} must be >= initialMs (${initialMs}), received ${describeValue(maxMs)}`,
    );
  }
  const jitter = oneOfOption(
    'exponentialBackoff',
    'jitter',
    read.jitter,
    ['full', 'equal', 'decorrelated', 'none'],
    'full',
  );
  if (jitter === 'decorrelated' && read.factor !== undefined) {
    throw new TypeError(
      "exponentialBackoff: factor does not apply to jitter 'decorrelated', which grows each delay from the previous one (up to 3x); remove factor",
    );
  }
  const factor = numberOption('exponentialBackoff', 'factor', read.factor, 2, { min: 1 });
  return new ExponentialBackoff(initialMs, maxMs, factor, jitter);
}
