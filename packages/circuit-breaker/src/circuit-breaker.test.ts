import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import {
  BrokenCircuitError,
  type Clock,
  IsolatedCircuitError,
  keyed,
  pipeline,
  TimeoutError,
} from '@breakwater/core';
import { exponentialBackoff } from '@breakwater/retry';
import { virtualClock } from '@breakwater/testing';
import { timeout } from '@breakwater/timeout';
import { describe, expect, it } from 'vitest';
import type { BreakBackoffInput } from './break-backoff.js';
import { type CircuitBreakerPolicy, circuitBreaker } from './circuit-breaker.js';
import { consecutiveFailures } from './consecutive-failures.js';
import { failureRate } from './failure-rate.js';

const boom = (): never => {
  throw new Error('boom');
};
const ok = (): string => 'ok';

/** An operation the test settles by hand. */
function deferred<T = string>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  let started = 0;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return {
    resolve,
    reject,
    get started() {
      return started;
    },
    op: (): Promise<T> => {
      started++;
      return promise;
    },
  };
}

const rejection = async (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => undefined,
    (error) => error,
  );

/** Opens a consecutiveFailures(1) breaker with one failure. */
async function trip(policy: CircuitBreakerPolicy): Promise<void> {
  await expect(policy.execute(boom)).rejects.toThrow('boom');
}

describe('circuitBreaker', () => {
  it('starts closed, opens after the breaker says so, and rejects without calling the operation', async () => {
    const clock = virtualClock();
    const policy = circuitBreaker({ breaker: consecutiveFailures(2), breakMs: 1000, clock });
    expect(policy.state).toBe('closed');
    expect(await policy.execute(ok)).toBe('ok');
    await trip(policy);
    expect(policy.state).toBe('closed');
    await trip(policy);
    expect(policy.state).toBe('open');
    let called = false;
    const error = await rejection(
      policy.execute(() => {
        called = true;
      }),
    );
    expect(called).toBe(false);
    expect(error).toBeInstanceOf(BrokenCircuitError);
    expect(error).toMatchObject({ code: 'ERR_BREAKWATER_CIRCUIT_OPEN', retryAfterMs: 1000 });
  });

  it('reports exact retryAfterMs during the break, and half-opens exactly when it ends', async () => {
    const clock = virtualClock();
    const policy = circuitBreaker({ breaker: consecutiveFailures(1), breakMs: 1000, clock });
    await trip(policy);
    await clock.advance(250);
    expect(await rejection(policy.execute(ok))).toMatchObject({ retryAfterMs: 750 });
    await clock.advance(749);
    expect(await rejection(policy.execute(ok))).toMatchObject({ retryAfterMs: 1 });
    expect(policy.state).toBe('open');
    await clock.advance(1);
    expect(policy.state).toBe('half-open');
    expect(await policy.execute(ok)).toBe('ok');
    expect(policy.state).toBe('closed');
  });

  it('reports half-open from the state getter as soon as the break ends, without any call (cockatiel#91, Polly#481)', async () => {
    const clock = virtualClock();
    const policy = circuitBreaker({ breaker: consecutiveFailures(1), breakMs: 100, clock });
    const seen: string[] = [];
    policy.onHalfOpen(({ context }) => seen.push(context === undefined ? 'no context' : 'context'));
    await trip(policy);
    await clock.advance(100);
    expect(clock.pending).toBe(0);
    expect(policy.state).toBe('half-open');
    expect(policy.state).toBe('half-open');
    expect(seen).toEqual(['no context']);
  });

  for (const halfOpenProbes of [1, 3]) {
    it(`lets exactly ${halfOpenProbes} of 100 concurrent callers probe the half-open circuit, and closes when all succeed`, async () => {
      const clock = virtualClock();
      const policy = circuitBreaker({
        breaker: consecutiveFailures(1),
        breakMs: 1000,
        halfOpenProbes,
        clock,
      });
      await trip(policy);
      await clock.advance(1000);
      const op = deferred();
      const calls = Array.from({ length: 100 }, () =>
        policy.execute(op.op).then(
          (v) => v,
          (e: unknown) => e,
        ),
      );
      expect(op.started).toBe(halfOpenProbes);
      const rejected = (await Promise.all(calls.slice(halfOpenProbes))) as BrokenCircuitError[];
      expect(rejected.every((error) => error instanceof BrokenCircuitError && error.retryAfterMs === 0)).toBe(
        true,
      );
      expect(policy.state).toBe('half-open');
      op.resolve('fine');
      expect(await Promise.all(calls.slice(0, halfOpenProbes))).toEqual(Array(halfOpenProbes).fill('fine'));
      expect(policy.state).toBe('closed');
      expect(await policy.execute(ok)).toBe('ok');
    });
  }

  it('needs every one of its probes to succeed: one failure among 3 reopens the circuit, later successes do not close it', async () => {
    const clock = virtualClock();
    const policy = circuitBreaker({
      breaker: consecutiveFailures(1),
      breakMs: 1000,
      halfOpenProbes: 3,
      clock,
    });
    await trip(policy);
    await clock.advance(1000);
    const probes = [deferred(), deferred(), deferred()];
    const calls = probes.map((probe) => rejection(policy.execute(probe.op)));
    probes[0]!.resolve('a');
    await calls[0];
    expect(policy.state).toBe('half-open');
    probes[1]!.reject(new Error('still broken'));
    await calls[1];
    expect(policy.state).toBe('open');
    probes[2]!.resolve('c');
    await calls[2];
    expect(policy.state).toBe('open');
    expect(await rejection(policy.execute(ok))).toMatchObject({ retryAfterMs: 1000 });
  });

  it('frees the slot of a probe whose caller aborts, even if its operation never settles', async () => {
    const clock = virtualClock();
    const policy = circuitBreaker({ breaker: consecutiveFailures(1), breakMs: 100, clock });
    await trip(policy);
    await clock.advance(100);
    const controller = new AbortController();
    const hung = deferred();
    const abandoned = rejection(policy.execute(hung.op, { signal: controller.signal }));
    expect(await rejection(policy.execute(ok))).toMatchObject({ retryAfterMs: 0 });
    controller.abort(new Error('caller left'));
    expect(await abandoned).toEqual(new Error('caller left'));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    // The abort says nothing about the service: still half-open, and the slot is free for the next caller.
    expect(policy.state).toBe('half-open');
    expect(await policy.execute(ok)).toBe('ok');
    expect(policy.state).toBe('closed');
    // The abandoned operation's late outcome belongs to the old half-open period and changes nothing.
    hung.reject(new Error('late failure'));
    await clock.flush();
    expect(policy.state).toBe('closed');
  });

  it('counts a probe stopped by an enclosing timeout as a failure, even if its operation ignores the abort', async () => {
    const clock = virtualClock();
    const breaker = circuitBreaker({ breaker: consecutiveFailures(1), breakMs: 100, clock });
    const policy = pipeline(timeout({ ms: 50, strategy: 'aggressive', clock }), breaker);
    await trip(breaker);
    await clock.advance(100);
    const hung = deferred();
    const call = rejection(policy.execute(hung.op));
    await clock.advance(50);
    expect(await call).toBeInstanceOf(TimeoutError);
    expect(breaker.state).toBe('open');
  });

  it('ignores the caller’s own abort and BrokenCircuitErrors of inner breakers', async () => {
    const clock = virtualClock();
    const outer = circuitBreaker({ breaker: consecutiveFailures(1), clock });
    const inner = circuitBreaker({ breaker: consecutiveFailures(1), clock });
    await trip(inner);
    expect(await rejection(pipeline(outer, inner).execute(ok))).toBeInstanceOf(BrokenCircuitError);
    inner.isolate();
    expect(await rejection(pipeline(outer, inner).execute(ok))).toBeInstanceOf(IsolatedCircuitError);
    expect(outer.state).toBe('closed');

    const controller = new AbortController();
    const call = rejection(
      outer.execute(
        ({ signal }) =>
          new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
        { signal: controller.signal },
      ),
    );
    controller.abort(new Error('not interested'));
    await call;
    await clock.flush();
    expect(outer.state).toBe('closed');
  });

  it('counts a failure that shouldHandle declines as a success: the service answered', async () => {
    const policy = circuitBreaker({
      breaker: consecutiveFailures(2),
      shouldHandle: ({ error }) => !(error instanceof RangeError),
    });
    await trip(policy);
    await expect(
      policy.execute(() => {
        throw new RangeError('bad input');
      }),
    ).rejects.toThrow('bad input');
    await trip(policy);
    expect(policy.state).toBe('closed');
    await trip(policy);
    expect(policy.state).toBe('open');
  });

  it('ignores outcomes of calls admitted before the last transition', async () => {
    const clock = virtualClock();
    const policy = circuitBreaker({ breaker: consecutiveFailures(1), breakMs: 1000, clock });
    const breaks: number[] = [];
    policy.onBreak(({ breakMs }) => breaks.push(breakMs));
    const slowFailure = deferred();
    const slowSuccess = deferred();
    const failing = rejection(policy.execute(slowFailure.op));
    const succeeding = policy.execute(slowSuccess.op);
    await trip(policy);
    await clock.advance(400);
    slowFailure.reject(new Error('late'));
    await failing;
    expect(await rejection(policy.execute(ok))).toMatchObject({ retryAfterMs: 600 });
    await clock.advance(600);
    expect(policy.state).toBe('half-open');
    slowSuccess.resolve('late success');
    await succeeding;
    expect(policy.state).toBe('half-open');
    expect(breaks).toEqual([1000]);
  });

  it('grows the break with a backoff while probes keep failing, and starts over once it closes', async () => {
    const clock = virtualClock();
    const inputs: Omit<BreakBackoffInput, 'random'>[] = [];
    const policy = circuitBreaker({
      breaker: consecutiveFailures(1),
      breakMs: {
        next: ({ attempt, previousDelayMs }) => {
          inputs.push({ attempt, previousDelayMs });
          return 100 * 2 ** (attempt - 1);
        },
      },
      clock,
    });
    const retryAfter = async (): Promise<unknown> =>
      ((await rejection(policy.execute(ok))) as BrokenCircuitError).retryAfterMs;
    await trip(policy);
    expect(await retryAfter()).toBe(100);
    await clock.advance(100);
    await trip(policy);
    expect(await retryAfter()).toBe(200);
    await clock.advance(200);
    await trip(policy);
    expect(await retryAfter()).toBe(400);
    await clock.advance(400);
    expect(await policy.execute(ok)).toBe('ok');
    await trip(policy);
    expect(await retryAfter()).toBe(100);
    expect(inputs).toEqual([
      { attempt: 1, previousDelayMs: undefined },
      { attempt: 2, previousDelayMs: 100 },
      { attempt: 3, previousDelayMs: 200 },
      { attempt: 1, previousDelayMs: undefined },
    ]);
  });

  it('takes a backoff of @breakwater/retry as breakMs, with its random source', async () => {
    const clock = virtualClock();
    const draws: number[] = [];
    const policy = circuitBreaker({
      breaker: consecutiveFailures(1),
      breakMs: exponentialBackoff({ initialMs: 100, maxMs: 300, jitter: 'equal' }),
      random: () => {
        draws.push(0.5);
        return 0.5;
      },
      clock,
    });
    const lengths: number[] = [];
    policy.onBreak(({ breakMs }) => lengths.push(breakMs));
    for (let i = 0; i < 4; i++) {
      await trip(policy);
      await clock.advance(lengths.at(-1)!);
    }
    expect(lengths).toEqual([75, 150, 225, 225]);
    expect(draws).toHaveLength(4);
  });

  it('rejects a backoff result that is not a finite duration, naming the break', async () => {
    const policy = circuitBreaker({ breaker: consecutiveFailures(1), breakMs: { next: () => Number.NaN } });
    await expect(policy.execute(boom)).rejects.toThrow(
      new TypeError(
        'circuitBreaker: the breakMs backoff returned NaN for break 1; it must return a finite number >= 0',
      ),
    );
  });

  it('isolates until every handle is disposed, and reset() ends isolation and voids old handles', async () => {
    const clock = virtualClock();
    const policy = circuitBreaker({ breaker: consecutiveFailures(1), clock });
    const first = policy.isolate();
    const second = policy.isolate();
    expect(policy.state).toBe('isolated');
    const error = await rejection(policy.execute(ok));
    expect(error).toBeInstanceOf(IsolatedCircuitError);
    expect(error).toMatchObject({
      code: 'ERR_BREAKWATER_CIRCUIT_ISOLATED',
      retryAfterMs: Number.POSITIVE_INFINITY,
    });
    first.dispose();
    first.dispose();
    expect(policy.state).toBe('isolated');
    second[Symbol.dispose]();
    expect(policy.state).toBe('closed');

    const stale = policy.isolate();
    policy.reset();
    expect(policy.state).toBe('closed');
    {
      using _ = policy.isolate();
      stale.dispose();
      expect(policy.state).toBe('isolated');
    }
    expect(policy.state).toBe('closed');
  });

  it('isolates an open circuit and closes it (forgetting the break) when released', async () => {
    const clock = virtualClock();
    const policy = circuitBreaker({ breaker: consecutiveFailures(1), breakMs: 1000, clock });
    await trip(policy);
    const handle = policy.isolate();
    await clock.advance(5000);
    expect(policy.state).toBe('isolated');
    handle.dispose();
    expect(policy.state).toBe('closed');
    expect(policy.toJSON()).toMatchObject({ state: 'closed', breaks: 0 });
  });

  it('reset() closes an open circuit and forgets the counts and the break backoff', async () => {
    const clock = virtualClock();
    const policy = circuitBreaker({ breaker: consecutiveFailures(2), breakMs: 1000, clock });
    await trip(policy);
    await trip(policy);
    expect(policy.state).toBe('open');
    policy.reset();
    expect(policy.state).toBe('closed');
    await trip(policy);
    expect(policy.state).toBe('closed');
    policy.reset();
    await trip(policy);
    expect(policy.state).toBe('closed');
  });

  it('emits state changes, breaks, half-opens, resets and rejections, with the call’s context', async () => {
    const clock = virtualClock();
    const policy = circuitBreaker({ breaker: consecutiveFailures(1), breakMs: 100, clock });
    const log: string[] = [];
    policy.onStateChange(({ from, to, context }) => log.push(`${from}->${to}:${context?.key}`));
    policy.onBreak(({ error, breakMs, breaks, context }) =>
      log.push(`break ${(error as Error).message} ${breakMs} ${breaks} ${context.key}`),
    );
    policy.onHalfOpen(({ context }) => log.push(`half-open ${context?.key}`));
    policy.onReset(({ context }) => log.push(`reset ${context?.key}`));
    policy.onReject(({ state, error, context }) =>
      log.push(`reject ${state} ${error.retryAfterMs} ${context.key}`),
    );
    await expect(policy.execute(boom, { key: 'a' })).rejects.toThrow();
    await rejection(policy.execute(ok, { key: 'b' }));
    await clock.advance(100);
    await policy.execute(ok, { key: 'c' });
    policy.isolate().dispose();
    expect(log).toEqual([
      'closed->open:a',
      'break boom 100 1 a',
      'reject open 100 b',
      'open->half-open:c',
      'half-open c',
      'half-open->closed:c',
      'reset c',
      'closed->isolated:undefined',
      'isolated->closed:undefined',
      'reset undefined',
    ]);
  });

  it('publishes its events to diagnostics channels named breakwater:circuit-breaker:<event>', async () => {
    const clock = virtualClock();
    const policy = circuitBreaker({ breaker: consecutiveFailures(1), breakMs: 100, clock });
    const names = ['state-change', 'break', 'half-open', 'reset', 'reject'];
    const published: string[] = [];
    const listeners = names.map((name) => {
      const listener = (): void => {
        published.push(name);
      };
      subscribe(`breakwater:circuit-breaker:${name}`, listener);
      return listener;
    });
    try {
      await trip(policy);
      await rejection(policy.execute(ok));
      await clock.advance(100);
      await policy.execute(ok);
    } finally {
      names.forEach((name, i) => {
        unsubscribe(`breakwater:circuit-breaker:${name}`, listeners[i]!);
      });
    }
    expect(published).toEqual([
      'state-change',
      'break',
      'reject',
      'state-change',
      'half-open',
      'state-change',
      'reset',
    ]);
  });

  it('keeps one breaker per key with keyed(): a failing key does not open another', async () => {
    const clock = virtualClock();
    const breakers = new Map<string, CircuitBreakerPolicy>();
    const policy = keyed((key) => {
      const breaker = circuitBreaker({ breaker: consecutiveFailures(2), breakMs: 1000, clock });
      breakers.set(key, breaker);
      return breaker;
    });
    for (let i = 0; i < 2; i++)
      await expect(policy.execute(boom, { key: 'https://down.example' })).rejects.toThrow();
    await expect(policy.execute(ok, { key: 'https://down.example' })).rejects.toBeInstanceOf(
      BrokenCircuitError,
    );
    expect(await policy.execute(ok, { key: 'https://up.example' })).toBe('ok');
    await expect(policy.execute(boom, { key: 'https://up.example' })).rejects.toThrow('boom');
    expect(breakers.get('https://down.example')!.state).toBe('open');
    expect(breakers.get('https://up.example')!.state).toBe('closed');
  });

  it('reads the clock only as much as its breaker needs on the closed path', async () => {
    let reads = 0;
    const base = virtualClock();
    const clock: Clock = {
      ...base,
      now: () => {
        reads++;
        return base.now();
      },
    };
    const count = async (breaker: Parameters<typeof circuitBreaker>[0]): Promise<number> => {
      const policy = circuitBreaker({ ...breaker, clock });
      reads = 0;
      for (let i = 0; i < 10; i++) await policy.execute(ok);
      return reads;
    };
    expect(await count({ breaker: consecutiveFailures(5) })).toBe(0);
    expect(await count({ breaker: failureRate() })).toBe(10);
    expect(await count({ breaker: failureRate({ slowCallMs: 1000 }) })).toBe(20);
  });

  it('opens on slow successes with failureRate slowCallMs, timing calls on its clock', async () => {
    const clock = virtualClock();
    const policy = circuitBreaker({
      breaker: failureRate({
        threshold: 1,
        windowMs: 10_000,
        minThroughput: 2,
        slowCallMs: 500,
        slowCallRate: 1,
      }),
      clock,
    });
    const slow = (): Promise<string> =>
      new Promise((resolve) => clock.setTimeout(() => resolve('slow'), 500));
    const first = policy.execute(slow);
    await clock.advance(500);
    expect(await first).toBe('slow');
    expect(policy.state).toBe('closed');
    const second = policy.execute(slow);
    await clock.advance(500);
    expect(await second).toBe('slow');
    expect(policy.state).toBe('open');
  });

  describe('toJSON and initialState', () => {
    type Step = number | 'ok' | 'fail' | 'slow';
    // A lifecycle: window filling, an opening, a failed probe (longer break), probes succeeding, more traffic.
    const script: Step[] = [
      'ok',
      120,
      'fail',
      300,
      'slow',
      'ok',
      250,
      'fail',
      'fail',
      40,
      'ok',
      'fail',
      'fail',
      50,
      'ok',
      100,
      'fail',
      60,
      'ok',
      140,
      'ok',
      'ok',
      'ok',
      900,
      'fail',
      'ok',
      200,
      'fail',
      'fail',
      'fail',
    ];
    const make = (clock: Clock, initialState?: unknown): CircuitBreakerPolicy =>
      circuitBreaker({
        breaker: failureRate({
          threshold: 0.5,
          windowMs: 1000,
          minThroughput: 4,
          slowCallMs: 50,
          slowCallRate: 0.5,
        }),
        breakMs: { next: ({ attempt }) => 100 * 2 ** (attempt - 1) },
        halfOpenProbes: 2,
        clock,
        initialState: initialState as never,
      });
    async function run(policy: CircuitBreakerPolicy, clock: ReturnType<typeof virtualClock>, steps: Step[]) {
      const trace: unknown[] = [];
      for (const step of steps) {
        if (typeof step === 'number') {
          await clock.advance(step);
          continue;
        }
        const call = policy.execute(() => {
          if (step === 'fail') throw new Error('fail');
          if (step === 'ok') return 'ok';
          return new Promise((resolve) => clock.setTimeout(() => resolve('slow'), 60));
        });
        if (step === 'slow') await clock.advance(60);
        const outcome = await call.then(
          (value) => value,
          (error: unknown) =>
            error instanceof BrokenCircuitError ? `rejected ${error.retryAfterMs}` : 'failed',
        );
        trace.push([outcome, policy.state, policy.toJSON()]);
      }
      return trace;
    }

    it('restores identical behaviour from a snapshot taken at any point, on a clock with another origin', async () => {
      const states = new Set<string>();
      for (let cut = 0; cut <= script.length; cut++) {
        const clock = virtualClock();
        const original = make(clock);
        await run(original, clock, script.slice(0, cut));
        const snapshot = JSON.parse(JSON.stringify(original));
        states.add(snapshot.state);
        const otherClock = virtualClock({ start: 1_000_000 });
        const restored = make(otherClock, snapshot);
        expect(restored.toJSON()).toEqual(snapshot);
        const rest = script.slice(cut);
        expect(await run(restored, otherClock, rest)).toEqual(await run(original, clock, rest));
      }
      // The cuts covered every state that carries data: a filled window, a break in progress, a half-open circuit.
      expect([...states].sort()).toEqual(['closed', 'half-open', 'open']);
    });

    it('restores an isolated circuit, which a handle or reset() can end', () => {
      const clock = virtualClock();
      const original = make(clock);
      original.isolate();
      const restored = make(clock, original.toJSON());
      expect(restored.state).toBe('isolated');
      restored.isolate().dispose();
      expect(restored.state).toBe('closed');
      const again = make(clock, original.toJSON());
      again.reset();
      expect(again.state).toBe('closed');
    });

    it('restores a consecutive-failures count', async () => {
      const policy = circuitBreaker({ breaker: consecutiveFailures(3) });
      await trip(policy);
      await trip(policy);
      const restored = circuitBreaker({ breaker: consecutiveFailures(3), initialState: policy.toJSON() });
      await trip(restored);
      expect(restored.state).toBe('open');
    });

    it('validates initialState with messages that name the field at fault', () => {
      const breaker = consecutiveFailures(1);
      const valid = { state: 'closed', breaks: 0, breaker: { type: 'consecutiveFailures', failures: 0 } };
      const attempt = (initialState: unknown) => () =>
        circuitBreaker({ breaker, initialState: initialState as never });
      expect(attempt(valid)).not.toThrow();
      expect(attempt('closed')).toThrow(
        new TypeError('circuitBreaker: initialState must be an object, received "closed"'),
      );
      expect(attempt({ ...valid, state: 'opened' })).toThrow(
        new TypeError(
          'circuitBreaker: initialState.state must be one of "closed", "open", "half-open", "isolated", received "opened"',
        ),
      );
      expect(attempt({ ...valid, extra: 1 })).toThrow(
        new TypeError(
          'circuitBreaker: initialState has an unknown key "extra"; known keys: state, remainingBreakMs, probeSuccesses, breaks, lastBreakMs, breaker',
        ),
      );
      expect(attempt({ ...valid, state: 'open', breaks: 1, lastBreakMs: 5 })).toThrow(
        new TypeError('circuitBreaker: initialState.remainingBreakMs is required'),
      );
      expect(attempt({ ...valid, state: 'open', breaks: 1, lastBreakMs: 5, remainingBreakMs: -1 })).toThrow(
        new RangeError('circuitBreaker: initialState.remainingBreakMs must be a number >= 0, received -1'),
      );
      expect(attempt({ ...valid, remainingBreakMs: 10 })).toThrow(
        new TypeError(
          'circuitBreaker: initialState.remainingBreakMs is only valid with state "open", received state "closed"',
        ),
      );
      expect(attempt({ ...valid, state: 'half-open' })).toThrow(
        new RangeError(
          'circuitBreaker: initialState.breaks must be >= 1 when state is "half-open", received 0',
        ),
      );
      expect(attempt({ ...valid, breaks: 2, lastBreakMs: 5 })).toThrow(
        new RangeError('circuitBreaker: initialState.breaks must be 0 when state is "closed", received 2'),
      );
      expect(attempt({ ...valid, breaks: 1.5 })).toThrow(
        new RangeError('circuitBreaker: initialState.breaks must be an integer >= 0, received 1.5'),
      );
      expect(attempt({ ...valid, state: 'half-open', breaks: 1, probeSuccesses: 0 })).toThrow(
        new TypeError('circuitBreaker: initialState.lastBreakMs is required'),
      );
      expect(attempt({ ...valid, state: 'half-open', breaks: 1, lastBreakMs: 5 })).toThrow(
        new TypeError('circuitBreaker: initialState.probeSuccesses is required'),
      );
      // This breaker has halfOpenProbes 1: a snapshot with a probe already succeeded cannot be half-open here.
      expect(attempt({ ...valid, state: 'half-open', breaks: 1, lastBreakMs: 5, probeSuccesses: 1 })).toThrow(
        new RangeError(
          'circuitBreaker: initialState.probeSuccesses must be an integer >= 0 and <= 0, received 1',
        ),
      );
      expect(attempt({ ...valid, probeSuccesses: 0 })).toThrow(
        new TypeError(
          'circuitBreaker: initialState.probeSuccesses is only valid with state "half-open", received state "closed"',
        ),
      );
      expect(attempt({ ...valid, lastBreakMs: 5 })).toThrow(
        new TypeError(
          'circuitBreaker: initialState.lastBreakMs is only valid with breaks >= 1, received breaks 0',
        ),
      );
      expect(attempt({ state: 'closed', breaks: 0 })).toThrow(
        new TypeError('circuitBreaker: initialState.breaker is required'),
      );
      expect(attempt({ ...valid, breaker: { type: 'failureRate' } })).toThrow(
        new TypeError(
          'consecutiveFailures: initialState.breaker.type must be "consecutiveFailures" (a snapshot of this kind of breaker), received "failureRate"',
        ),
      );
    });
  });

  it('validates its options when built', () => {
    expect(() => circuitBreaker({ breaker: {} as never })).toThrow(
      new TypeError(
        'circuitBreaker: breaker must be a Breaker (e.g. consecutiveFailures(5) or failureRate()), received an object',
      ),
    );
    expect(() => circuitBreaker({ breaker: consecutiveFailures as never })).toThrow(
      new TypeError(
        'circuitBreaker: breaker must be a Breaker (e.g. consecutiveFailures(5) or failureRate()), received a function',
      ),
    );
    expect(() => circuitBreaker({ breakMs: 0 })).toThrow(
      new RangeError('circuitBreaker: breakMs must be a number > 0, received 0'),
    );
    expect(() => circuitBreaker({ breakMs: '5s' as never })).toThrow(
      new TypeError('circuitBreaker: breakMs must be a number > 0, received "5s"'),
    );
    expect(() => circuitBreaker({ breakMs: {} as never })).toThrow(
      new TypeError(
        'circuitBreaker: breakMs must be a number > 0 or a backoff (an object with a next() method), received an object',
      ),
    );
    expect(() => circuitBreaker({ halfOpenProbes: 0 })).toThrow(
      new RangeError('circuitBreaker: halfOpenProbes must be an integer >= 1, received 0'),
    );
    expect(() => circuitBreaker({ shouldHandle: true as never })).toThrow(
      new TypeError('circuitBreaker: shouldHandle must be a function, received true'),
    );
    expect(() => circuitBreaker({ random: 4 as never })).toThrow(
      new TypeError('circuitBreaker: random must be a function, received 4'),
    );
    expect(() => circuitBreaker({ clock: Date as never })).toThrow(
      new TypeError(
        'circuitBreaker: clock must be an object with now(), setTimeout() and clearTimeout() methods, received a function',
      ),
    );
    expect(() => circuitBreaker({ halfOpenProbe: 2 } as never)).toThrow(
      /^circuitBreaker: unknown option "halfOpenProbe" \(did you mean "halfOpenProbes"\?\); known options: breaker, breakMs, halfOpenProbes, shouldHandle, initialState, clock, random$/,
    );
    expect(() => circuitBreaker(null as never)).toThrow(
      new TypeError('circuitBreaker: options must be an object, received null'),
    );
    const options = Object.freeze({ breaker: Object.freeze(consecutiveFailures(2)), breakMs: 10 });
    expect(circuitBreaker(options).state).toBe('closed');
  });
});
