import type { Breaker, BreakerCounter } from './breaker.js';
import { requiredNumber, snapshotObject } from './snapshot-fields.js';

const name = 'consecutiveFailures';

/** The snapshot of a {@link consecutiveFailures} counter. */
export interface ConsecutiveFailuresSnapshot {
  readonly type: 'consecutiveFailures';
  /** Failures in a row so far. */
  readonly failures: number;
}

class ConsecutiveFailuresCounter implements BreakerCounter {
  readonly #threshold: number;
  #failures: number;

  constructor(threshold: number, failures: number) {
    this.#threshold = threshold;
    this.#failures = failures;
  }

  success(): boolean {
    this.#failures = 0;
    return false;
  }

  failure(): boolean {
    return ++this.#failures >= this.#threshold;
  }

  reset(): void {
    this.#failures = 0;
  }

  snapshot(): ConsecutiveFailuresSnapshot {
    return { type: name, failures: this.#failures };
  }
}

/**
 * Opens the circuit after `threshold` failures in a row; any success (or a failure that `shouldHandle` does
 * not count) starts the count again. It needs no clock.
 *
 * @param threshold How many failures in a row open the circuit: an integer >= 1.
 */
export function consecutiveFailures(threshold: number): Breaker {
  const n = requiredNumber(name, 'threshold', threshold, { min: 1, integer: true });
  return Object.freeze({
    measure: 'none',
    create(_now: number, snapshot?: unknown): BreakerCounter {
      if (snapshot === undefined) return new ConsecutiveFailuresCounter(n, 0);
      const read = snapshotObject(name, 'initialState.breaker', snapshot, ['type', 'failures'], name);
      const failures = requiredNumber(name, 'initialState.breaker.failures', read.failures, {
        min: 0,
        integer: true,
      });
      return new ConsecutiveFailuresCounter(n, failures);
    },
  } as const);
}
