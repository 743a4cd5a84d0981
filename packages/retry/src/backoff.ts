/** What a {@link Backoff} knows when it computes one delay. */
export interface BackoffInput {
  /**
   * Which delay of the sequence this is: 1 for the first one. In a retry it is the number of the attempt that
   * just failed; in a circuit breaker, the number of consecutive breaks.
   */
  readonly attempt: number;
  /** What this backoff returned for the previous delay of the same sequence; `undefined` for the first one. */
  readonly previousDelayMs: number | undefined;
  /** A random source in [0, 1), injected by the policy so that tests can seed it. */
  readonly random: () => number;
}

/**
 * A sequence of delays, computed one at a time from the input alone. A backoff keeps no state, so one value can
 * serve any number of concurrent sequences (retry loops, breakers); whatever a delay depends on (the attempt,
 * the previous delay) is carried by the caller in {@link BackoffInput}. Write your own as a plain object:
 *
 * @example
 * ```ts
 * const linear: Backoff = { next: ({ attempt }) => attempt * 100 };
 * const exponential = exponentialBackoff({ initialMs: 100 });
 * const atMostTwoSeconds: Backoff = { next: (input) => Math.min(2_000, exponential.next(input)) };
 * ```
 */
export interface Backoff {
  /** The delay in milliseconds (a number >= 0) for `input`. */
  next(input: BackoffInput): number;
}
