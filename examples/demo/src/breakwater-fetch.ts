import { pipeline } from '@breakwater/core';
import { failureRate } from '@breakwater/circuit-breaker';
import { resilientFetch, standardPipeline } from '@breakwater/http';
import { exponentialBackoff } from '@breakwater/retry';

/**
 * The order service's fetch with breakwater: what a user copies. Each attempt gets 300 ms, the whole call
 * 1.5 s; failures are retried twice with full jitter; the inventory origin gets its own breaker, which opens
 * when half the calls of the last 2 s failed.
 */
export function breakwaterFetch(): typeof globalThis.fetch {
  return resilientFetch({
    pipeline: pipeline(
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
