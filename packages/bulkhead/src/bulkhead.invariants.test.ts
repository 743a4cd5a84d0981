import { getEventListeners } from 'node:events';
import { BulkheadRejectedError, pipeline, TimeoutError } from '@breakwater/core';
import { virtualClock } from '@breakwater/testing';
import { timeout } from '@breakwater/timeout';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bulkhead } from './bulkhead.js';

type Command =
  | { readonly kind: 'call'; readonly withSignal: boolean }
  | { readonly kind: 'settle'; readonly pick: number; readonly ok: boolean }
  | { readonly kind: 'abort'; readonly pick: number }
  | { readonly kind: 'advance'; readonly ms: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('call' as const), withSignal: fc.boolean() }),
  fc.record({ kind: fc.constant('settle' as const), pick: fc.nat(), ok: fc.boolean() }),
  fc.record({ kind: fc.constant('abort' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 60 }) }),
);

describe('bulkhead invariants', () => {
  it('never runs more than limit nor queues more than queue, serves in arrival order, and settles every call', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }),
        fc.array(command, { minLength: 20, maxLength: 120, size: 'max' }),
        async (limit, queue, queueTimeoutMs, commands) => {
          const clock = virtualClock();
          const policy = bulkhead({ limit, queue, ...(queue > 0 && { queueTimeoutMs }), clock });
          const running = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
          const controllers: AbortController[] = [];
          const settled: boolean[] = [];
          const started: number[] = [];
          let calls = 0;

          const check = async (): Promise<void> => {
            await clock.flush();
            expect(running.size).toBeLessThanOrEqual(limit);
            expect(policy.running).toBe(running.size);
            expect(policy.queued).toBeLessThanOrEqual(queue);
          };

          for (const step of commands) {
            if (step.kind === 'call') {
              const id = calls++;
              const controller = step.withSignal ? new AbortController() : undefined;
              if (controller) controllers.push(controller);
              settled[id] = false;
              policy
                .execute(() => {
                  started.push(id);
                  return new Promise((resolve, reject) => running.set(id, { resolve, reject }));
                }, controller && { signal: controller.signal })
                .catch((error: unknown) => {
                  const known =
                    error instanceof BulkheadRejectedError ||
                    (controller?.signal.aborted && error === controller.signal.reason);
                  if (!known && !(error instanceof Error && error.message === 'op failed')) throw error;
                })
                .finally(() => {
                  settled[id] = true;
                });
            } else if (step.kind === 'settle' && running.size > 0) {
              const ids = [...running.keys()];
              const id = ids[step.pick % ids.length]!;
              const op = running.get(id)!;
              running.delete(id);
              if (step.ok) op.resolve(id);
              else op.reject(new Error('op failed'));
            } else if (step.kind === 'abort' && controllers.length > 0) {
              controllers[step.pick % controllers.length]!.abort(new Error('caller abort'));
            } else if (step.kind === 'advance') {
              await clock.advance(step.ms);
            }
            await check();
          }

          // Drain: finish whatever runs (waiters then get slots) until nothing is left, then pass every deadline.
          while (running.size > 0) {
            for (const [id, op] of running) {
              running.delete(id);
              op.resolve(id);
            }
            await check();
          }
          await clock.advance(200);
          expect(settled.every(Boolean)).toBe(true);
          expect(policy.running).toBe(0);
          expect(policy.queued).toBe(0);
          expect(clock.pending).toBe(0);
          for (const controller of controllers)
            expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
          // A slot is free only while nobody waits, so calls start exactly in arrival order.
          expect(started).toEqual([...started].sort((a, b) => a - b));
        },
      ),
      { numRuns: 300 },
    );
  });

  for (const strategy of ['aggressive', 'cooperative'] as const) {
    it(`keeps at most 2 operations running under a ${strategy} timeout(10) over 1,000 calls that ignore their signal`, async () => {
      const clock = virtualClock();
      const limited = bulkhead({ limit: 2 });
      const policy = pipeline(timeout({ ms: 10, strategy, clock }), limited);
      let executing = 0;
      let maxExecuting = 0;
      let startedOps = 0;
      const operation = (): Promise<string> => {
        executing++;
        startedOps++;
        maxExecuting = Math.max(maxExecuting, executing);
        return new Promise((resolve) =>
          clock.setTimeout(() => {
            executing--;
            resolve('late');
          }, 50),
        );
      };
      const outcomes: Promise<string>[] = [];
      for (let i = 0; i < 1000; i++) {
        outcomes.push(
          policy.execute(operation).then(
            () => 'value',
            (error: unknown) =>
              error instanceof TimeoutError
                ? 'timeout'
                : error instanceof BulkheadRejectedError
                  ? 'full'
                  : 'other',
          ),
        );
        await clock.advance(1);
        expect(executing).toBeLessThanOrEqual(2);
        expect(limited.running).toBe(executing);
      }
      await clock.advance(100);
      const counts: Record<string, number> = {};
      for (const outcome of await Promise.all(outcomes)) counts[outcome] = (counts[outcome] ?? 0) + 1;
      expect(maxExecuting).toBe(2);
      // Slots are held for the full 50 ms of each operation: 2 starts in every 50 ms window of the 1,000 ms.
      expect(startedOps).toBe(40);
      // An aggressive timeout gave up on them at 10 ms; a cooperative one waited and got their late value.
      expect(counts).toEqual({ [strategy === 'aggressive' ? 'timeout' : 'value']: 40, full: 960 });
      expect(limited.running).toBe(0);
      expect(clock.pending).toBe(0);
    });
  }

  it('lets a queued call leave when an enclosing aggressive timeout aborts it, and still never exceeds the limit', async () => {
    const clock = virtualClock();
    const limited = bulkhead({ limit: 2, queue: 4 });
    const policy = pipeline(timeout({ ms: 10, strategy: 'aggressive', clock }), limited);
    let executing = 0;
    let maxExecuting = 0;
    const operation = (): Promise<void> => {
      maxExecuting = Math.max(maxExecuting, ++executing);
      return new Promise((resolve) =>
        clock.setTimeout(() => {
          executing--;
          resolve();
        }, 50),
      );
    };
    const outcomes: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      outcomes.push(policy.execute(operation).catch((error: unknown) => error));
      await clock.advance(1);
      expect(limited.queued).toBeLessThanOrEqual(4);
    }
    await clock.advance(100);
    const errors = await Promise.all(outcomes);
    expect(maxExecuting).toBe(2);
    expect(
      errors.every((error) => error instanceof TimeoutError || error instanceof BulkheadRejectedError),
    ).toBe(true);
    expect(limited.running).toBe(0);
    expect(limited.queued).toBe(0);
    expect(clock.pending).toBe(0);
  });
});
