import { BulkheadPolicy } from '@breakwater/bulkhead';
import { CircuitBreakerPolicy, consecutiveFailures } from '@breakwater/circuit-breaker';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  type Context,
  ExecutionContext,
  KeyedPolicy,
  TimeoutError,
} from '@breakwater/core';
import { RetryPolicy, retryBudget } from '@breakwater/retry';
import { seededRandom, virtualClock } from '@breakwater/testing';
import { TimeoutPolicy } from '@breakwater/timeout';
import { describe, expect, it } from 'vitest';
import { HttpStatusError } from './http-status-error.js';
import { httpRequestKey } from './request-info.js';
import { standardPipeline } from './standard-pipeline.js';

const unavailable = (): HttpStatusError => new HttpStatusError(503, undefined, undefined);

/** An operation that never settles by itself and rejects with the abort reason, as fetch does. */
function hang(context: Context): Promise<never> {
  return new Promise((_resolve, reject) => {
    context.signal.addEventListener('abort', () => reject(context.signal.reason), { once: true });
  });
}

describe('standardPipeline', () => {
  it('orders bulkhead, total timeout, retry, circuit breaker, attempt timeout, keeping breaker and bulkhead per origin', () => {
    const policies = standardPipeline().policies;
    expect(policies.map((p) => p.constructor)).toEqual([
      KeyedPolicy,
      TimeoutPolicy,
      RetryPolicy,
      KeyedPolicy,
      TimeoutPolicy,
    ]);
    const [bulkheads, , retryPolicy, breakers] = policies as [
      KeyedPolicy,
      TimeoutPolicy,
      RetryPolicy,
      KeyedPolicy,
    ];
    expect(bulkheads.policyFor('https://a.example')).toBeInstanceOf(BulkheadPolicy);
    expect(breakers.policyFor('https://a.example')).toBeInstanceOf(CircuitBreakerPolicy);
    expect(breakers.policyFor('https://b.example')).not.toBe(breakers.policyFor('https://a.example'));
    expect(retryPolicy.maxAttempts).toBe(3);
  });

  it('leaves out the policies set to false', () => {
    const policies = standardPipeline({ retry: false, circuitBreaker: false, bulkhead: false }).policies;
    expect(policies.map((p) => p.constructor)).toEqual([TimeoutPolicy, TimeoutPolicy]);
  });

  it('retries HTTP failures with jittered exponential backoff and succeeds', async () => {
    const clock = virtualClock();
    const policy = standardPipeline({ clock, random: seededRandom(7) });
    const attempts: number[] = [];
    const call = policy.execute(
      (context) => {
        attempts.push(clock.now());
        if (context.attempt < 3) throw unavailable();
        return 'ok';
      },
      { key: 'https://a.example' },
    );
    await clock.advance(10_000);
    await expect(call).resolves.toBe('ok');
    expect(attempts).toHaveLength(3);
    // full jitter: each wait is at most its ceiling (500 ms, then 1 s)
    expect(attempts[1]! - attempts[0]!).toBeLessThanOrEqual(500);
    expect(attempts[2]! - attempts[1]!).toBeLessThanOrEqual(1_000);
  });

  it('does not retry or count other errors', async () => {
    const clock = virtualClock();
    const policy = standardPipeline({ clock, circuitBreaker: { breaker: consecutiveFailures(1) } });
    let calls = 0;
    const bug = new TypeError('a bug');
    const fail = (): never => {
      calls++;
      throw bug;
    };
    await expect(policy.execute(fail, { key: 'k' })).rejects.toBe(bug);
    await expect(policy.execute(fail, { key: 'k' })).rejects.toBe(bug);
    expect(calls).toBe(2);
  });

  it('never retries a request marked as not retryable', async () => {
    const policy = standardPipeline({ clock: virtualClock() });
    const context = ExecutionContext.create({ key: 'https://a.example' });
    context.set(httpRequestKey, {
      method: 'POST',
      url: 'https://a.example/x',
      origin: 'https://a.example',
      headers: new Headers(),
      retryable: false,
    });
    let calls = 0;
    const error = unavailable();
    await expect(
      policy.execute(() => {
        calls++;
        throw error;
      }, context),
    ).rejects.toBe(error);
    expect(calls).toBe(1);
  });

  it('narrows retries with the caller’s shouldHandle', async () => {
    const clock = virtualClock();
    const policy = standardPipeline({
      clock,
      retry: { backoff: 10, shouldHandle: ({ error }) => (error as HttpStatusError).status !== 429 },
    });
    let calls = 0;
    const tooMany = new HttpStatusError(429, undefined, undefined);
    await expect(
      policy.execute(
        () => {
          calls++;
          throw tooMany;
        },
        { key: 'k' },
      ),
    ).rejects.toBe(tooMany);
    expect(calls).toBe(1);
  });

  it('times out each attempt, counts timeouts in the breaker of that origin only', async () => {
    const clock = virtualClock();
    const policy = standardPipeline({
      clock,
      attemptTimeoutMs: 100,
      totalTimeoutMs: 1_000,
      retry: { backoff: 10 },
      circuitBreaker: { breaker: consecutiveFailures(3), breakMs: 5_000 },
    });
    const started: number[] = [];
    const call = policy.execute(
      (context) => {
        started.push(clock.now());
        return hang(context);
      },
      { key: 'https://slow.example' },
    );
    const settled = expect(call).rejects.toBeInstanceOf(TimeoutError);
    await clock.advance(400);
    await settled;
    expect(started).toEqual([0, 110, 220]);
    await expect(policy.execute(() => 'never', { key: 'https://slow.example' })).rejects.toBeInstanceOf(
      BrokenCircuitError,
    );
    await expect(policy.execute(() => 'fine', { key: 'https://fast.example' })).resolves.toBe('fine');
  });

  it('stops retrying when the wait a server asks for would pass the total timeout', async () => {
    const clock = virtualClock();
    const policy = standardPipeline({
      clock,
      totalTimeoutMs: 2_500,
      attemptTimeoutMs: 1_000,
      retry: { maxAttempts: 10, backoff: 10 },
      circuitBreaker: false,
    });
    const attempts: number[] = [];
    const last = new HttpStatusError(503, 1_000, undefined);
    const call = policy
      .execute(
        () => {
          attempts.push(clock.now());
          throw last;
        },
        { key: 'k' },
      )
      .catch((error: unknown) => error);
    await clock.advance(3_000);
    expect(await call).toBe(last);
    expect(attempts).toEqual([0, 1_000, 2_000]);
  });

  it('rejects at the total timeout while an attempt still runs', async () => {
    const clock = virtualClock();
    const policy = standardPipeline({
      clock,
      totalTimeoutMs: 150,
      attemptTimeoutMs: 100,
      retry: { backoff: 10 },
    });
    const call = policy.execute(hang, { key: 'k' }).catch((error: unknown) => error);
    await clock.advance(200);
    const error = await call;
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).timeoutMs).toBe(150);
  });

  it('bulkheads each origin on its own', async () => {
    const clock = virtualClock();
    const policy = standardPipeline({ clock, bulkhead: { limit: 1 } });
    let release!: () => void;
    const first = policy.execute(() => new Promise<string>((resolve) => (release = () => resolve('first'))), {
      key: 'https://a.example',
    });
    await expect(policy.execute(() => 'second', { key: 'https://a.example' })).rejects.toBeInstanceOf(
      BulkheadRejectedError,
    );
    await expect(policy.execute(() => 'other origin', { key: 'https://b.example' })).resolves.toBe(
      'other origin',
    );
    release();
    await expect(first).resolves.toBe('first');
  });

  it.each([
    [
      { attemptTimeoutMs: 5_000, totalTimeoutMs: 5_000 },
      /attemptTimeoutMs \(5000\) must be less than totalTimeoutMs \(5000\)/,
    ],
    [{ attemptTimeoutMs: 0 }, /attemptTimeoutMs must be a number > 0/],
    [{ totalTimeoutMs: 3e9 }, /totalTimeoutMs must be a number > 0 and <= 2147483647/],
    [
      { totalTimeoutMs: 30_000, retry: { maxAttempts: 5, backoff: 10_000 } },
      /retry waits can add up to 40000 ms \(retry.maxAttempts 5\), which does not fit in totalTimeoutMs \(30000\)/,
    ],
    [
      { retry: { maxAttempts: Number.POSITIVE_INFINITY, allowUnsafeRetries: true, budget: retryBudget() } },
      /retry.maxAttempts must be finite/,
    ],
    [{ retry: 3 }, /retry must be an options object or false, received 3/],
    [{ bulkhead: { limit: 0 } }, /limit/],
    [{ maxOrigins: 0 }, /maxOrigins must be an integer >= 1, received 0/],
    [
      { clock: Date },
      /standardPipeline: clock must be an object with now\(\), setTimeout\(\) and clearTimeout\(\) methods/,
    ],
    [{ totalTimeout: 5 }, /unknown option "totalTimeout" \(did you mean "totalTimeoutMs"\?\)/],
  ])('rejects %o', (options, message) => {
    expect(() => standardPipeline(options as never)).toThrow(message);
  });

  it('accepts waits that fit, measured with the largest jitter', () => {
    // exponential 500 ms doubling, capped at 10 s: 500 + 1000 + 2000 + 4000 + 8000 = 15.5 s < 16 s
    expect(() =>
      standardPipeline({ totalTimeoutMs: 16_000, attemptTimeoutMs: 1_000, retry: { maxAttempts: 6 } }),
    ).not.toThrow();
    expect(() =>
      standardPipeline({ totalTimeoutMs: 15_000, attemptTimeoutMs: 1_000, retry: { maxAttempts: 6 } }),
    ).toThrow(RangeError);
  });

  it('does not mutate the caller’s options', () => {
    const options = Object.freeze({
      retry: Object.freeze({ maxAttempts: 2 }),
      circuitBreaker: Object.freeze({ breakMs: 1_000 }),
      bulkhead: Object.freeze({ limit: 5 }),
      clock: virtualClock(),
    });
    expect(() => standardPipeline(options)).not.toThrow();
    expect(options.retry).toEqual({ maxAttempts: 2 });
  });
});
