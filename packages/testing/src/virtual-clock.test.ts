import { describe, expect, it } from 'vitest';
import { virtualClock } from './virtual-clock.js';

describe('virtualClock', () => {
  it('starts where asked and moves only when advanced', async () => {
    const clock = virtualClock({ start: 1000 });
    expect(clock.now()).toBe(1000);
    await clock.advance(250);
    expect(clock.now()).toBe(1250);
  });

  it('fires due timers in deadline order, then creation order, with now() at each deadline', async () => {
    const clock = virtualClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push('late'), 31);
    await clock.advance(30);
    expect(fired).toEqual(['a@10', 'b@20', 'c@20']);
    expect(clock.pending).toBe(1);
    expect(clock.now()).toBe(30);
  });

  it('lets awaiting code progress between timers, so chained waits complete in one advance', async () => {
    const clock = virtualClock();
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => clock.setTimeout(resolve, ms));
    const times: number[] = [];
    const chain = (async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(10);
        await Promise.resolve();
        times.push(clock.now());
      }
    })();
    await clock.advance(30);
    await chain;
    expect(times).toEqual([10, 20, 30]);
  });

  it('cancels timers with clearTimeout and ignores unknown handles', async () => {
    const clock = virtualClock();
    let fired = false;
    const handle = clock.setTimeout(() => {
      fired = true;
    }, 5);
    clock.clearTimeout(handle);
    clock.clearTimeout('nonsense');
    expect(clock.pending).toBe(0);
    await clock.advance(10);
    expect(fired).toBe(false);
  });

  it('next() jumps to the next timer, and says when there is none', async () => {
    const clock = virtualClock();
    clock.setTimeout(() => undefined, 40);
    expect(await clock.next()).toBe(true);
    expect(clock.now()).toBe(40);
    expect(await clock.next()).toBe(false);
  });

  it('rejects a negative, NaN or infinite advance', async () => {
    const clock = virtualClock();
    await expect(clock.advance(-1)).rejects.toThrow(RangeError);
    await expect(clock.advance(Number.NaN)).rejects.toThrow(RangeError);
    await expect(clock.advance(Number.POSITIVE_INFINITY)).rejects.toThrow(RangeError);
  });
});
