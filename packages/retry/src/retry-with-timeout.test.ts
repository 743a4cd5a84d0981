import { getEventListeners } from 'node:events';
import { type Context, pipeline, TimeoutError } from '@breakwater/core';
import { type VirtualClock, virtualClock } from '@breakwater/testing';
import { timeout } from '@breakwater/timeout';
import { describe, expect, it } from 'vitest';
import { type GiveUpEvent, type RetryEvent, retry } from './index.js';

/** Records how and when a promise settled. */
function track<T>(promise: Promise<T>, clock: VirtualClock) {
  const state: { settled: boolean; value?: T; error?: unknown; at?: number } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value, at: clock.now() }),
    (error: unknown) => Object.assign(state, { settled: true, error, at: clock.now() }),
  );
  return state;
}

/** An operation that hangs until its signal aborts, then rejects with the reason (as fetch does). */
function hanging(clock: VirtualClock) {
  const attempts: { at: number; attempt: number; deadline: number | undefined }[] = [];
  const op = (ctx: Context): Promise<never> => {
    attempts.push({ at: clock.now(), attempt: ctx.attempt, deadline: ctx.deadline });
    return new Promise((_, reject) => {
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
    });
  };
  return { op, attempts };
}

function observe(policy: ReturnType<typeof retry>) {
  const retries: RetryEvent[] = [];
  const giveUps: GiveUpEvent[] = [];
  policy.onRetry((event) => retries.push(event));
  policy.onGiveUp((event) => giveUps.push(event));
  return { retries, giveUps };
}

describe('pipeline order: timeout and retry', () => {
  it('pipeline(timeout, retry): one deadline for the whole retry loop', async () => {
    const clock = virtualClock();
    const inner = retry({ maxAttempts: 10, backoff: 100, clock });
    const { giveUps } = observe(inner);
    const { op, attempts } = hanging(clock);
    const result = track(pipeline(timeout({ ms: 1_000, clock }), inner).execute(op), clock);
    await clock.advance(5_000);
    // The first attempt hangs until the total timeout ends everything: no retry after it.
    expect(attempts).toEqual([{ at: 0, attempt: 1, deadline: 1_000 }]);
    expect(result.at).toBe(1_000);
    expect(result.error).toBeInstanceOf(TimeoutError);
    expect((result.error as TimeoutError).timeoutMs).toBe(1_000);
    expect(giveUps.map((e) => e.reason)).toEqual(['aborted']);
    expect(clock.pending).toBe(0);
  });

  it('pipeline(timeout, retry): retries stop before a wait that would pass the deadline', async () => {
    const clock = virtualClock();
    const inner = retry({ maxAttempts: 10, backoff: 100, clock });
    const { giveUps } = observe(inner);
    const starts: number[] = [];
    const failure = new Error('503');
    const result = track(
      pipeline(timeout({ ms: 1_000, clock }), inner).execute(() => {
        starts.push(clock.now());
        return new Promise((_, reject) => clock.setTimeout(() => reject(failure), 150));
      }),
      clock,
    );
    await clock.advance(5_000);
    // Attempts fail after 150 ms and wait 100 ms: 0, 250, 500, 750; at 900 a wait would end at the deadline.
    expect(starts).toEqual([0, 250, 500, 750]);
    expect(result).toMatchObject({ settled: true, error: failure, at: 900 });
    expect(giveUps.map((e) => e.reason)).toEqual(['deadline']);
  });

  it('pipeline(retry, timeout): each attempt gets its own timeout and is retried after it', async () => {
    const clock = virtualClock();
    const outer = retry({ maxAttempts: 3, backoff: 100, clock });
    const { retries, giveUps } = observe(outer);
    const { op, attempts } = hanging(clock);
    const result = track(pipeline(outer, timeout({ ms: 200, clock })).execute(op), clock);
    await clock.advance(5_000);
    expect(attempts).toEqual([
      { at: 0, attempt: 1, deadline: 200 },
      { at: 300, attempt: 2, deadline: 500 },
      { at: 600, attempt: 3, deadline: 800 },
    ]);
    expect(result.at).toBe(800);
    expect(result.error).toBeInstanceOf(TimeoutError);
    expect((result.error as TimeoutError).timeoutMs).toBe(200);
    // Every attempt timed out with its own error, and the last one is what the caller gets.
    expect(retries.map((e) => e.error)).toEqual([expect.any(TimeoutError), expect.any(TimeoutError)]);
    expect(new Set([...retries.map((e) => e.error), result.error]).size).toBe(3);
    expect(giveUps).toMatchObject([{ reason: 'attempts', attempt: 3, error: result.error }]);
  });

  it('pipeline(total timeout, retry, attempt timeout): attempts are cut by whichever deadline is earlier', async () => {
    const clock = virtualClock();
    const middle = retry({ maxAttempts: 5, backoff: 100, clock });
    const { giveUps } = observe(middle);
    const { op, attempts } = hanging(clock);
    const caller = new AbortController();
    const result = track(
      pipeline(timeout({ ms: 1_000, clock }), middle, timeout({ ms: 300, clock })).execute(op, {
        signal: caller.signal,
      }),
      clock,
    );
    await clock.advance(5_000);
    expect(attempts).toEqual([
      { at: 0, attempt: 1, deadline: 300 },
      { at: 400, attempt: 2, deadline: 700 },
      { at: 800, attempt: 3, deadline: 1_000 },
    ]);
    expect(result.at).toBe(1_000);
    expect((result.error as TimeoutError).timeoutMs).toBe(1_000);
    expect(giveUps.map((e) => e.reason)).toEqual(['aborted']);
    expect(clock.pending).toBe(0);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });
});
