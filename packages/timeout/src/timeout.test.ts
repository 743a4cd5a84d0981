import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import {
  BasePolicy,
  type Context,
  callOperation,
  type ExecutionContext,
  isBreakwaterError,
  type Operation,
  pipeline,
  TimeoutError,
} from '@breakwater/core';
import { type VirtualClock, virtualClock } from '@breakwater/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type TimeoutEvent, timeout } from './index.js';

/** Records how and when a promise settled, so a test can look without racing it. */
function track<T>(promise: Promise<T>, clock: VirtualClock) {
  const state: { settled: boolean; value?: T; error?: unknown; at?: number } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value, at: clock.now() }),
    (error: unknown) => Object.assign(state, { settled: true, error, at: clock.now() }),
  );
  return state;
}

/** An operation that settles only when its signal aborts, rejecting with the abort reason (as fetch does). */
function untilAborted(ctx: Context): Promise<never> {
  return new Promise((_, reject) => {
    ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
  });
}

/** An operation that ignores its signal and settles on the clock after `ms`. */
function after<T>(clock: VirtualClock, ms: number, outcome: () => T): Promise<T> {
  return new Promise((resolve, reject) => {
    clock.setTimeout(() => {
      try {
        resolve(outcome());
      } catch (error) {
        reject(error);
      }
    }, ms);
  });
}

/** An outer policy that keeps the promise of the policy inside it, to see what that policy itself settles with. */
class Capture extends BasePolicy {
  inner: Promise<unknown> | undefined;
  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    const promise = callOperation(fn, context);
    this.inner = promise;
    promise.catch(() => {});
    return promise;
  }
}

describe('timeout', () => {
  it('fires at exactly ms on the clock, aborting ctx.signal with the TimeoutError it rejects with', async () => {
    const clock = virtualClock({ start: 1_000 });
    const policy = timeout({ ms: 100, clock });
    let seen: Context | undefined;
    const result = track(
      policy.execute((ctx) => {
        seen = ctx;
        return untilAborted(ctx);
      }),
      clock,
    );
    await clock.advance(99);
    expect(result.settled).toBe(false);
    expect(seen!.signal.aborted).toBe(false);
    await clock.advance(1);
    expect(result.settled).toBe(true);
    expect(result.at).toBe(1_100);
    expect(result.error).toBeInstanceOf(TimeoutError);
    expect(isBreakwaterError(result.error)).toBe(true);
    expect((result.error as TimeoutError).code).toBe('ERR_BREAKWATER_TIMEOUT');
    expect((result.error as TimeoutError).timeoutMs).toBe(100);
    expect(seen!.signal.reason).toBe(result.error);
    expect((result.error as TimeoutError).cause).toBeUndefined();
  });

  it('sets ctx.deadline to now + ms on the clock', async () => {
    const clock = virtualClock({ start: 5_000 });
    let deadline: number | undefined;
    await timeout({ ms: 250, clock }).execute((ctx) => {
      deadline = ctx.deadline;
    });
    expect(deadline).toBe(5_250);
  });

  it('resolves with the value when the operation beats the deadline, and the timer entry goes away', async () => {
    const clock = virtualClock();
    const policy = timeout({ ms: 100, clock });
    const events: TimeoutEvent[] = [];
    policy.onTimeout((event) => events.push(event));
    let signal: AbortSignal | undefined;
    const result = track(
      policy.execute((ctx) => {
        signal = ctx.signal;
        return after(clock, 40, () => 'ok');
      }),
      clock,
    );
    await clock.advance(40);
    expect(result).toMatchObject({ settled: true, value: 'ok', at: 40 });
    await clock.advance(1_000);
    expect(signal!.aborted).toBe(false);
    expect(events).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  it('passes an operation failure before the deadline on as is', async () => {
    const clock = virtualClock();
    const boom = new Error('boom');
    const policy = timeout({ ms: 100, clock });
    await expect(
      policy.execute(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    const late = track(
      policy.execute(() =>
        after(clock, 99, () => {
          throw boom;
        }),
      ),
      clock,
    );
    await clock.advance(200);
    expect(late).toMatchObject({ settled: true, error: boom, at: 99 });
  });

  describe("strategy 'cooperative' (default)", () => {
    it('waits for an operation that ignores its signal and resolves with its late value', async () => {
      const clock = virtualClock();
      const events: TimeoutEvent[] = [];
      const policy = timeout({ ms: 100, clock });
      policy.onTimeout((event) => events.push(event));
      let signal: AbortSignal | undefined;
      const result = track(
        policy.execute((ctx) => {
          signal = ctx.signal;
          return after(clock, 150, () => 'late');
        }),
        clock,
      );
      await clock.advance(100);
      expect(result.settled).toBe(false);
      expect(signal!.aborted).toBe(true);
      expect(events).toHaveLength(1);
      await clock.advance(50);
      expect(result).toMatchObject({ settled: true, value: 'late', at: 150 });
    });

    it('turns a failure after the timer fired into the TimeoutError, with that failure as cause', async () => {
      const clock = virtualClock();
      const policy = timeout({ ms: 100, clock });
      const failure = new Error('connection reset');
      let signal: AbortSignal | undefined;
      const result = track(
        policy.execute((ctx) => {
          signal = ctx.signal;
          return after(clock, 130, () => {
            throw failure;
          });
        }),
        clock,
      );
      await clock.advance(130);
      expect(result.at).toBe(130);
      expect(result.error).toBeInstanceOf(TimeoutError);
      expect(result.error).toBe(signal!.reason);
      expect((result.error as TimeoutError).cause).toBe(failure);
    });
  });

  describe("strategy 'aggressive'", () => {
    it('rejects at the deadline although the operation ignores its signal, which keeps running', async () => {
      const clock = virtualClock();
      const policy = timeout({ ms: 100, strategy: 'aggressive', clock });
      let signal: AbortSignal | undefined;
      let finished = false;
      const result = track(
        policy.execute((ctx) => {
          signal = ctx.signal;
          return after(clock, 300, () => {
            finished = true;
            return 'late';
          });
        }),
        clock,
      );
      await clock.advance(100);
      expect(result.at).toBe(100);
      expect(result.error).toBeInstanceOf(TimeoutError);
      expect(signal!.reason).toBe(result.error);
      expect(finished).toBe(false);
      await clock.advance(200);
      expect(finished).toBe(true);
      expect(result.error).toBeInstanceOf(TimeoutError);
    });

    it('leaves nothing on the caller signal once it gave up, while the operation runs on', async () => {
      const clock = virtualClock();
      const policy = timeout({ ms: 100, strategy: 'aggressive', clock });
      const caller = new AbortController();
      let finished = false;
      const result = track(
        policy.execute(
          (ctx) => {
            void ctx.signal; // links the attempt's signal to the caller's
            return after(clock, 300, () => {
              finished = true;
            });
          },
          { signal: caller.signal },
        ),
        clock,
      );
      expect(getEventListeners(caller.signal, 'abort')).toHaveLength(2); // caller race + the fork's link
      await clock.advance(150);
      expect(result.error).toBeInstanceOf(TimeoutError);
      expect(finished).toBe(false);
      // The fork aborted, so it no longer needs to follow the caller.
      expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
      await clock.advance(150);
      expect(finished).toBe(true);
      expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    });

    it('rejects with a late failure as is when the caller aborted first, and never swallows it unhandled', async () => {
      const clock = virtualClock();
      const capture = new Capture();
      const policy = pipeline(capture, timeout({ ms: 100, strategy: 'aggressive', clock }));
      const caller = new AbortController();
      const reason = new Error('caller gave up');
      const result = track(
        policy.execute(() => after(clock, 500, () => 'ignored'), { signal: caller.signal }),
        clock,
      );
      const inner = track(capture.inner!, clock);
      await clock.advance(10);
      caller.abort(reason);
      await clock.flush();
      expect(result).toMatchObject({ settled: true, error: reason, at: 10 });
      // The timeout itself gives up at its deadline with the caller's reason, not with a TimeoutError.
      await clock.advance(90);
      expect(inner).toMatchObject({ settled: true, error: reason, at: 100 });
      await clock.advance(400);
    });
  });

  describe('caller abort wins', () => {
    it('rejects with the caller reason as is, without a timeout event, even after the deadline passes', async () => {
      const clock = virtualClock();
      const policy = timeout({ ms: 100, clock });
      const events: TimeoutEvent[] = [];
      policy.onTimeout((event) => events.push(event));
      const caller = new AbortController();
      const reason = new Error('user navigated away');
      let seen: Context | undefined;
      const result = track(
        policy.execute(
          (ctx) => {
            seen = ctx;
            return untilAborted(ctx);
          },
          { signal: caller.signal },
        ),
        clock,
      );
      await clock.advance(50);
      caller.abort(reason);
      await clock.advance(200);
      expect(result).toMatchObject({ settled: true, error: reason, at: 50 });
      expect(seen!.signal.reason).toBe(reason);
      expect(events).toEqual([]);
    });

    it('the policy itself rethrows what the operation failed with when the caller aborted', async () => {
      const clock = virtualClock();
      const capture = new Capture();
      const policy = pipeline(capture, timeout({ ms: 100, clock }));
      const caller = new AbortController();
      const reason = new Error('stop');
      track(policy.execute(untilAborted, { signal: caller.signal }), clock);
      const inner = track(capture.inner!, clock);
      await clock.advance(30);
      caller.abort(reason);
      await clock.flush();
      expect(inner).toMatchObject({ settled: true, error: reason, at: 30 });
    });

    it('a signal the operation never read is not touched when the timer fires after the caller aborted', async () => {
      const clock = virtualClock();
      const capture = new Capture();
      const policy = pipeline(capture, timeout({ ms: 100, clock }));
      const caller = new AbortController();
      const events: TimeoutEvent[] = [];
      (policy.policies[1] as ReturnType<typeof timeout>).onTimeout((event) => events.push(event));
      let seen: Context | undefined;
      track(
        policy.execute(
          (ctx) => {
            seen = ctx;
            return after(clock, 200, () => 'x');
          },
          { signal: caller.signal },
        ),
        clock,
      );
      const inner = track(capture.inner!, clock);
      caller.abort(new Error('first'));
      await clock.advance(150);
      expect(events).toEqual([]);
      expect(seen!.signal.reason).toBe(caller.signal.reason);
      await clock.advance(50);
      expect(inner).toMatchObject({ settled: true, value: 'x' });
    });
  });

  describe('nested timeouts', () => {
    it('keep the earlier deadline, whichever is outside', async () => {
      const clock = virtualClock({ start: 10_000 });
      const deadlines: (number | undefined)[] = [];
      const record = (ctx: Context) => {
        deadlines.push(ctx.deadline);
      };
      await pipeline(timeout({ ms: 100, clock }), timeout({ ms: 50, clock })).execute(record);
      await pipeline(timeout({ ms: 50, clock }), timeout({ ms: 100, clock })).execute(record);
      expect(deadlines).toEqual([10_050, 10_050]);
    });

    it('the outer, earlier timeout fires and its TimeoutError comes out, not the inner one', async () => {
      const clock = virtualClock();
      const outer = timeout({ ms: 50, clock });
      const inner = timeout({ ms: 100, clock });
      const innerEvents: TimeoutEvent[] = [];
      const outerEvents: TimeoutEvent[] = [];
      inner.onTimeout((event) => innerEvents.push(event));
      outer.onTimeout((event) => outerEvents.push(event));
      const result = track(pipeline(outer, inner).execute(untilAborted), clock);
      await clock.advance(200);
      expect(result.at).toBe(50);
      expect((result.error as TimeoutError).timeoutMs).toBe(50);
      expect(outerEvents).toHaveLength(1);
      expect(innerEvents).toEqual([]);
    });

    it('the inner, earlier timeout fires first and the outer passes its error on', async () => {
      const clock = virtualClock();
      const result = track(
        pipeline(timeout({ ms: 100, clock }), timeout({ ms: 30, clock })).execute(untilAborted),
        clock,
      );
      await clock.advance(200);
      expect(result.at).toBe(30);
      expect((result.error as TimeoutError).timeoutMs).toBe(30);
    });
  });

  describe('events', () => {
    it('emits onTimeout with the context and publishes to breakwater:timeout:timeout', async () => {
      const clock = virtualClock();
      const policy = timeout({ ms: 20, clock });
      const events: TimeoutEvent[] = [];
      const published: unknown[] = [];
      const onMessage = (message: unknown) => published.push(message);
      subscribe('breakwater:timeout:timeout', onMessage);
      try {
        using _subscription = policy.onTimeout((event) => {
          // Emitted before the abort, so listeners see the timeout before the operation reacts to it.
          expect(event.context.signal.aborted).toBe(false);
          events.push(event);
        });
        let seen: Context | undefined;
        const result = track(
          policy.execute((ctx) => {
            seen = ctx;
            return untilAborted(ctx);
          }),
          clock,
        );
        await clock.advance(20);
        expect(result.error).toBeInstanceOf(TimeoutError);
        expect(events).toEqual([{ context: seen, timeoutMs: 20 }]);
        expect(published).toEqual(events);
      } finally {
        unsubscribe('breakwater:timeout:timeout', onMessage);
      }
      const again = track(policy.execute(untilAborted), clock);
      await clock.advance(20);
      expect(again.error).toBeInstanceOf(TimeoutError);
      expect(events).toHaveLength(1);
    });
  });

  describe('resources', () => {
    it('1,000 concurrent calls share two timers and each times out at exactly ms', async () => {
      const clock = virtualClock();
      const policy = timeout({ ms: 100, clock });
      const results = [];
      for (let i = 0; i < 1_000; i++) {
        results.push(track(policy.execute(untilAborted), clock));
        if (i % 100 === 99) await clock.advance(1);
        // One timer ends the turn the calls started in (it fixes their start), one fires at the earliest deadline.
        expect(clock.pending).toBeLessThanOrEqual(2);
      }
      // Started at 0..9 ms, so they time out at 100..109 ms.
      for (let t = 0; t < 120; t++) {
        await clock.advance(1);
        expect(clock.pending).toBeLessThanOrEqual(2);
      }
      results.forEach((result, i) => {
        expect(result.error).toBeInstanceOf(TimeoutError);
        expect(result.at).toBe(100 + Math.floor(i / 100));
      });
      expect(clock.pending).toBe(0);
    });

    it('does not read the clock for calls that end within the event-loop turn they started in', async () => {
      const clock = virtualClock({ start: 1_000 });
      let reads = 0;
      const counting = {
        ...clock,
        now: () => {
          reads++;
          return clock.now();
        },
      };
      const policy = timeout({ ms: 100, clock: counting });
      const inPipeline = pipeline(policy);
      for (let i = 0; i < 1_000; i++) {
        await policy.execute(async () => i);
        await inPipeline.execute(async () => i);
      }
      expect(reads).toBe(0);
      // The end of the turn reads it once and finds nothing left to time.
      await clock.advance(0);
      expect(reads).toBe(1);
      expect(clock.pending).toBe(0);
    });

    it('fixes a deadline read before the turn ends at the time of the read', async () => {
      const clock = virtualClock({ start: 500 });
      const policy = timeout({ ms: 100, clock });
      const seen: (number | undefined)[] = [];
      const first = track(policy.execute(untilAborted), clock);
      const second = track(
        policy.execute((ctx) => {
          seen.push(ctx.deadline, ctx.deadline);
          return untilAborted(ctx);
        }),
        clock,
      );
      expect(seen).toEqual([600, 600]);
      await clock.advance(99);
      expect([first.settled, second.settled]).toEqual([false, false]);
      await clock.advance(1);
      expect([first.at, second.at]).toEqual([600, 600]);
    });

    it('never times out early and, on a virtual clock, exactly on time (fast-check)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 50 }),
          fc.array(fc.record({ calls: fc.nat(5), advance: fc.nat(30), readDeadline: fc.boolean() }), {
            maxLength: 30,
          }),
          async (ms, steps) => {
            const clock = virtualClock();
            const policy = timeout({ ms, clock });
            const started: { at: number; state: ReturnType<typeof track> }[] = [];
            for (const step of steps) {
              for (let i = 0; i < step.calls; i++) {
                const at = clock.now();
                const state = track(
                  policy.execute((ctx) => {
                    if (step.readDeadline) expect(ctx.deadline).toBe(at + ms);
                    return untilAborted(ctx);
                  }),
                  clock,
                );
                started.push({ at, state });
              }
              await clock.advance(step.advance);
            }
            await clock.advance(ms);
            for (const { at, state } of started) {
              expect(state.error).toBeInstanceOf(TimeoutError);
              expect(state.at).toBe(at + ms);
            }
            expect(clock.pending).toBe(0);
          },
        ),
        { numRuns: 200 },
      );
    });

    it('on the system clock, fires after ms and within a few milliseconds of it', async () => {
      const policy = timeout(30);
      const start = performance.now();
      await expect(policy.execute(untilAborted)).rejects.toBeInstanceOf(TimeoutError);
      const elapsed = performance.now() - start;
      expect(elapsed).toBeGreaterThanOrEqual(30);
      // The start is taken as this turn ends; the rest is this shared machine's timer lag.
      expect(elapsed).toBeLessThan(30 + 25);
    });

    it('leaves no listener on a caller signal after 10,000 calls that read ctx.signal', async () => {
      const clock = virtualClock();
      const policy = timeout({ ms: 100, clock });
      const aggressive = timeout({ ms: 100, strategy: 'aggressive', clock });
      const caller = new AbortController();
      // 10 rounds of 1,000 concurrent calls: succeeding, failing and timing out, cooperative and aggressive.
      for (let round = 0; round < 10; round++) {
        const calls: Promise<unknown>[] = [];
        for (let i = 0; i < 1_000; i++) {
          const which = i % 2 === 0 ? policy : aggressive;
          const op =
            i % 3 === 0
              ? (ctx: Context) => (ctx.signal.aborted ? 0 : i)
              : i % 3 === 1
                ? (ctx: Context) => Promise.reject(new Error(String(ctx.signal.aborted)))
                : untilAborted;
          calls.push(which.execute(op, { signal: caller.signal }).catch(() => undefined));
        }
        expect(getEventListeners(caller.signal, 'abort').length).toBeGreaterThan(1_000);
        await clock.advance(100);
        await Promise.all(calls);
        expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
      }
      expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
      expect(clock.pending).toBe(0);
    });
  });

  describe('options', () => {
    it('accepts timeout(ms) as shorthand and exposes its settings', () => {
      const policy = timeout(1_500);
      expect(policy.timeoutMs).toBe(1_500);
      expect(policy.strategy).toBe('cooperative');
      expect(timeout({ ms: 1, strategy: 'aggressive' }).strategy).toBe('aggressive');
    });

    it('does not mutate or need a writable options object', () => {
      const options = Object.freeze({ ms: 10, strategy: 'aggressive' as const });
      timeout(options);
      expect(options).toEqual({ ms: 10, strategy: 'aggressive' });
    });

    it.each<[unknown, ErrorConstructor, string]>([
      [undefined, TypeError, 'timeout: ms is required'],
      [{}, TypeError, 'timeout: ms is required'],
      [null, TypeError, 'timeout: options must be an object, received null'],
      [0, RangeError, 'timeout: ms must be a number > 0 and <= 2147483647, received 0'],
      [-5, RangeError, 'timeout: ms must be a number > 0 and <= 2147483647, received -5'],
      [Number.NaN, RangeError, 'timeout: ms must be a number > 0 and <= 2147483647, received NaN'],
      [
        Number.POSITIVE_INFINITY,
        RangeError,
        'timeout: ms must be a number > 0 and <= 2147483647, received Infinity',
      ],
      [2 ** 31, RangeError, 'timeout: ms must be a number > 0 and <= 2147483647, received 2147483648'],
      [{ ms: '100' }, TypeError, 'timeout: ms must be a number > 0 and <= 2147483647, received "100"'],
      [
        { ms: 10, strategy: 'pessimistic' },
        RangeError,
        'timeout: strategy must be one of "cooperative", "aggressive"',
      ],
      [{ ms: 10, strategy: 1 }, TypeError, 'timeout: strategy must be one of'],
      [
        { ms: 10, clock: Date },
        TypeError,
        'timeout: clock must be an object with now(), setTimeout() and clearTimeout()',
      ],
      [{ ms: 10, clock: { now: () => 0 } }, TypeError, 'timeout: clock must be an object'],
      [{ ms: 10, timeoutMs: 5 }, TypeError, 'timeout: unknown option "timeoutMs"'],
      [{ msec: 10 }, TypeError, 'timeout: unknown option "msec" (did you mean "ms"?)'],
    ])('rejects %o', (options, ErrorType, message) => {
      const build = () => timeout(options as Parameters<typeof timeout>[0]);
      expect(build).toThrow(ErrorType);
      expect(build).toThrow(message);
    });
  });
});
