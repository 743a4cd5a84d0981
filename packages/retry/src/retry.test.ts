import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import {
  BasePolicy,
  BrokenCircuitError,
  type Context,
  callOperation,
  contextKey,
  type ExecutionContext,
  IsolatedCircuitError,
  type Operation,
  pipeline,
} from '@breakwater/core';
import { seededRandom, type VirtualClock, virtualClock } from '@breakwater/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Backoff,
  constantBackoff,
  exponentialBackoff,
  type GiveUpEvent,
  type Jitter,
  type RetryEvent,
  retry,
  retryBudget,
} from './index.js';

/** Records how and when a promise settled, so a test can look without racing it. */
function track<T>(promise: Promise<T>, clock: VirtualClock) {
  const state: { settled: boolean; value?: T; error?: unknown; at?: number } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value, at: clock.now() }),
    (error: unknown) => Object.assign(state, { settled: true, error, at: clock.now() }),
  );
  return state;
}

/** Fires the clock's timers one after the other until nothing is pending. */
async function runTimers(clock: VirtualClock): Promise<void> {
  while (await clock.next());
}

/** An operation that fails every time with a new error, recording the clock time and context of each call. */
function alwaysFailing(
  clock: VirtualClock,
  make: (attempt: number) => unknown = (n) => new Error(`failure ${n}`),
) {
  const calls: { at: number; context: Context }[] = [];
  const errors: unknown[] = [];
  const op = (context: Context): Promise<never> => {
    calls.push({ at: clock.now(), context });
    const error = make(calls.length);
    errors.push(error);
    return Promise.reject(error);
  };
  return { op, calls, errors };
}

/** An outer policy that keeps the promise and context of the policy inside it. */
class Capture extends BasePolicy {
  inner: Promise<unknown> | undefined;
  context: ExecutionContext | undefined;
  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    this.context = context;
    const promise = callOperation(fn, context);
    this.inner = promise;
    promise.catch(() => {});
    return promise;
  }
}

function events(policy: ReturnType<typeof retry>) {
  const retries: RetryEvent[] = [];
  const giveUps: GiveUpEvent[] = [];
  policy.onRetry((event) => retries.push(event));
  policy.onGiveUp((event) => giveUps.push(event));
  return { retries, giveUps };
}

describe('retry', () => {
  describe('success path', () => {
    it('calls the operation once, with the context it was given, when the first try succeeds', async () => {
      const capture = new Capture();
      const policy = retry();
      const seen: Context[] = [];
      const value = await pipeline(capture, policy).execute((ctx) => {
        seen.push(ctx);
        return 42;
      });
      expect(value).toBe(42);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toBe(capture.context);
      expect(seen[0]!.attempt).toBe(1);
    });

    it('resolves with the first success after failures, numbering attempts 1, 2, 3 with shared data', async () => {
      const clock = virtualClock();
      const policy = retry({ backoff: 10, clock });
      const key = contextKey<string>('note');
      const seen: { attempt: number; note: string | undefined }[] = [];
      const result = track(
        policy.execute((ctx) => {
          seen.push({ attempt: ctx.attempt, note: ctx.get(key) });
          ctx.set(key, `from ${ctx.attempt}`);
          if (ctx.attempt < 3) throw new Error('not yet');
          return 'done';
        }),
        clock,
      );
      await runTimers(clock);
      expect(result).toMatchObject({ settled: true, value: 'done', at: 20 });
      expect(seen).toEqual([
        { attempt: 1, note: undefined },
        { attempt: 2, note: 'from 1' },
        { attempt: 3, note: 'from 2' },
      ]);
    });
  });

  describe('failure path', () => {
    it('makes at most maxAttempts (default 3) and rethrows the last original error, unwrapped', async () => {
      const clock = virtualClock();
      const policy = retry({ clock, random: seededRandom(1) });
      const { giveUps } = events(policy);
      const { op, calls, errors } = alwaysFailing(clock);
      const result = track(policy.execute(op), clock);
      await runTimers(clock);
      expect(calls).toHaveLength(3);
      expect(result.error).toBe(errors[2]);
      expect(giveUps).toEqual([
        { context: calls[2]!.context, attempt: 3, error: errors[2], reason: 'attempts' },
      ]);
    });

    it('rethrows non-Error failures as they are', async () => {
      const clock = virtualClock();
      const { op } = alwaysFailing(clock, (n) => (n === 2 ? 'a string' : { code: n }));
      const result = track(retry({ maxAttempts: 2, backoff: 1, clock }).execute(op), clock);
      await runTimers(clock);
      expect(result.error).toBe('a string');
    });

    it('does not retry what shouldHandle declines, and shows it the failed attempt', async () => {
      const clock = virtualClock();
      const outcomes: { error: unknown; attempt: number }[] = [];
      const policy = retry({
        backoff: 5,
        clock,
        shouldHandle: ({ error, context }) => {
          outcomes.push({ error, attempt: context.attempt });
          return (error as Error).message !== 'fatal';
        },
      });
      const { giveUps } = events(policy);
      const { op, calls, errors } = alwaysFailing(clock, (n) => new Error(n === 2 ? 'fatal' : 'transient'));
      const result = track(policy.execute(op), clock);
      await runTimers(clock);
      expect(calls).toHaveLength(2);
      expect(result.error).toBe(errors[1]);
      expect(outcomes).toEqual([
        { error: errors[0], attempt: 1 },
        { error: errors[1], attempt: 2 },
      ]);
      expect(giveUps.map((e) => e.reason)).toEqual(['not-handled']);
    });

    it('maxAttempts 1 never retries', async () => {
      const clock = virtualClock();
      const { op, calls } = alwaysFailing(clock);
      const policy = retry({ maxAttempts: 1, clock });
      const { giveUps, retries } = events(policy);
      await expect(policy.execute(op)).rejects.toThrow('failure 1');
      expect(calls).toHaveLength(1);
      expect(retries).toEqual([]);
      expect(giveUps[0]!.reason).toBe('attempts');
      expect(clock.pending).toBe(0);
    });

    it('makes exactly maxAttempts calls each for 1,000 concurrent failing calls', async () => {
      const clock = virtualClock();
      const policy = retry({ maxAttempts: 4, clock, random: seededRandom(3) });
      const perCall = new Map<number, number>();
      let total = 0;
      const results = Array.from({ length: 1_000 }, (_, id) =>
        track(
          policy.execute(async () => {
            total++;
            perCall.set(id, (perCall.get(id) ?? 0) + 1);
            throw new Error(`call ${id}`);
          }),
          clock,
        ),
      );
      await runTimers(clock);
      expect(total).toBe(4_000);
      expect([...perCall.values()].every((count) => count === 4)).toBe(true);
      expect(results.every((r) => r.settled && (r.error as Error).message.startsWith('call '))).toBe(true);
      expect(clock.pending).toBe(0);
    });
  });

  describe('delays', () => {
    const jitters: Jitter[] = ['full', 'equal', 'decorrelated', 'none'];

    it.each(jitters)(
      "waits exactly the backoff's delays with jitter '%s' and a seeded random",
      async (jitter) => {
        const clock = virtualClock();
        const policy = retry({
          maxAttempts: 7,
          backoff: exponentialBackoff({ initialMs: 100, maxMs: 1_500, jitter }),
          clock,
          random: seededRandom(2024),
        });
        const { retries } = events(policy);
        const { op, calls } = alwaysFailing(clock);
        const result = track(policy.execute(op), clock);
        await runTimers(clock);
        expect(result.error).toBeInstanceOf(Error);

        // The formulas, computed independently from the same seed.
        const random = seededRandom(2024);
        const expected: number[] = [];
        let sleep = 100;
        for (let attempt = 1; attempt <= 6; attempt++) {
          const ceiling = Math.min(1_500, 100 * 2 ** (attempt - 1));
          if (jitter === 'full') sleep = random() * ceiling;
          else if (jitter === 'equal') sleep = ceiling / 2 + random() * (ceiling / 2);
          else if (jitter === 'decorrelated') sleep = Math.min(1_500, 100 + random() * (sleep * 3 - 100));
          else sleep = ceiling;
          expected.push(sleep);
        }
        expect(retries.map((e) => e.delayMs)).toEqual(expected);
        expect(retries.map((e) => e.attempt)).toEqual([1, 2, 3, 4, 5, 6]);
        let at = 0;
        const expectedTimes = [0, ...expected.map((delay) => (at += delay))];
        expect(calls.map((c) => c.at)).toEqual(expectedTimes);
      },
    );

    it('caps computed delays at maxDelayMs', async () => {
      const clock = virtualClock();
      const policy = retry({
        maxAttempts: 5,
        backoff: exponentialBackoff({ initialMs: 100, jitter: 'none' }),
        maxDelayMs: 250,
        clock,
      });
      const { retries } = events(policy);
      track(policy.execute(alwaysFailing(clock).op), clock);
      await runTimers(clock);
      expect(retries.map((e) => e.delayMs)).toEqual([100, 200, 250, 250]);
    });

    it('passes the previous uncapped backoff delay to the backoff, and attempt = the failed attempt', async () => {
      const clock = virtualClock();
      const inputs: { attempt: number; previousDelayMs: number | undefined }[] = [];
      const backoff: Backoff = {
        next: ({ attempt, previousDelayMs }) => {
          inputs.push({ attempt, previousDelayMs });
          return attempt * 1_000;
        },
      };
      const policy = retry({ maxAttempts: 4, backoff, maxDelayMs: 1_500, clock });
      track(policy.execute(alwaysFailing(clock).op), clock);
      await runTimers(clock);
      expect(inputs).toEqual([
        { attempt: 1, previousDelayMs: undefined },
        { attempt: 2, previousDelayMs: 1_000 },
        { attempt: 3, previousDelayMs: 2_000 },
      ]);
    });

    it('accepts a number as a constant backoff, and 0 retries without a timer', async () => {
      const clock = virtualClock();
      const { op, calls } = alwaysFailing(clock);
      const result = track(retry({ backoff: 0, maxAttempts: 3, clock }).execute(op), clock);
      await clock.flush();
      expect(result.settled).toBe(true);
      expect(calls.map((c) => c.at)).toEqual([0, 0, 0]);
      expect(clock.pending).toBe(0);
      const second = alwaysFailing(clock);
      track(retry({ backoff: constantBackoff(40), clock }).execute(second.op), clock);
      await runTimers(clock);
      expect(second.calls.map((c) => c.at)).toEqual([0, 40, 80]);
    });

    it('rejects with a RangeError when a custom backoff returns something other than a number >= 0', async () => {
      const clock = virtualClock();
      const { op, errors } = alwaysFailing(clock);
      const bad: Backoff = { next: () => Number.NaN };
      const result = track(retry({ backoff: bad, clock }).execute(op), clock);
      await runTimers(clock);
      expect(result.error).toBeInstanceOf(RangeError);
      expect((result.error as Error).message).toBe(
        'retry: backoff.next() must return a number >= 0, received NaN',
      );
      expect((result.error as Error).cause).toBe(errors[0]);
    });
  });

  describe('Retry-After (retryAfterMs on the failure)', () => {
    it('waits at least retryAfterMs, never shortened by jitter or maxDelayMs', async () => {
      const clock = virtualClock();
      const policy = retry({
        maxAttempts: 3,
        backoff: exponentialBackoff({ initialMs: 100, jitter: 'full' }),
        maxDelayMs: 1_000,
        clock,
        random: () => 0.999,
      });
      const { retries } = events(policy);
      const { op, calls } = alwaysFailing(clock, () =>
        Object.assign(new Error('429'), { retryAfterMs: 5_000 }),
      );
      track(policy.execute(op), clock);
      await runTimers(clock);
      expect(retries.map((e) => e.delayMs)).toEqual([5_000, 5_000]);
      expect(calls.map((c) => c.at)).toEqual([0, 5_000, 10_000]);
    });

    it('keeps the longer backoff when the failure asks for less', async () => {
      const clock = virtualClock();
      const policy = retry({ maxAttempts: 2, backoff: 300, clock });
      const { retries } = events(policy);
      track(policy.execute(alwaysFailing(clock, () => ({ retryAfterMs: 100 })).op), clock);
      await runTimers(clock);
      expect(retries.map((e) => e.delayMs)).toEqual([300]);
    });

    it("honours an open circuit's BrokenCircuitError.retryAfterMs", async () => {
      const clock = virtualClock();
      const policy = retry({ maxAttempts: 2, backoff: 10, clock });
      const { calls, op } = alwaysFailing(clock, () => new BrokenCircuitError(2_500));
      track(policy.execute(op), clock);
      await runTimers(clock);
      expect(calls.map((c) => c.at)).toEqual([0, 2_500]);
    });

    it('ignores a retryAfterMs that is not a number >= 0', async () => {
      const clock = virtualClock();
      const policy = retry({ maxAttempts: 4, backoff: 10, clock });
      const weird = ['5000', -1, Number.NaN];
      const { calls, op } = alwaysFailing(clock, (n) => ({ retryAfterMs: weird[n - 1] }));
      track(policy.execute(op), clock);
      await runTimers(clock);
      expect(calls.map((c) => c.at)).toEqual([0, 10, 20, 30]);
    });

    it("gives up at once ('retry-after') when the failure asks for more than maxRetryAfterMs", async () => {
      const clock = virtualClock();
      const policy = retry({ maxRetryAfterMs: 10_000, clock });
      const { giveUps } = events(policy);
      const { calls, op, errors } = alwaysFailing(clock, () => ({ retryAfterMs: 10_001 }));
      const result = track(policy.execute(op), clock);
      await clock.flush();
      expect(result).toMatchObject({ settled: true, error: errors[0], at: 0 });
      expect(calls).toHaveLength(1);
      expect(giveUps.map((e) => e.reason)).toEqual(['retry-after']);
      const isolated = track(
        policy.execute(() => Promise.reject(new IsolatedCircuitError())),
        clock,
      );
      await clock.flush();
      expect(isolated.error).toBeInstanceOf(IsolatedCircuitError);
      expect(giveUps.map((e) => e.reason)).toEqual(['retry-after', 'retry-after']);
      expect(clock.pending).toBe(0);
    });
  });

  describe('deadline', () => {
    it("gives up early ('deadline') with the last error when the next wait would reach ctx.deadline", async () => {
      const clock = virtualClock();
      const inner = retry({ maxAttempts: 10, backoff: 400, clock });
      const { giveUps } = events(inner);
      const { op, calls, errors } = alwaysFailing(clock);
      const result = track(pipeline(deadlineOf(1_000, clock), inner).execute(op), clock);
      await runTimers(clock);
      // 400 + 400 = 800 is before the deadline; 800 + 400 would pass it, so the policy stops at 800.
      expect(calls.map((c) => c.at)).toEqual([0, 400, 800]);
      expect(result).toMatchObject({ settled: true, error: errors[2], at: 800 });
      expect(giveUps.map((e) => e.reason)).toEqual(['deadline']);
    });

    it('gives up at once when a Retry-After wait would pass the deadline', async () => {
      const clock = virtualClock();
      const inner = retry({ maxAttempts: 10, backoff: 1, clock });
      const { giveUps } = events(inner);
      const { op, calls } = alwaysFailing(clock, () => ({ retryAfterMs: 30_000 }));
      const result = track(pipeline(deadlineOf(10_000, clock), inner).execute(op), clock);
      await clock.flush();
      expect(result.settled).toBe(true);
      expect(calls).toHaveLength(1);
      expect(giveUps.map((e) => e.reason)).toEqual(['deadline']);
    });
  });

  describe('abort', () => {
    it('an abort during a wait settles at once with the caller reason, and no further attempt runs', async () => {
      const clock = virtualClock();
      const capture = new Capture();
      const policy = retry({ backoff: 1_000, clock });
      const { giveUps } = events(policy);
      const caller = new AbortController();
      const reason = new Error('user cancelled');
      const { op, calls } = alwaysFailing(clock);
      const result = track(pipeline(capture, policy).execute(op, { signal: caller.signal }), clock);
      const inner = track(capture.inner!, clock);
      await clock.advance(300);
      expect(clock.pending).toBe(1);
      caller.abort(reason);
      await clock.flush();
      expect(result).toMatchObject({ settled: true, error: reason, at: 300 });
      // The retry policy itself settled too, not only the caller-facing race.
      expect(inner).toMatchObject({ settled: true, error: reason, at: 300 });
      expect(clock.pending).toBe(0);
      expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
      await clock.advance(10_000);
      expect(calls).toHaveLength(1);
      expect(giveUps).toEqual([{ context: calls[0]!.context, attempt: 1, error: reason, reason: 'aborted' }]);
    });

    it('does not retry a failure that happened while the context was aborted', async () => {
      const clock = virtualClock();
      const policy = retry({ backoff: 10, clock });
      const { giveUps } = events(policy);
      const caller = new AbortController();
      let calls = 0;
      const result = track(
        policy.execute(
          (ctx) => {
            calls++;
            return new Promise((_, reject) => {
              ctx.signal.addEventListener('abort', () => reject(new Error('aborted by signal')), {
                once: true,
              });
            });
          },
          { signal: caller.signal },
        ),
        clock,
      );
      caller.abort(new Error('stop'));
      await runTimers(clock);
      expect(result.settled).toBe(true);
      expect(calls).toBe(1);
      expect(giveUps.map((e) => e.reason)).toEqual(['aborted']);
    });

    it('checks for an abort before an attempt that follows a zero wait', async () => {
      const clock = virtualClock();
      const policy = retry({ backoff: 0, clock });
      const { giveUps } = events(policy);
      const caller = new AbortController();
      const reason = new Error('stop');
      let calls = 0;
      const result = track(
        policy.execute(
          () => {
            calls++;
            // Fails, then the caller aborts before the policy looks at the failure.
            return Promise.reject(new Error('boom')).finally(() => caller.abort(reason));
          },
          { signal: caller.signal },
        ),
        clock,
      );
      await clock.flush();
      expect(result.error).toBe(reason);
      expect(calls).toBe(1);
      expect(giveUps.map((e) => e.reason)).toEqual(['aborted']);
    });

    it('leaves no timer and no listener behind after success, failure and abort', async () => {
      const clock = virtualClock();
      const policy = retry({ maxAttempts: 3, backoff: 100, clock });
      const caller = new AbortController();
      const options = { signal: caller.signal };
      const succeeding = track(
        policy.execute((ctx) => (ctx.attempt < 3 ? Promise.reject(new Error('x')) : 'ok'), options),
        clock,
      );
      const failing = track(policy.execute(alwaysFailing(clock).op, options), clock);
      await runTimers(clock);
      expect(succeeding.value).toBe('ok');
      expect(failing.error).toBeInstanceOf(Error);
      expect(clock.pending).toBe(0);
      expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);

      const aborted = track(policy.execute(alwaysFailing(clock).op, options), clock);
      await clock.advance(50);
      expect(clock.pending).toBe(1);
      expect(getEventListeners(caller.signal, 'abort').length).toBeGreaterThan(0);
      caller.abort(new Error('stop'));
      await clock.flush();
      expect(aborted.settled).toBe(true);
      expect(clock.pending).toBe(0);
      expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    });
  });

  describe('budget', () => {
    async function storm(
      budget: ReturnType<typeof retryBudget> | undefined,
    ): Promise<{ calls: number; reasons: Map<string, number> }> {
      const clock = virtualClock();
      const policy = retry({ maxAttempts: 4, backoff: 0, budget, clock });
      const reasons = new Map<string, number>();
      policy.onGiveUp((event) => reasons.set(event.reason, (reasons.get(event.reason) ?? 0) + 1));
      let calls = 0;
      const op = () => {
        calls++;
        return Promise.reject(new Error('down'));
      };
      await Promise.all(Array.from({ length: 10_000 }, () => policy.execute(op).catch(() => undefined)));
      return { calls, reasons };
    }

    it('keeps 10,000 always-failing calls within 1.1x operation calls when the ratio outweighs the floor', async () => {
      const budget = retryBudget({ ratio: 0.1, minPerSecond: 10, windowMs: 10_000, clock: virtualClock() });
      const { calls, reasons } = await storm(budget);
      // 0.1 x 10,000 calls = 1,000 retries, more than the floor (10/s x 10 s = 100), which then adds nothing.
      expect(calls).toBeLessThanOrEqual(10_000 * 1.1);
      // All calls started before any failed, so the whole budget was available: exactly that many retries.
      expect(calls).toBe(11_000);
      expect(reasons.get('budget')).toBeGreaterThan(9_000);
      expect(reasons.get('budget')! + (reasons.get('attempts') ?? 0)).toBe(10_000);
    });

    it('makes exactly 4x the calls without a budget', async () => {
      const { calls, reasons } = await storm(undefined);
      expect(calls).toBe(40_000);
      expect(reasons.get('attempts')).toBe(10_000);
    });

    it('is shared by several policies', async () => {
      const clock = virtualClock();
      const budget = retryBudget({ ratio: 0.5, minPerSecond: 0, clock });
      const a = retry({ maxAttempts: 10, backoff: 0, budget, clock });
      const b = retry({ maxAttempts: 10, backoff: 0, budget, clock });
      let calls = 0;
      const op = () => {
        calls++;
        return Promise.reject(new Error('down'));
      };
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).execute(op).catch(() => undefined)),
      );
      expect(calls).toBe(150);
    });

    it('deposits once per call and withdraws once per retry', async () => {
      const clock = virtualClock();
      const log: string[] = [];
      const budget = {
        deposit: () => log.push('deposit'),
        tryWithdraw: () => log.push('withdraw') < 3, // the 2nd withdrawal (log entry 3) is refused
      };
      const policy = retry({ maxAttempts: 5, backoff: 0, budget, clock });
      const { giveUps } = events(policy);
      await expect(policy.execute(alwaysFailing(clock).op)).rejects.toThrow('failure 2');
      expect(log).toEqual(['deposit', 'withdraw', 'withdraw']);
      expect(giveUps.map((e) => e.reason)).toEqual(['budget']);
      await policy.execute(() => 'ok');
      expect(log.at(-1)).toBe('deposit');
    });

    it('caps maxAttempts at 11 unless allowUnsafeRetries lifts the cap', async () => {
      expect(retry({ maxAttempts: 11 }).maxAttempts).toBe(11);
      const clock = virtualClock();
      const policy = retry({ maxAttempts: 20, allowUnsafeRetries: true, backoff: 0, clock });
      const { calls, op } = alwaysFailing(clock);
      await expect(policy.execute(op)).rejects.toThrow('failure 20');
      expect(calls).toHaveLength(20);
    });

    it('lets maxAttempts be Infinity only with allowUnsafeRetries and a budget, which then bounds the retries', async () => {
      const clock = virtualClock();
      const budget = retryBudget({ ratio: 0, minPerSecond: 1, windowMs: 5_000, clock });
      const policy = retry({
        maxAttempts: Number.POSITIVE_INFINITY,
        allowUnsafeRetries: true,
        backoff: 0,
        budget,
        clock,
      });
      expect(policy.maxAttempts).toBe(Number.POSITIVE_INFINITY);
      const { calls, op } = alwaysFailing(clock);
      await expect(policy.execute(op)).rejects.toThrow('failure 6');
      expect(calls).toHaveLength(6);
    });
  });

  describe('events', () => {
    it('emits onRetry before each wait and onGiveUp once, also on their diagnostics channels', async () => {
      const clock = virtualClock();
      const fromOptions: unknown[] = [];
      const policy = retry({
        maxAttempts: 3,
        backoff: 50,
        clock,
        onRetry: (event) => fromOptions.push(['retry', event.attempt]),
        onGiveUp: (event) => fromOptions.push(['give-up', event.reason]),
      });
      const published: [string, unknown][] = [];
      const onRetry = (message: unknown) => published.push(['retry', message]);
      const onGiveUp = (message: unknown) => published.push(['give-up', message]);
      subscribe('breakwater:retry:retry', onRetry);
      subscribe('breakwater:retry:give-up', onGiveUp);
      const retries: RetryEvent[] = [];
      const subscription = policy.onRetry((event) => {
        expect(clock.pending).toBe(0); // before the wait starts
        retries.push(event);
      });
      try {
        const { op, calls, errors } = alwaysFailing(clock);
        track(policy.execute(op), clock);
        await runTimers(clock);
        expect(retries).toEqual([
          { context: calls[0]!.context, attempt: 1, delayMs: 50, error: errors[0] },
          { context: calls[1]!.context, attempt: 2, delayMs: 50, error: errors[1] },
        ]);
        expect(published.map(([channel]) => channel)).toEqual(['retry', 'retry', 'give-up']);
        expect(published[0]![1]).toBe(retries[0]);
        expect(published[2]![1]).toEqual({
          context: calls[2]!.context,
          attempt: 3,
          error: errors[2],
          reason: 'attempts',
        });
        expect(fromOptions).toEqual([
          ['retry', 1],
          ['retry', 2],
          ['give-up', 'attempts'],
        ]);
      } finally {
        unsubscribe('breakwater:retry:retry', onRetry);
        unsubscribe('breakwater:retry:give-up', onGiveUp);
        subscription.dispose();
      }
      track(policy.execute(alwaysFailing(clock).op), clock);
      await runTimers(clock);
      expect(retries).toHaveLength(2);
    });
  });

  it('keeps attempts <= maxAttempts and every delay within its jitter bounds, for any outcomes and seed (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.integer(),
          maxAttempts: fc.integer({ min: 1, max: 8 }),
          jitter: fc.constantFrom<Jitter>('full', 'equal', 'decorrelated', 'none'),
          initialMs: fc.integer({ min: 1, max: 2_000 }),
          extraMs: fc.integer({ min: 0, max: 20_000 }),
          factor: fc.double({ min: 1, max: 4, noNaN: true }),
          maxDelayMs: fc.integer({ min: 0, max: 30_000 }),
          outcomes: fc.array(fc.boolean(), { maxLength: 10 }),
        }),
        async ({ seed, maxAttempts, jitter, initialMs, extraMs, factor, maxDelayMs, outcomes }) => {
          const clock = virtualClock();
          const maxMs = initialMs + extraMs;
          const backoff = exponentialBackoff(
            jitter === 'decorrelated' ? { initialMs, maxMs, jitter } : { initialMs, maxMs, factor, jitter },
          );
          const policy = retry({ maxAttempts, backoff, maxDelayMs, clock, random: seededRandom(seed) });
          const { retries } = events(policy);
          const times: number[] = [];
          const result = track(
            policy.execute(() => {
              const succeeds = outcomes[times.length] === true;
              times.push(clock.now());
              return succeeds ? times.length : Promise.reject(new Error(`failure ${times.length}`));
            }),
            clock,
          );
          await runTimers(clock);
          await clock.flush();
          expect(result.settled).toBe(true);

          const firstSuccess = outcomes.slice(0, maxAttempts).indexOf(true);
          const expectedAttempts = firstSuccess === -1 ? maxAttempts : firstSuccess + 1;
          expect(times.length).toBeLessThanOrEqual(maxAttempts);
          expect(times).toHaveLength(expectedAttempts);
          if (firstSuccess === -1) expect((result.error as Error).message).toBe(`failure ${maxAttempts}`);
          else expect(result.value).toBe(expectedAttempts);

          expect(retries).toHaveLength(expectedAttempts - 1);
          retries.forEach(({ delayMs, attempt }, i) => {
            expect(attempt).toBe(i + 1);
            const ceiling = Math.min(maxMs, initialMs * factor ** i);
            const previous = retries[i - 1]?.delayMs ?? initialMs;
            const [low, high] =
              jitter === 'full'
                ? [0, ceiling]
                : jitter === 'equal'
                  ? [ceiling / 2, ceiling]
                  : jitter === 'none'
                    ? [ceiling, ceiling]
                    : // A capped previous delay hides the backoff's own, so only cap-free steps bound the growth.
                      [initialMs, i > 0 && previous < maxDelayMs ? Math.min(maxMs, 3 * previous) : maxMs];
            expect(delayMs).toBeGreaterThanOrEqual(Math.min(low, maxDelayMs));
            expect(delayMs).toBeLessThanOrEqual(Math.min(high, maxDelayMs));
            expect(times[i + 1]).toBe(times[i]! + delayMs);
          });
          expect(clock.pending).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  describe('options', () => {
    it('has the documented defaults and does not mutate its options', () => {
      const options = Object.freeze({ maxAttempts: 5 });
      const policy = retry(options);
      expect(policy.maxAttempts).toBe(5);
      expect(options).toEqual({ maxAttempts: 5 });
      const defaults = retry();
      expect(defaults.maxAttempts).toBe(3);
      expect({ ...defaults.backoff }).toEqual({ initialMs: 500, maxMs: 30_000, factor: 2, jitter: 'full' });
    });

    it.each<[unknown, ErrorConstructor, string]>([
      [{ maxAttempts: -1 }, RangeError, 'retry: maxAttempts must be an integer >= 1, received -1'],
      [{ maxAttempts: 0 }, RangeError, 'retry: maxAttempts must be an integer >= 1, received 0'],
      [{ maxAttempts: 2.5 }, RangeError, 'retry: maxAttempts must be an integer >= 1, received 2.5'],
      [{ maxAttempts: '3' }, TypeError, 'retry: maxAttempts must be an integer >= 1, received "3"'],
      [{ maxAttempts: Number.NaN }, RangeError, 'retry: maxAttempts must be an integer >= 1, received NaN'],
      [
        { maxAttempts: 12 },
        RangeError,
        'retry: maxAttempts must be at most 11 (10 retries), received 12; set allowUnsafeRetries: true if you mean it',
      ],
      [
        { maxAttempts: Number.POSITIVE_INFINITY, budget: retryBudget() },
        RangeError,
        'retry: maxAttempts must be at most 11 (10 retries), received Infinity',
      ],
      [
        { maxAttempts: Number.POSITIVE_INFINITY, allowUnsafeRetries: true },
        RangeError,
        'retry: maxAttempts Infinity needs a budget',
      ],
      [
        { allowUnsafeRetries: 'yes' },
        TypeError,
        'retry: allowUnsafeRetries must be a boolean, received "yes"',
      ],
      [{ backoff: -5 }, RangeError, 'retry: backoff must be a number >= 0 and <= 2147483647, received -5'],
      [
        { backoff: 'exponential' },
        TypeError,
        'retry: backoff must be a number of milliseconds or an object with a next() method',
      ],
      [
        { backoff: { delay: 5 } },
        TypeError,
        'retry: backoff must be a number of milliseconds or an object with a next() method',
      ],
      [{ shouldHandle: true }, TypeError, 'retry: shouldHandle must be a function, received true'],
      [{ budget: 0.1 }, TypeError, 'retry: budget must be a retry budget such as retryBudget()'],
      [{ budget: { deposit() {} } }, TypeError, 'retry: budget must be a retry budget such as retryBudget()'],
      [
        { maxDelayMs: -1 },
        RangeError,
        'retry: maxDelayMs must be a number >= 0 and <= 2147483647, received -1',
      ],
      [{ maxDelayMs: 2 ** 31 }, RangeError, 'retry: maxDelayMs must be a number >= 0 and <= 2147483647'],
      [
        { maxRetryAfterMs: Number.POSITIVE_INFINITY },
        RangeError,
        'retry: maxRetryAfterMs must be a number >= 0',
      ],
      [{ onRetry: 'log' }, TypeError, 'retry: onRetry must be a function, received "log"'],
      [{ onGiveUp: {} }, TypeError, 'retry: onGiveUp must be a function, received an object'],
      [
        { clock: {} },
        TypeError,
        'retry: clock must be an object with now(), setTimeout() and clearTimeout()',
      ],
      [{ random: 0.5 }, TypeError, 'retry: random must be a function, received 0.5'],
      [{ retries: 3 }, TypeError, 'retry: unknown option "retries"'],
      [{ maxAttempt: 3 }, TypeError, 'retry: unknown option "maxAttempt" (did you mean "maxAttempts"?)'],
      [{ jitter: 'full' }, TypeError, 'retry: unknown option "jitter"'],
      [null, TypeError, 'retry: options must be an object, received null'],
    ])('rejects %o', (options, ErrorType, message) => {
      const build = () => retry(options as Parameters<typeof retry>[0]);
      expect(build).toThrow(ErrorType);
      expect(build).toThrow(message);
    });
  });
});

/** A policy that only gives its context a deadline `ms` from now, like an enclosing timeout that never fires. */
function deadlineOf(ms: number, clock: VirtualClock) {
  return new (class extends BasePolicy {
    protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
      const forked = context.fork(clock.now() + ms);
      return callOperation(fn, forked).finally(() => forked.release());
    }
  })();
}
