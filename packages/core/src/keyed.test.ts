import { describe, expect, it } from 'vitest';
import { BasePolicy, callOperation } from './base-policy.js';
import type { ExecutionContext } from './context.js';
import { keyed } from './keyed.js';
import type { Operation } from './policy.js';

/** Counts its calls and fails every call once `broken` is set: per-key state to prove isolation. */
class Counter extends BasePolicy {
  calls = 0;
  broken = false;

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    this.calls++;
    if (this.broken) return Promise.reject(new Error(`broken ${context.key}`));
    return callOperation(fn, context);
  }
}

describe('keyed', () => {
  it('makes one policy per key on first use and reuses it', async () => {
    const made: string[] = [];
    const policies = new Map<string, Counter>();
    const p = keyed((key) => {
      made.push(key);
      const policy = new Counter();
      policies.set(key, policy);
      return policy;
    });
    for (const key of ['a', 'b', 'a', 'a', 'b']) await p.execute(() => key, { key });
    expect(made).toEqual(['a', 'b']);
    expect(policies.get('a')!.calls).toBe(3);
    expect(policies.get('b')!.calls).toBe(2);
  });

  it('isolates keys: a broken policy for one key does not affect another', async () => {
    const p = keyed(() => new Counter());
    (p.policyFor('bad') as Counter).broken = true;
    await expect(p.execute(() => 'x', { key: 'bad' })).rejects.toThrow('broken bad');
    expect(await p.execute(() => 'fine', { key: 'good' })).toBe('fine');
  });

  it('never holds more than maxKeys policies and evicts the least recently used', async () => {
    const made: string[] = [];
    const p = keyed(
      (key) => {
        made.push(key);
        return new Counter();
      },
      { maxKeys: 3 },
    );
    for (const key of ['a', 'b', 'c', 'a', 'd']) await p.execute(() => undefined, { key });
    expect(p.size).toBe(3);
    await p.execute(() => undefined, { key: 'a' });
    await p.execute(() => undefined, { key: 'b' });
    expect(made).toEqual(['a', 'b', 'c', 'd', 'b']);
    for (let i = 0; i < 10_000; i++) await p.execute(() => undefined, { key: `k${i}` });
    expect(p.size).toBe(3);
  });

  it('rejects a call without a key', async () => {
    await expect(keyed(() => new Counter()).execute(() => 1)).rejects.toThrow(
      new TypeError('keyed: execute() needs options.key to choose the per-key policy'),
    );
  });

  it('validates its arguments when built', () => {
    expect(() => keyed(() => new Counter(), { maxKeys: 0 })).toThrow(
      new RangeError('keyed: maxKeys must be an integer >= 1, received 0'),
    );
    expect(() => keyed(() => new Counter(), { maxKey: 3 } as never)).toThrow(
      /unknown option "maxKey" \(did you mean "maxKeys"\?\)/,
    );
    expect(() => keyed('nope' as never)).toThrow(
      new TypeError('keyed: make must be a function, received "nope"'),
    );
  });

  it('rejects when make returns something that is not a policy', async () => {
    await expect(keyed(() => ({}) as never).execute(() => 1, { key: 'k' })).rejects.toThrow(
      'keyed: make("k") must return a policy, received an object',
    );
  });
});
