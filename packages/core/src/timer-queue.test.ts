import { virtualClock } from '@breakwater/testing';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { TimerQueue } from './timer-queue.js';

describe('TimerQueue', () => {
  it('expires entries at their deadlines, in order, with a single timer', async () => {
    const clock = virtualClock();
    const expired: string[] = [];
    const queue = new TimerQueue<string>(clock, (item) => expired.push(`${item}@${clock.now()}`));
    for (let i = 0; i < 100; i++) queue.add(`t${i}`, 10 + i);
    expect(clock.pending).toBe(1);
    await clock.advance(10);
    expect(expired).toEqual(['t0@10']);
    await clock.advance(99);
    expect(expired).toHaveLength(100);
    expect(expired.at(-1)).toBe('t99@109');
    expect(queue.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('never fires deleted entries, and re-arms for the next one when the head was deleted', async () => {
    const clock = virtualClock();
    const expired: number[] = [];
    const queue = new TimerQueue<number>(clock, (item) => expired.push(item));
    const first = queue.add(1, 10);
    queue.add(2, 20);
    queue.delete(first);
    queue.delete(first);
    expect(queue.size).toBe(1);
    await clock.advance(10);
    expect(expired).toEqual([]);
    expect(clock.pending).toBe(1);
    await clock.advance(10);
    expect(expired).toEqual([2]);
  });

  it('re-arms earlier when an entry arrives before the head', async () => {
    const clock = virtualClock();
    const expired: number[] = [];
    const queue = new TimerQueue<number>(clock, (item) => expired.push(item));
    queue.add(2, 50);
    queue.add(1, 5);
    expect(clock.pending).toBe(1);
    await clock.advance(5);
    expect(expired).toEqual([1]);
  });

  it('keeps a callback error from stopping the other expiries', async () => {
    const clock = virtualClock();
    const expired: number[] = [];
    const deferred: (() => void)[] = [];
    vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((callback) => deferred.push(callback));
    const queue = new TimerQueue<number>(clock, (item) => {
      if (item === 1) throw new Error('bad callback');
      expired.push(item);
    });
    queue.add(1, 1);
    queue.add(2, 1);
    await clock.advance(1);
    expect(expired).toEqual([2]);
    expect(deferred).toHaveLength(1);
    expect(deferred[0]!).toThrow('bad callback');
  });

  it('fires every live entry exactly once, at or after its deadline, in deadline order (any schedule)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: 50 }),
            delay: fc.integer({ min: 0, max: 100 }),
            cancel: fc.boolean(),
          }),
          {
            maxLength: 40,
          },
        ),
        async (plan) => {
          const clock = virtualClock();
          const fired: { id: number; at: number }[] = [];
          const queue = new TimerQueue<number>(clock, (id) => fired.push({ id, at: clock.now() }));
          const deadlines = new Map<number, number>();
          const byStart = plan.map((step, id) => ({ ...step, id })).sort((a, b) => a.at - b.at);
          for (const step of byStart) {
            await clock.advance(step.at - clock.now());
            const entry = queue.add(step.id, clock.now() + step.delay);
            if (step.cancel) queue.delete(entry);
            else deadlines.set(step.id, clock.now() + step.delay);
          }
          await clock.advance(200);
          expect(fired.map((f) => f.id).sort((a, b) => a - b)).toEqual(
            [...deadlines.keys()].sort((a, b) => a - b),
          );
          for (const f of fired) expect(f.at).toBeGreaterThanOrEqual(deadlines.get(f.id)!);
          const order = fired.map((f) => deadlines.get(f.id)!);
          expect(order).toEqual([...order].sort((a, b) => a - b));
          expect(queue.size).toBe(0);
          expect(clock.pending).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });
});
