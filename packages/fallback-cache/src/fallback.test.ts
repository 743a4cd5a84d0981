import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { pipeline, TimeoutError } from '@breakwater/core';
import { describe, expect, it, vi } from 'vitest';
import { type FallbackEvent, fallback } from './fallback.js';

describe('fallback', () => {
  it('returns the operation value when it succeeds, without calling the fallback', async () => {
    const value = vi.fn(() => 'fallback');
    const policy = fallback({ value });
    await expect(policy.execute(() => 'live')).resolves.toBe('live');
    expect(value).not.toHaveBeenCalled();
  });

  it('replaces a failure with a value, or with what a function of the failure returns', async () => {
    const boom = new Error('boom');
    await expect(fallback({ value: 'static' }).execute(() => Promise.reject(boom))).resolves.toBe('static');
    const value = vi.fn((error: unknown) => Promise.resolve(`after ${(error as Error).message}`));
    const policy = fallback({ value });
    await expect(policy.execute(() => Promise.reject(boom), { key: 'k' })).resolves.toBe('after boom');
    expect(value).toHaveBeenCalledTimes(1);
    expect(value.mock.calls[0]![0]).toBe(boom);
    expect((value.mock.calls[0] as unknown[])[1]).toMatchObject({ key: 'k', attempt: 1 });
  });

  it('falls back on synchronous throws and to falsy values', async () => {
    await expect(
      fallback({ value: 0 }).execute(() => {
        throw new Error('sync');
      }),
    ).resolves.toBe(0);
    await expect(fallback({ value: undefined }).execute(() => Promise.reject(new Error('x')))).resolves.toBe(
      undefined,
    );
  });

  it('rethrows failures shouldHandle declines, and what the fallback function throws', async () => {
    const policy = fallback({ value: 'v', shouldHandle: ({ error }) => error instanceof TimeoutError });
    const other = new Error('other');
    await expect(policy.execute(() => Promise.reject(other))).rejects.toBe(other);
    await expect(policy.execute(() => Promise.reject(new TimeoutError(5)))).resolves.toBe('v');
    const broken = new Error('fallback broke');
    await expect(
      fallback({
        value: () => {
          throw broken;
        },
      }).execute(() => Promise.reject(new Error('x'))),
    ).rejects.toBe(broken);
  });

  it("never replaces the caller's own abort, even inside a pipeline", async () => {
    const value = vi.fn(() => 'fallback');
    const policy = pipeline(fallback({ value }));
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const running = policy.execute(
      ({ signal }) =>
        new Promise((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason));
        }),
      { signal: controller.signal },
    );
    controller.abort(reason);
    await expect(running).rejects.toBe(reason);
    await new Promise((resolve) => setImmediate(resolve));
    expect(value).not.toHaveBeenCalled();
  });

  it('emits onFallback and publishes breakwater:fallback:fallback only when somebody listens', async () => {
    const policy = fallback({ value: 1 });
    const events: FallbackEvent[] = [];
    const published: unknown[] = [];
    const onMessage = (message: unknown) => published.push(message);
    using _subscription = policy.onFallback((event) => events.push(event));
    subscribe('breakwater:fallback:fallback', onMessage);
    try {
      const error = new Error('x');
      await policy.execute(() => Promise.reject(error), { key: 'origin' });
      expect(events).toHaveLength(1);
      expect(events[0]!.error).toBe(error);
      expect(events[0]!.context.key).toBe('origin');
      expect(published).toEqual(events);
    } finally {
      unsubscribe('breakwater:fallback:fallback', onMessage);
    }
  });

  it('validates its options when built', () => {
    expect(() => fallback(undefined as never)).toThrow(TypeError);
    expect(() => fallback({} as never)).toThrow(/fallback: value is required/);
    expect(() => fallback({ value: 1, shouldHandle: 'yes' as never })).toThrow(
      new TypeError('fallback: shouldHandle must be a function, received "yes"'),
    );
    expect(() => fallback({ value: 1, fallbackValue: 2 } as never)).toThrow(/unknown option "fallbackValue"/);
  });
});
