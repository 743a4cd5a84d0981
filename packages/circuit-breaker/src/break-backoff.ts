/**
 * What {@link BreakBackoff.next} receives. It has the shape of `BackoffInput` from `@breakwater/retry`, so any
 * backoff of that package (or your own) can set the length of breaks, without this package depending on it.
 */
export interface BreakBackoffInput {
  /** The number of breaks in a row, this one included: 1 for the first break after the circuit was closed. */
  readonly attempt: number;
  /** The length of the previous break of the same row, in milliseconds; `undefined` for the first one. */
  readonly previousDelayMs: number | undefined;
  /** The circuit breaker's random source in [0, 1), for jittered backoffs. */
  readonly random: () => number;
}

/**
 * Break lengths that grow while a circuit keeps failing its probes: every reopening from half-open asks for
 * the next delay, and closing starts over from the first. `exponentialBackoff(...)` from `@breakwater/retry`
 * fits as is.
 */
export interface BreakBackoff {
  /** The length of the break, in milliseconds: a finite number >= 0. */
  next(input: BreakBackoffInput): number;
}
