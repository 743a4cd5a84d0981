import { virtualClock } from '@breakwater/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entryOverheadBytes, ResponseStore, type StoredResponse } from './response-store.js';

const noHeaders = new Headers();

function response(bodyBytes: number, overrides: Partial<StoredResponse> = {}): StoredResponse {
  return {
    method: 'GET',
    status: 200,
    statusText: 'OK',
    headers: [],
    body: new Uint8Array(bodyBytes),
    varyNames: [],
    size: bodyBytes + entryOverheadBytes,
    responseTime: 0,
    initialAgeMs: 0,
    freshnessMs: 1000,
    staleIfErrorMs: 0,
    revalidate: false,
    ...overrides,
  };
}

describe('ResponseStore', () => {
  it('keys by HMAC under a per-instance secret: no URL in the key, no key shared between instances', () => {
    const clock = virtualClock();
    const a = new ResponseStore(10, 1e6, 1e5, clock);
    const b = new ResponseStore(10, 1e6, 1e5, clock);
    const url = 'https://api.example.com/users/42?token=secret';
    expect(a.urlKey(url)).toBe(a.urlKey(url));
    expect(a.urlKey(url)).not.toBe(b.urlKey(url));
    expect(a.urlKey(url)).toMatch(/^[\w-]{43}$/);
    expect(a.urlKey(url)).not.toContain('secret');
  });

  it('separates partitions and methods, and Vary values (absent differs from empty)', () => {
    const store = new ResponseStore(10, 1e6, 1e5, virtualClock());
    const key = store.urlKey('https://a.test/x');
    const english = new Headers({ 'accept-language': 'en' });
    const vary = ['accept-language'];
    store.set(key, 'alice', english, response(1, { varyNames: vary }), 1000);
    expect(store.get(key, 'GET', 'alice', english)).toBeDefined();
    expect(store.get(key, 'GET', 'alice', new Headers({ 'accept-language': ' en ' }))).toBeDefined();
    expect(store.get(key, 'GET', 'bob', english)).toBeUndefined();
    expect(store.get(key, 'GET', undefined, english)).toBeUndefined();
    expect(store.get(key, 'HEAD', 'alice', english)).toBeUndefined();
    expect(store.get(key, 'GET', 'alice', new Headers({ 'accept-language': 'de' }))).toBeUndefined();
    expect(store.get(key, 'GET', 'alice', noHeaders)).toBeUndefined();
    store.set(key, 'alice', noHeaders, response(2, { varyNames: vary }), 1000);
    expect(store.get(key, 'GET', 'alice', noHeaders)?.body.byteLength).toBe(2);
    expect(store.get(key, 'GET', 'alice', new Headers({ 'accept-language': '' }))).toBeUndefined();
    expect(store.get(key, 'GET', 'alice', english)?.body.byteLength).toBe(1);
  });

  it('does not confuse a partition named like a field with a Vary value', () => {
    const store = new ResponseStore(10, 1e6, 1e5, virtualClock());
    const key = store.urlKey('https://a.test/x');
    store.set(key, 'a|x=1:1', noHeaders, response(1), 1000);
    expect(store.get(key, 'GET', 'a', new Headers({ x: '1' }))).toBeUndefined();
  });

  it('expires entries on the injected clock even when it starts at 0 (lru-cache reads start 0 as "no TTL")', async () => {
    const clock = virtualClock({ start: 0 });
    const store = new ResponseStore(10, 1e6, 1e5, clock);
    const key = store.urlKey('https://a.test/x');
    expect(store.set(key, undefined, noHeaders, response(10, { responseTime: 0 }), 1000)).toBe(true);
    await clock.advance(999);
    expect(store.get(key, 'GET', undefined, noHeaders)).toBeDefined();
    await clock.advance(2);
    expect(store.get(key, 'GET', undefined, noHeaders)).toBeUndefined();
    expect(store.size).toBe(0);
  });

  it('counts the lifetime from when the response arrived, not from when its body was stored', async () => {
    const clock = virtualClock({ start: 5000 });
    const store = new ResponseStore(10, 1e6, 1e5, clock);
    const key = store.urlKey('https://a.test/x');
    await clock.advance(400); // the body took 400 ms to read
    store.set(key, undefined, noHeaders, response(10, { responseTime: 5000 }), 1000);
    await clock.advance(599);
    expect(store.get(key, 'GET', undefined, noHeaders)).toBeDefined();
    await clock.advance(2);
    expect(store.get(key, 'GET', undefined, noHeaders)).toBeUndefined();
  });

  it('sweeps out expired entries with one timer that runs only while something is stored', async () => {
    const clock = virtualClock();
    const store = new ResponseStore(10, 1e6, 1e5, clock);
    expect(clock.pending).toBe(0);
    for (let i = 0; i < 5; i++)
      store.set(store.urlKey(`https://a.test/${i}`), undefined, noHeaders, response(100), 30_000);
    expect(clock.pending).toBe(1);
    expect(store.bytes).toBe(5 * (100 + entryOverheadBytes));
    await clock.advance(60_000);
    expect(store.size).toBe(0);
    expect(store.bytes).toBe(0);
    expect(clock.pending).toBe(0);
    expect(store.set(store.urlKey('https://a.test/x'), undefined, noHeaders, response(1), 1000)).toBe(false);
    store.set(
      store.urlKey('https://a.test/x'),
      undefined,
      noHeaders,
      response(1, { responseTime: 60_000 }),
      1000,
    );
    expect(clock.pending).toBe(1);
    store.clear();
    expect(store.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('keeps the newer of two responses to the same request, whichever body finished last', () => {
    const store = new ResponseStore(10, 1e6, 1e5, virtualClock({ start: 100 }));
    const key = store.urlKey('https://a.test/x');
    expect(store.set(key, undefined, noHeaders, response(2, { responseTime: 100 }), 1000)).toBe(true);
    expect(store.set(key, undefined, noHeaders, response(1, { responseTime: 50 }), 1000)).toBe(false);
    expect(store.get(key, 'GET', undefined, noHeaders)?.body.byteLength).toBe(2);
    expect(store.set(key, undefined, noHeaders, response(3, { responseTime: 100 }), 1000)).toBe(true);
    expect(store.get(key, 'GET', undefined, noHeaders)?.body.byteLength).toBe(3);
  });

  it('invalidates every method, partition and variant of a URL and nothing else', () => {
    const store = new ResponseStore(10, 1e6, 1e5, virtualClock());
    const key = store.urlKey('https://a.test/x');
    const other = store.urlKey('https://a.test/y');
    store.set(key, undefined, noHeaders, response(1), 1000);
    store.set(key, 'alice', noHeaders, response(1), 1000);
    store.set(key, undefined, noHeaders, response(1, { method: 'HEAD' }), 1000);
    store.set(other, undefined, noHeaders, response(1), 1000);
    expect(store.size).toBe(4);
    store.invalidate(key);
    expect(store.size).toBe(1);
    expect(store.get(other, 'GET', undefined, noHeaders)).toBeDefined();
    store.invalidate(key);
    expect(store.size).toBe(1);
  });

  it('refuses entries over maxEntrySize and stores nothing with a zero bound', () => {
    const store = new ResponseStore(10, 10_000, 1000, virtualClock());
    const key = store.urlKey('https://a.test/x');
    expect(store.set(key, undefined, noHeaders, response(1000 - entryOverheadBytes), 1000)).toBe(true);
    expect(store.set(key, undefined, noHeaders, response(1001 - entryOverheadBytes), 1000)).toBe(false);
    for (const [entries, bytes, entrySize] of [
      [0, 1e6, 1e5],
      [10, 0, 0],
      [10, 1e6, 0],
    ] as const) {
      const none = new ResponseStore(entries, bytes, entrySize, virtualClock());
      expect(none.set(none.urlKey('https://a.test/x'), undefined, noHeaders, response(0), 1000)).toBe(false);
      expect(none.size).toBe(0);
    }
  });

  it('keeps bytes within maxBytes and entries within maxEntries for every sequence of stores', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1000, max: 20_000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 6000 })), {
          maxLength: 200,
        }),
        (maxEntries, maxBytes, writes) => {
          const maxEntrySize = Math.min(4000, maxBytes);
          const store = new ResponseStore(maxEntries, maxBytes, maxEntrySize, virtualClock());
          for (const [url, bytes] of writes) {
            const entry = response(bytes);
            const stored = store.set(
              store.urlKey(`https://a.test/${url}`),
              undefined,
              noHeaders,
              entry,
              1000,
            );
            expect(stored).toBe(entry.size <= maxEntrySize);
            expect(store.bytes).toBeLessThanOrEqual(maxBytes);
            expect(store.size).toBeLessThanOrEqual(maxEntries);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('bounds the bytes being read for storing by maxBytes', () => {
    const store = new ResponseStore(10, 1000, 500, virtualClock());
    expect(store.reserve(600)).toBe(true);
    expect(store.reserve(400)).toBe(true);
    expect(store.reserve(1)).toBe(false);
    store.release(400);
    expect(store.reserved).toBe(600);
    expect(store.reserve(400)).toBe(true);
  });
});
