import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { raceAbort } from './race-abort.js';

describe('raceAbort', () => {
  it('settles like the work while the signal does not abort, and leaves no listener', async () => {
    const controller = new AbortController();
    await expect(raceAbort(Promise.resolve(1), controller.signal)).resolves.toBe(1);
    await expect(raceAbort(Promise.reject(new Error('work')), controller.signal)).rejects.toThrow('work');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects with the reason at once, and hands a value that arrives later to discardLate', async () => {
    const controller = new AbortController();
    let finish!: (value: string) => void;
    const late: string[] = [];
    const raced = raceAbort(
      new Promise<string>((resolve) => (finish = resolve)),
      controller.signal,
      (value) => late.push(value),
    );
    controller.abort('gave up');
    await expect(raced).rejects.toBe('gave up');
    finish('response');
    await Promise.resolve();
    await Promise.resolve();
    expect(late).toEqual(['response']);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects with the reason, not the work’s error, when the work fails after the abort', async () => {
    const controller = new AbortController();
    let fail!: (error: Error) => void;
    const raced = raceAbort(new Promise<never>((_, reject) => (fail = reject)), controller.signal);
    controller.abort('gave up');
    fail(new Error('aborted work'));
    await expect(raced).rejects.toBe('gave up');
  });
});
