import { type Policy, pipeline } from '@breakwater/core';

/**
 * Our policies configured as the peers are in performance-anchors §9, so that the numbers mean the same thing.
 * Imported lazily: a case that needs a package that is not built yet fails alone, with its error in the report.
 */
export const ours = {
  timeout: async (): Promise<Policy> => (await import('@breakwater/timeout')).timeout({ ms: 1_000 }),
  retry: async (): Promise<Policy> => {
    const { retry, exponentialBackoff } = await import('@breakwater/retry');
    return retry({ maxAttempts: 3, backoff: exponentialBackoff() });
  },
  breaker: async (): Promise<Policy> => {
    const { circuitBreaker, consecutiveFailures } = await import('@breakwater/circuit-breaker');
    return circuitBreaker({ breaker: consecutiveFailures(5), breakMs: 10_000 });
  },
  bulkhead: async (): Promise<Policy> => (await import('@breakwater/bulkhead')).bulkhead({ limit: 1_000 }),
  /** The four in the standard order, outermost first: bulkhead -> timeout -> retry -> breaker. */
  stack: async (): Promise<Policy> =>
    pipeline(await ours.bulkhead(), await ours.timeout(), await ours.retry(), await ours.breaker()),
};

/** The same four in cockatiel, as in performance-anchors §9. */
export const cockatiel = {
  retry: async () => {
    const c = await import('cockatiel');
    return c.retry(c.handleAll, { maxAttempts: 3, backoff: new c.ExponentialBackoff() });
  },
  breaker: async () => {
    const c = await import('cockatiel');
    return c.circuitBreaker(c.handleAll, { halfOpenAfter: 10_000, breaker: new c.ConsecutiveBreaker(5) });
  },
  timeout: async () => {
    const c = await import('cockatiel');
    return c.timeout(1_000, c.TimeoutStrategy.Cooperative);
  },
  bulkhead: async () => (await import('cockatiel')).bulkhead(1_000, 0),
  wrap: async () => {
    const c = await import('cockatiel');
    return c.wrap(
      await cockatiel.retry(),
      await cockatiel.breaker(),
      await cockatiel.timeout(),
      await cockatiel.bulkhead(),
    );
  },
};
