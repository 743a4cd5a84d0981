import { describe, expect, it } from 'vitest';
import { heapClock } from './heap-clock.ts';

describe('heapClock', () => {
  it('fires timers in deadline order, then creation order, and skips cleared ones', async () => {
    const clock = heapClock();
    const fired: string[] = [];
    for (const [name, delay] of [
      ['c', 30],
      ['a', 10],
      ['b1', 20],
      ['b2', 20],
      ['x', 15],
    ] as const) {
      const handle = clock.setTimeout(() => fired.push(`${name}@${clock.now()}`), delay);
      if (name === 'x') clock.clearTimeout(handle);
    }
    await clock.run(Number.POSITIVE_INFINITY);
    expect(fired).toEqual(['a@10', 'b1@20', 'b2@20', 'c@30']);
  });

  it('lets promise callbacks run between timers, so awaiting code schedules its next timer in time', async () => {
    const clock = heapClock();
    const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
    const times: number[] = [];
    const loop = async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(5);
        times.push(clock.now());
      }
    };
    const done = loop();
    clock.setTimeout(() => times.push(-clock.now()), 12);
    await clock.run(100);
    await done;
    expect(times).toEqual([5, 10, -12, 15]);
  });

  it('stops at the given time and leaves later timers pending', async () => {
    const clock = heapClock();
    let fired = 0;
    clock.setTimeout(() => fired++, 10);
    clock.setTimeout(() => fired++, 50);
    await clock.run(20);
    expect(fired).toBe(1);
    await clock.run(50);
    expect(fired).toBe(2);
  });
});
