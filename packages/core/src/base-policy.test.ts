import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { pipeline } from './pipeline.js';

describe('execute at the root of a call', () => {
  it('rejects at once with the caller reason when the caller aborts, while the operation is still running', async () => {
    const controller = new AbortController();
    let release!: () => void;
    const running = new Promise<void>((resolve) => {
      release = resolve;
    });
    let operationSignal: AbortSignal | undefined;
    const call = pipeline().execute(
      async (ctx) => {
        operationSignal = ctx.signal;
        await running;
        return 'late';
      },
      { signal: controller.signal },
    );
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await expect(call).rejects.toBe(reason);
    expect(operationSignal?.aborted).toBe(true);
    expect(operationSignal?.reason).toBe(reason);
    release();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects with the reason of an already aborted signal without calling the operation', async () => {
    const reason = new Error('before');
    let calls = 0;
    await expect(pipeline().execute(() => calls++, { signal: AbortSignal.abort(reason) })).rejects.toBe(
      reason,
    );
    expect(calls).toBe(0);
  });

  it('gives the caller reason, not the error the operation made of it', async () => {
    const controller = new AbortController();
    const call = pipeline().execute(
      (ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => reject(new Error('wrapped abort')));
        }),
      { signal: controller.signal },
    );
    controller.abort('the reason');
    await expect(call).rejects.toBe('the reason');
  });

  it('leaves no listener on the caller signal after 10,000 calls that succeed, fail or read the signal', async () => {
    const controller = new AbortController();
    const options = { signal: controller.signal };
    const p = pipeline(pipeline(), pipeline());
    for (let i = 0; i < 10_000; i++) {
      if (i % 3 === 0) await p.execute(async () => i, options);
      else if (i % 3 === 1)
        await p.execute(async () => Promise.reject(new Error('x')), options).catch(() => undefined);
      else await p.execute((ctx) => ctx.signal.aborted, options);
    }
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects bad arguments with a TypeError naming them', async () => {
    const p = pipeline();
    await expect(p.execute(42 as never)).rejects.toThrow(
      new TypeError('execute: fn must be a function, received 42'),
    );
    await expect(p.execute(() => 1, { signal: {} as AbortSignal })).rejects.toThrow(
      new TypeError('execute: options.signal must be an AbortSignal, received an object'),
    );
    await expect(p.execute(() => 1, { key: 7 as never })).rejects.toThrow(
      new TypeError('execute: options.key must be a string, received 7'),
    );
  });
});
