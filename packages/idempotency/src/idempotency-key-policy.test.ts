import { BasePolicy, callOperation, type ExecutionContext, type Operation, pipeline } from '@breakwater/core';
import { describe, expect, it } from 'vitest';
import { idempotencyKey, idempotencyKeyContext } from './idempotency-key-policy.js';

/** Runs the operation up to `attempts` times, as a retry would, until it stops throwing. */
class Repeat extends BasePolicy {
  readonly #attempts: number;
  constructor(attempts: number) {
    super();
    this.#attempts = attempts;
  }
  protected async run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await callOperation(fn, context.withAttempt(attempt));
      } catch (error) {
        if (attempt === this.#attempts) throw error;
      }
    }
  }
}

describe('idempotencyKey', () => {
  it('makes one UUID key per logical execution that every attempt sees', async () => {
    const seen: (string | undefined)[] = [];
    const policy = pipeline(idempotencyKey(), new Repeat(3));
    await policy
      .execute((ctx) => {
        seen.push(ctx.get(idempotencyKeyContext));
        throw new Error('transient');
      })
      .catch(() => {});
    expect(seen).toHaveLength(3);
    expect(new Set(seen).size).toBe(1);
    expect(seen[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const next = await policy.execute((ctx) => ctx.get(idempotencyKeyContext));
    expect(next).not.toBe(seen[0]);
  });

  it('keeps the key even when placed inside the retry, since the context data is shared by every attempt', async () => {
    let n = 0;
    const seen: (string | undefined)[] = [];
    const policy = pipeline(new Repeat(2), idempotencyKey({ generate: () => `key-${++n}` }));
    await policy.execute((ctx) => {
      seen.push(ctx.get(idempotencyKeyContext));
      if (seen.length === 1) throw new Error('retry me');
    });
    expect(seen).toEqual(['key-1', 'key-1']);
  });

  it('keeps a key set by an enclosing idempotencyKey policy', async () => {
    const policy = pipeline(
      idempotencyKey({ generate: () => 'outer' }),
      idempotencyKey({ generate: () => 'inner' }),
    );
    expect(await policy.execute((ctx) => ctx.get(idempotencyKeyContext))).toBe('outer');
  });

  it('refuses a generated key that is not a valid field value, and bad options', async () => {
    await expect(idempotencyKey({ generate: () => 'a\r\nb' }).execute(() => 1)).rejects.toThrow(
      'idempotencyKey: generate() must return a key of 1-255 printable ASCII characters',
    );
    await expect(idempotencyKey({ generate: () => 42 as never }).execute(() => 1)).rejects.toThrow(TypeError);
    expect(() => idempotencyKey({ generate: 'uuid' as never })).toThrow(
      'idempotencyKey: generate must be a function, received "uuid"',
    );
    expect(() => idempotencyKey({ key: 'x' } as never)).toThrow(/unknown option "key"/);
  });
});
