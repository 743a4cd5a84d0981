/**
 * A breaking strategy: it decides, from the outcomes of the calls made while the circuit is closed, when the
 * circuit opens. `consecutiveFailures(n)` and `failureRate(...)` are the built-in ones; write your own by
 * implementing this interface.
 *
 * A `Breaker` is an immutable description that many circuit breakers may share (e.g. every per-origin breaker
 * of a `keyed()` policy): each circuit breaker calls {@link Breaker.create} once and keeps the returned
 * {@link BreakerCounter} to itself.
 *
 * @example A custom breaker that opens after two failures in a row:
 * ```ts
 * const twoInARow: Breaker = {
 *   measure: 'none',
 *   create(_now, snapshot) {
 *     let failures = (snapshot as { failures?: number } | undefined)?.failures ?? 0;
 *     return {
 *       success() {
 *         failures = 0;
 *         return false;
 *       },
 *       failure: () => ++failures >= 2,
 *       reset() {
 *         failures = 0;
 *       },
 *       snapshot: () => ({ failures }),
 *     };
 *   },
 * };
 * const policy = circuitBreaker({ breaker: twoInARow, breakMs: 5_000 });
 * ```
 */
export interface Breaker {
  /**
   * What the circuit breaker measures for {@link BreakerCounter.success} and {@link BreakerCounter.failure}:
   * - `'none'`: nothing; `now` and `durationMs` are 0, and a call in the closed state never reads the clock;
   * - `'time'`: the clock time at which the call settled (`now`); `durationMs` is 0;
   * - `'duration'`: `now` and the call's duration (the clock is read when the call starts and when it settles).
   */
  readonly measure: 'none' | 'time' | 'duration';
  /**
   * Makes the counting state of one circuit breaker, at clock time `now`. When the circuit breaker is hydrated
   * from a snapshot (`initialState`), `snapshot` is the value a counter of this strategy returned from
   * {@link BreakerCounter.snapshot}, possibly in another process; throw a `TypeError` or `RangeError` that says
   * what is wrong when it does not fit.
   */
  create(now: number, snapshot?: unknown): BreakerCounter;
}

/**
 * The counting state of one circuit breaker. It only sees calls admitted while the circuit is closed, and
 * only those that settle before the circuit leaves the closed state: outcomes of half-open probes decide the
 * circuit's state directly. It is {@link BreakerCounter.reset} whenever the circuit leaves the closed state,
 * so it always starts empty when the circuit closes again.
 */
export interface BreakerCounter {
  /**
   * A call succeeded, or failed with an error the circuit breaker's `shouldHandle` does not count. Returns
   * `true` to open the circuit because of slow calls; only a slow call can justify that, so the result is
   * ignored unless `measure` is `'duration'` (which lets untimed successes share one callback, allocation-free).
   */
  success(now: number, durationMs: number): boolean;
  /** A call failed with an error that counts. Returns `true` to open the circuit. */
  failure(now: number, durationMs: number): boolean;
  /** Forgets every outcome: the circuit left the closed state or was `reset()`. */
  reset(now: number): void;
  /**
   * The counting state as JSON-compatible data, for `circuitBreaker.toJSON()`. Store clock times relative
   * to `now`: a snapshot may be restored in another process, whose clock has another origin.
   */
  snapshot(now: number): unknown;
}
