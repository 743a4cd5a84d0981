import { failureRate } from '@breakwater/circuit-breaker';
import { pipeline } from '@breakwater/core';
import { fallbackCache } from '@breakwater/fallback-cache';
import { resilientFetch, standardPipeline } from '@breakwater/http';
import { exponentialBackoff } from '@breakwater/retry';

/**
 * The order service's fetch with breakwater: the part to copy. Outermost, a stale-if-error cache answers with
 * the last good stock level when everything inside has given up. Inside, the standard pipeline: each attempt
 * gets 300 ms and the whole call 1.5 s; failures are retried twice with full jitter; the inventory origin has
 * its own breaker, which opens when half the calls of the last 2 s failed and probes again after 1 s.
 */
export function breakwaterFetch(): typeof globalThis.fetch {
  return resilientFetch({
    pipeline: pipeline(
      fallbackCache({ maxEntries: 1_000, maxBytes: 1_000_000 }),
      standardPipeline({
        totalTimeoutMs: 1_500,
        attemptTimeoutMs: 300,
        retry: { maxAttempts: 3, backoff: exponentialBackoff({ initialMs: 50, maxMs: 200 }) },
        circuitBreaker: {
          breaker: failureRate({ threshold: 0.5, windowMs: 2_000, minThroughput: 10 }),
          breakMs: 1_000,
        },
      }),
    ),
  });
}
