import { type BulkheadOptions, bulkhead } from '@breakwater/bulkhead';
import { type CircuitBreakerOptions, circuitBreaker, failureRate } from '@breakwater/circuit-breaker';
import {
  type Clock,
  clockOption,
  describeValue,
  durationOption,
  functionOption,
  integerOption,
  keyed,
  type Outcome,
  type Pipeline,
  type Policy,
  pipeline,
  readOptions,
  type ShouldHandle,
} from '@breakwater/core';
import { type Backoff, exponentialBackoff, type RetryOptions, retry } from '@breakwater/retry';
import { timeout } from '@breakwater/timeout';
import { handleHttpFailures, handleRetryableHttpFailures } from './failures.js';

/** Options of {@link standardPipeline}. Every one is optional; the defaults follow the .NET standard handler. */
export interface StandardPipelineOptions {
  /**
   * The time the whole call may take, retries and their waits included, in milliseconds (> 0,
   * <= 2147483647). Must exceed `attemptTimeoutMs`.
   * @default 30000
   */
  totalTimeoutMs?: number | undefined;
  /**
   * The time each attempt may take until the response headers arrive, in milliseconds (> 0,
   * < totalTimeoutMs).
   * @default 10000
   */
  attemptTimeoutMs?: number | undefined;
  /**
   * Options of the retry (`@breakwater/retry`), merged over the defaults, or `false` for no retry. Its
   * `shouldHandle` further narrows the default (HTTP failures of requests that may be sent again); a request
   * that must not be resent never is. The worst-case sum of its waits must be below `totalTimeoutMs`.
   * @default { maxAttempts: 3, backoff: exponentialBackoff({ initialMs: 500, maxMs: 10_000, jitter: 'full' }), maxRetryAfterMs: 60_000 }
   */
  retry?: RetryOptions | false | undefined;
  /**
   * Options of the per-origin circuit breaker (`@breakwater/circuit-breaker`), merged over the defaults, or
   * `false` for none.
   * @default { breaker: failureRate({ threshold: 0.1, windowMs: 30_000, minThroughput: 100 }), breakMs: 5_000, shouldHandle: handleHttpFailures }
   */
  circuitBreaker?: Partial<CircuitBreakerOptions> | false | undefined;
  /**
   * Options of the per-origin bulkhead (`@breakwater/bulkhead`), merged over the defaults, or `false` for
   * none.
   * @default { limit: 1000, queue: 0 }
   */
  bulkhead?: Partial<BulkheadOptions> | false | undefined;
  /**
   * How many origins keep their own breaker and bulkhead; past that the least recently used origin's are
   * dropped (and start fresh when it comes back). Bounds memory when URLs come from untrusted input.
   * @default 1000
   */
  maxOrigins?: number | undefined;
  /**
   * Clock of every policy of the pipeline (a policy's own `clock` option wins).
   * @default systemClock
   */
  clock?: Clock | undefined;
  /**
   * Random source in [0, 1) for the retry's jitter (the retry's own `random` option wins).
   * @default Math.random
   */
  random?: (() => number) | undefined;
}

/** The option names of {@link standardPipeline}. */
export const standardPipelineOptionNames = [
  'totalTimeoutMs',
  'attemptTimeoutMs',
  'retry',
  'circuitBreaker',
  'bulkhead',
  'maxOrigins',
  'clock',
  'random',
] as const;

const name = 'standardPipeline';
const largestBelowOne = 1 - 2 ** -53;

/**
 * The standard resilience pipeline for HTTP calls, outermost first: per-origin bulkhead → total timeout →
 * retry → per-origin circuit breaker → attempt timeout. Retry and breaker only handle HTTP failures (failure
 * statuses, transport errors, timeouts); retry only resends requests that may be sent again. Run it with the
 * request's origin as the execute `key` (`resilientFetch` and `resilience()` do).
 *
 * Settings are checked together: the attempt timeout must be below the total timeout, and the retry's
 * worst-case waits must fit in the total timeout.
 *
 * @example
 * ```ts
 * const policy = standardPipeline({ totalTimeoutMs: 10_000, attemptTimeoutMs: 2_000, retry: { maxAttempts: 4 } });
 * ```
 */
export function standardPipeline(options?: StandardPipelineOptions): Pipeline {
  const read = readOptions(name, options, standardPipelineOptionNames);
  const totalTimeoutMs = durationOption(name, 'totalTimeoutMs', read.totalTimeoutMs, 30_000, {
    minExclusive: true,
    max: 2_147_483_647,
  });
  const attemptTimeoutMs = durationOption(name, 'attemptTimeoutMs', read.attemptTimeoutMs, 10_000, {
    minExclusive: true,
    max: 2_147_483_647,
  });
  if (attemptTimeoutMs >= totalTimeoutMs) {
    throw new RangeError(
      `${name}: attemptTimeoutMs (${attemptTimeoutMs}) must be less than totalTimeoutMs (${totalTimeoutMs}), or no attempt could be retried`,
    );
  }
  const maxOrigins = integerOption(name, 'maxOrigins', read.maxOrigins, 1000, { min: 1 });
  const clock = read.clock === undefined ? undefined : clockOption(name, read.clock);
  const random = functionOption<() => number>(name, 'random', read.random);
  const retryOptions = nestedOptions('retry', read.retry) as RetryOptions | false;
  const breakerOptions = nestedOptions('circuitBreaker', read.circuitBreaker) as
    | Partial<CircuitBreakerOptions>
    | false;
  const bulkheadOptions = nestedOptions('bulkhead', read.bulkhead) as Partial<BulkheadOptions> | false;

  const policies: Policy[] = [];
  if (bulkheadOptions !== false) {
    const settings = withClock({ limit: 1000, queue: 0, ...bulkheadOptions }, clock) as BulkheadOptions;
    bulkhead(settings); // validates now, not when the first origin comes
    policies.push(keyed(() => bulkhead(settings), { maxKeys: maxOrigins }));
  }
  policies.push(timeout(withClock({ ms: totalTimeoutMs }, clock) as { ms: number }));
  if (retryOptions !== false) {
    const narrow = retryOptions.shouldHandle;
    const settings: RetryOptions = withClock(
      {
        maxAttempts: 3,
        backoff: exponentialBackoff({ initialMs: 500, maxMs: 10_000, jitter: 'full' }),
        maxRetryAfterMs: 60_000,
        ...(random === undefined ? {} : { random }),
        ...retryOptions,
        shouldHandle:
          narrow === undefined
            ? handleRetryableHttpFailures
            : (outcome: Outcome) => handleRetryableHttpFailures(outcome) && narrow(outcome),
      },
      clock,
    );
    const policy = retry(settings);
    checkWaitsFit(policy.maxAttempts, policy.backoff, settings.maxDelayMs ?? 30_000, totalTimeoutMs);
    policies.push(policy);
  }
  if (breakerOptions !== false) {
    const settings = withClock(
      {
        breaker: failureRate({ threshold: 0.1, windowMs: 30_000, minThroughput: 100 }),
        breakMs: 5_000,
        shouldHandle: handleHttpFailures as ShouldHandle,
        ...breakerOptions,
      },
      clock,
    ) as CircuitBreakerOptions;
    circuitBreaker(settings);
    policies.push(keyed(() => circuitBreaker(settings), { maxKeys: maxOrigins }));
  }
  policies.push(timeout(withClock({ ms: attemptTimeoutMs }, clock) as { ms: number }));
  return pipeline(...policies);
}

function nestedOptions(key: string, value: unknown): object | false {
  if (value === undefined) return {};
  if (value === false) return false;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(
      `${name}: ${key} must be an options object or false, received ${describeValue(value)}`,
    );
  }
  return value;
}

function withClock<T extends object>(options: T, clock: Clock | undefined): T {
  return clock === undefined || 'clock' in options ? options : { ...options, clock };
}

/**
 * Rejects a retry whose waits could outlast the total timeout, as the .NET standard handler's validator does:
 * the worst case asks the backoff for each wait with the largest random value it can get.
 */
function checkWaitsFit(
  maxAttempts: number,
  backoff: Backoff,
  maxDelayMs: number,
  totalTimeoutMs: number,
): void {
  if (maxAttempts === Number.POSITIVE_INFINITY) {
    throw new RangeError(
      `${name}: retry.maxAttempts must be finite, so that the retry waits can be checked against totalTimeoutMs (${totalTimeoutMs})`,
    );
  }
  let total = 0;
  let previousDelayMs: number | undefined;
  for (let attempt = 1; attempt < maxAttempts; attempt++) {
    const delayMs = backoff.next({ attempt, previousDelayMs, random: () => largestBelowOne });
    previousDelayMs = delayMs;
    total += Math.min(delayMs, maxDelayMs);
  }
  if (total >= totalTimeoutMs) {
    throw new RangeError(
      `${name}: the retry waits can add up to ${Math.round(total)} ms (retry.maxAttempts ${maxAttempts}), which does not fit in totalTimeoutMs (${totalTimeoutMs}); lower retry.maxAttempts or the backoff, or raise totalTimeoutMs`,
    );
  }
}
