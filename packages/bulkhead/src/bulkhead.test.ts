import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import {
  BasePolicy,
  BulkheadRejectedError,
  type Clock,
  type Context,
  callOperation,
  type ExecutionContext,
  type Operation,
  pipeline,
} from '@breakwater/core';
import { virtualClock } from '@breakwater/testing';
import { describe, expect, it } from 'vitest';
import { type BulkheadQueueEvent, type BulkheadRejectEvent, bulkhead } from './bulkhead.js';

/** An operation the test settles by hand, recording when it started. */
interface Gate {
  readonly started: boolean;
  resolve(value?: unknown): void;
  reject(error: unknown): void;
}

function gates() {
  const all: Gate[] = [];
  const started: number[] = [];
  const make = (id: number) => (): Promise<unknown> => {
    started.push(id);
    return new Promise((resolve, reject) => {
      all[id] = { started: true, resolve, reject };
    });
  };
  return { all, started, make };
}

const settledState = async (promise: Promise<unknown>): Promise<string> => {
  const marker = Symbol('pending');
  const result = await Promise.race([
    promise.then(
      (value) => `fulfilled ${String(value)}`,
      (error: unknown) => `rejected ${error instanceof Error ? error.message : String(error)}`,
    ),
    new Promise((resolve) => setImmediate(resolve, marker)),
  ]);
  return result === marker ? 'pending' : (result as string);
};

/** A minimal aggressive timeout: it rejects after `ms` without waiting for the operation, which runs on. */
class GiveUpAfter extends BasePolicy {
  readonly #ms: number;
  readonly #clock: Clock;

  constructor(ms: number, clock: Clock) {
    super();
    this.#ms = ms;
    this.#clock = clock;
  }

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    const forked = context.fork();
    return new Promise<T>((resolve, reject) => {
      const timer = this.#clock.setTimeout(() => {
        const error = new Error('gave up');
        forked.abort(error);
        reject(error);
      }, this.#ms);
      callOperation(fn, forked)
        .then(resolve, reject)
        .finally(() => {
          this.#clock.clearTimeout(timer);
          forked.release();
        });
    });
  }
}

const giveUpAfter = (ms: number, clock: Clock): GiveUpAfter => new GiveUpAfter(ms, clock);

describe('bulkhead', () => {
  it('runs up to limit calls at once and rejects the rest at once when there is no queue', async () => {
    const policy = bulkhead({ limit: 2 });
    const { all, started, make } = gates();
    const first = policy.execute(make(0));
    const second = policy.execute(make(1));
    const third = policy.execute(make(2));
    expect(policy.running).toBe(2);
    expect(policy.queued).toBe(0);
    await expect(third).rejects.toBeInstanceOf(BulkheadRejectedError);
    await expect(third).rejects.toMatchObject({
      code: 'ERR_BREAKWATER_BULKHEAD_FULL',
      limit: 2,
      queue: 0,
      message: 'bulkhead is full (limit 2, queue 0)',
    });
    expect(started).toEqual([0, 1]);
    all[0]!.resolve('a');
    expect(await first).toBe('a');
    expect(policy.running).toBe(1);
    all[1]!.reject(new Error('boom'));
    await expect(second).rejects.toThrow('boom');
    expect(policy.running).toBe(0);
    expect(await policy.execute(() => 'again')).toBe('again');
  });

  it('releases the slot when the operation throws synchronously or returns a plain value', async () => {
    const policy = bulkhead({ limit: 1 });
    await expect(
      policy.execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(policy.running).toBe(0);
    expect(await policy.execute(() => 42)).toBe(42);
    expect(policy.running).toBe(0);
  });

  it('serves the queue in arrival order, and a newcomer never overtakes a waiter', async () => {
    const policy = bulkhead({ limit: 1, queue: 3 });
    const { all, started, make } = gates();
    const results = [0, 1, 2, 3].map((id) => policy.execute(make(id)));
    expect(policy.running).toBe(1);
    expect(policy.queued).toBe(3);
    await expect(policy.execute(make(99))).rejects.toBeInstanceOf(BulkheadRejectedError);
    for (let id = 0; id < 8; id++) {
      all[id]!.resolve(id);
      expect(await results[id]).toBe(id);
      // The slot went straight to the oldest waiter, so a call arriving right now has to queue behind it.
      expect(policy.running).toBe(id < 7 ? 1 : 0);
      if (id < 4) results.push(policy.execute(make(id + 4)));
    }
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(policy.running).toBe(0);
    expect(policy.queued).toBe(0);
  });

  it('removes an aborted waiter at once: rejects with the reason, removes its listener, and never runs it', async () => {
    const policy = bulkhead({ limit: 1, queue: 2 });
    const { all, started, make } = gates();
    const running = policy.execute(make(0));
    const controller = new AbortController();
    const aborted = policy.execute(make(1), { signal: controller.signal });
    const next = policy.execute(make(2));
    expect(getEventListeners(controller.signal, 'abort').length).toBeGreaterThan(0);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    expect(policy.queued).toBe(1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    // The freed queue place is usable again, and the slot goes to the next live waiter (no starvation).
    const another = policy.execute(make(3));
    expect(policy.queued).toBe(2);
    all[0]!.resolve('first');
    await running;
    expect(started).toEqual([0, 2]);
    all[2]!.resolve('second');
    expect(await next).toBe('second');
    all[3]!.resolve('third');
    expect(await another).toBe('third');
    expect(started).toEqual([0, 2, 3]);
    expect(policy.running).toBe(0);
  });

  it('removes the listener of a waiter that got a slot', async () => {
    const policy = bulkhead({ limit: 1, queue: 1 });
    const { all, make } = gates();
    const first = policy.execute(make(0));
    const controller = new AbortController();
    const second = policy.execute(make(1), { signal: controller.signal });
    all[0]!.resolve(1);
    await first;
    all[1]!.resolve(2);
    expect(await second).toBe(2);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects a waiter after queueTimeoutMs with one shared timer, and leaves no timer behind', async () => {
    const clock = virtualClock();
    const policy = bulkhead({ limit: 1, queue: 3, queueTimeoutMs: 100, clock });
    const rejects: BulkheadRejectEvent[] = [];
    using _ = policy.onReject((event) => rejects.push(event));
    const { all, make } = gates();
    const running = policy.execute(make(0));
    const early = policy.execute(make(1));
    await clock.advance(30);
    const late = policy.execute(make(2));
    expect(clock.pending).toBe(1);
    await clock.advance(69);
    expect(await settledState(early)).toBe('pending');
    await clock.advance(1);
    await expect(early).rejects.toThrow(
      new BulkheadRejectedError(1, 3, 'bulkhead queue wait timed out after 100 ms (limit 1, queue 3)'),
    );
    expect(clock.now()).toBe(100);
    expect(rejects.map((event) => event.reason)).toEqual(['queue-timeout']);
    expect(policy.queued).toBe(1);
    // The other waiter gets the slot before its deadline; its deadline must then never fire.
    all[0]!.resolve('done');
    await running;
    await clock.advance(100);
    expect(await settledState(late)).toBe('pending');
    all[2]!.resolve('late ran');
    expect(await late).toBe('late ran');
    expect(rejects).toHaveLength(1);
    expect(clock.pending).toBe(0);
  });

  it('runs a queued operation in the async context it queued in, not in that of the call that freed the slot', async () => {
    const store = new AsyncLocalStorage<string>();
    const policy = bulkhead({ limit: 1, queue: 10 });
    const seen: (string | undefined)[] = [];
    let releaseFirst!: () => void;
    const first = store.run('request-A', () =>
      policy.execute(async () => {
        seen.push(store.getStore());
        await new Promise<void>((resolve) => {
          releaseFirst = resolve;
        });
      }),
    );
    const queued = ['request-B', 'request-C'].map((name) =>
      store.run(name, () =>
        policy.execute(async () => {
          seen.push(store.getStore());
          await Promise.resolve();
          seen.push(store.getStore());
        }),
      ),
    );
    releaseFirst();
    await Promise.all([first, ...queued]);
    expect(seen).toEqual(['request-A', 'request-B', 'request-B', 'request-C', 'request-C']);
  });

  it('holds the slot until the operation settles, even after an enclosing aggressive timeout gave up', async () => {
    const clock = virtualClock();
    const limited = bulkhead({ limit: 1 });
    const { all, make } = gates();
    const impatient = pipeline(giveUpAfter(10, clock), limited);
    const first = expect(impatient.execute(make(0))).rejects.toThrow('gave up');
    await clock.advance(10);
    await first;
    expect(limited.running).toBe(1);
    await expect(impatient.execute(make(1))).rejects.toBeInstanceOf(BulkheadRejectedError);
    all[0]!.resolve('finally');
    await clock.flush();
    expect(limited.running).toBe(0);
  });

  it('reports rejections and queueing to listeners and diagnostics channels', async () => {
    const policy = bulkhead({ limit: 1, queue: 1 });
    const { all, make } = gates();
    const queued: BulkheadQueueEvent[] = [];
    const published: unknown[] = [];
    const onPublish = (message: unknown): void => {
      published.push(message);
    };
    subscribe('breakwater:bulkhead:reject', onPublish);
    subscribe('breakwater:bulkhead:queue', onPublish);
    try {
      using _ = policy.onQueue((event) => queued.push(event));
      let rejectedContext: Context | undefined;
      using __ = policy.onReject((event) => {
        rejectedContext = event.context;
      });
      const first = policy.execute(make(0), { key: 'a' });
      const second = policy.execute(make(1), { key: 'b' });
      await expect(policy.execute(make(2), { key: 'c' })).rejects.toBeInstanceOf(BulkheadRejectedError);
      expect(queued).toHaveLength(1);
      expect(queued[0]!.queued).toBe(1);
      expect(queued[0]!.context.key).toBe('b');
      expect(rejectedContext?.key).toBe('c');
      expect(published).toHaveLength(2);
      all[0]!.resolve(0);
      await first;
      all[1]!.resolve(1);
      await second;
    } finally {
      unsubscribe('breakwater:bulkhead:reject', onPublish);
      unsubscribe('breakwater:bulkhead:queue', onPublish);
    }
  });

  it('validates its options when built', () => {
    expect(() => bulkhead(undefined as never)).toThrow(
      new TypeError('bulkhead: limit is required (an integer >= 1)'),
    );
    expect(() => bulkhead({ limit: 0 })).toThrow(
      new RangeError('bulkhead: limit must be an integer >= 1, received 0'),
    );
    expect(() => bulkhead({ limit: 1.5 })).toThrow(
      new RangeError('bulkhead: limit must be an integer >= 1, received 1.5'),
    );
    expect(() => bulkhead({ limit: '5' as never })).toThrow(
      new TypeError('bulkhead: limit must be an integer >= 1, received "5"'),
    );
    expect(() => bulkhead({ limit: 1, queue: -1 })).toThrow(
      new RangeError('bulkhead: queue must be an integer >= 0, received -1'),
    );
    expect(() => bulkhead({ limit: 1, queue: Number.POSITIVE_INFINITY })).toThrow(
      new RangeError('bulkhead: queue must be an integer >= 0, received Infinity'),
    );
    expect(() => bulkhead({ limit: 1, queue: 1, queueTimeoutMs: 0 })).toThrow(
      new RangeError('bulkhead: queueTimeoutMs must be a number > 0 and <= 2147483647, received 0'),
    );
    expect(() => bulkhead({ limit: 1, queue: 1, queueTimeoutMs: Number.NaN })).toThrow(
      new RangeError('bulkhead: queueTimeoutMs must be a number > 0 and <= 2147483647, received NaN'),
    );
    expect(() => bulkhead({ limit: 1, queue: 1, queueTimeoutMs: 2 ** 31 })).toThrow(
      new RangeError('bulkhead: queueTimeoutMs must be a number > 0 and <= 2147483647, received 2147483648'),
    );
    expect(() => bulkhead({ limit: 1, queueTimeoutMs: 100 })).toThrow(
      new RangeError('bulkhead: queueTimeoutMs needs a queue (queue >= 1), received queue 0'),
    );
    expect(() => bulkhead({ limit: 1, clock: {} as never })).toThrow(
      new TypeError(
        'bulkhead: clock must be an object with now(), setTimeout() and clearTimeout() methods, received an object',
      ),
    );
    expect(() => bulkhead({ limit: 1, queue: 1, queueTimeout: 5 } as never)).toThrow(
      new TypeError(
        'bulkhead: unknown option "queueTimeout" (did you mean "queueTimeoutMs"?); known options: limit, queue, queueTimeoutMs, clock',
      ),
    );
    const options = Object.freeze({ limit: 3, queue: 1, queueTimeoutMs: Number.POSITIVE_INFINITY });
    const policy = bulkhead(options);
    expect([policy.limit, policy.queue]).toEqual([3, 1]);
  });
});
