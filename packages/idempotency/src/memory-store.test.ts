import { virtualClock } from '@breakwater/testing';
import { describe, expect, it } from 'vitest';
import { MemoryStoreFullError, memoryStore } from './memory-store.js';
import type { ClaimRequest } from './store.js';
import { describeStoreConformance } from './store-conformance.js';

describeStoreConformance('memoryStore', () => {
  const clock = virtualClock();
  const store = memoryStore({ clock });
  return { store, advance: (ms) => clock.advance(ms), close: () => store.close() };
});

const claim = (owner: string, extra: Partial<ClaimRequest> = {}): ClaimRequest => ({
  owner,
  fingerprint: 'f'.repeat(64),
  leaseMs: 1000,
  retentionMs: 60_000,
  takeover: true,
  ...extra,
});
const ok = { status: 200, headers: [], body: Buffer.from('ok') };

describe('memoryStore', () => {
  it('evicts the least recently used completed record past maxEntries, never an in-progress one', async () => {
    const store = memoryStore({ maxEntries: 2, clock: virtualClock() });
    for (const k of ['a', 'b', 'c']) {
      await store.claim(k, claim('o'));
      await store.complete(k, 'o', ok, 60_000);
    }
    await store.claim('live', claim('o'));
    expect(store.size).toBe(3);
    expect((await store.claim('a', claim('x'))).status).toBe('claimed');
    expect((await store.claim('c', claim('x'))).status).toBe('completed');
    expect((await store.claim('live', claim('x'))).status).toBe('in_progress');
    store.close();
  });

  it('stays within maxBytes by evicting completed records', async () => {
    const store = memoryStore({ maxBytes: 10_000, clock: virtualClock() });
    for (let i = 0; i < 50; i++) {
      await store.claim(`k${i}`, claim('o'));
      await store.complete(`k${i}`, 'o', { status: 200, headers: [], body: Buffer.alloc(1000) }, 60_000);
    }
    expect(store.size).toBeLessThanOrEqual(10);
    expect((await store.claim('k49', claim('x'))).status).toBe('completed');
    expect((await store.claim('k0', claim('x'))).status).toBe('claimed');
    store.close();
  });

  it('keeps a response larger than maxBytes as completed without its body, so the key never runs twice', async () => {
    const store = memoryStore({ maxBytes: 2048, clock: virtualClock() });
    await store.claim('big', claim('o'));
    expect(
      await store.complete('big', 'o', { status: 200, headers: [], body: Buffer.alloc(4096) }, 60_000),
    ).toBe(true);
    const replay = await store.claim('big', claim('x'));
    expect(replay.status === 'completed' && replay.response.body).toBeNull();
    store.close();
  });

  it('refuses new claims once maxInProgress requests are in progress, and accepts them again after one ends', async () => {
    const store = memoryStore({ maxInProgress: 2, clock: virtualClock() });
    await store.claim('a', claim('o'));
    await store.claim('b', claim('o'));
    await expect(store.claim('c', claim('o'))).rejects.toBeInstanceOf(MemoryStoreFullError);
    expect((await store.claim('a', claim('x'))).status).toBe('in_progress');
    await store.release('a', 'o');
    expect((await store.claim('c', claim('o'))).status).toBe('claimed');
    store.close();
  });

  it('sweeps expired records on an unref timer and stops it on close', async () => {
    const clock = virtualClock();
    const store = memoryStore({ sweepIntervalMs: 1000, clock });
    expect(clock.pending).toBe(1);
    await store.claim('p', claim('o', { retentionMs: 500 }));
    await store.claim('c', claim('o'));
    await store.complete('c', 'o', ok, 500);
    expect(store.size).toBe(2);
    await clock.advance(1000);
    expect(store.size).toBe(0);
    expect(clock.pending).toBe(1);
    store.close();
    expect(clock.pending).toBe(0);
  });

  it('validates its options at construction', () => {
    expect(() => memoryStore({ maxEntries: 0 })).toThrow(
      new RangeError('memoryStore: maxEntries must be an integer >= 1, received 0'),
    );
    expect(() => memoryStore({ maxBytes: 1.5 })).toThrow(RangeError);
    expect(() => memoryStore({ maxInProgress: '5' as never })).toThrow(TypeError);
    expect(() => memoryStore({ sweepIntervalMs: -1 })).toThrow(RangeError);
    expect(() => memoryStore({ clock: {} as never })).toThrow(/clock must be an object with now\(\)/);
    expect(() => memoryStore({ maxEntris: 5 } as never)).toThrow(
      /unknown option "maxEntris" \(did you mean "maxEntries"\?\)/,
    );
  });
});
