import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  BasePolicy,
  BrokenCircuitError,
  BulkheadRejectedError,
  callOperation,
  ExecutionContext,
  type Operation,
  type Policy,
  pipeline,
  TimeoutError,
} from '@breakwater/core';
import { HttpStatusError, httpRequestKey, resilientFetch, standardPipeline } from '@breakwater/http';
import { type FaultServer, startFaultServer, type VirtualClock, virtualClock } from '@breakwater/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type FallbackCachePolicy, fallbackCache } from './fallback-cache.js';
import type { FallbackServedEvent, StoreEvent } from './fallback-cache-core.js';
import type { FallbackCacheOptions } from './fallback-cache-options.js';
import { fallbackInfo } from './fallback-info.js';

const unhandled = vi.fn();
beforeAll(() => {
  process.on('unhandledRejection', unhandled);
});
afterAll(() => {
  process.off('unhandledRejection', unhandled);
});
afterEach(() => {
  expect(unhandled).not.toHaveBeenCalled();
});

let server: FaultServer;
beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(() => server.close());

let routes = 0;
/** A fresh path per test, so routes never collide. */
const path = (name: string): string => `/${name}-${++routes}`;
const url = (p: string): string => `${server.origin}${p}`;

interface Setup {
  clock: VirtualClock;
  cache: FallbackCachePolicy;
  fetch: typeof globalThis.fetch;
}

/** resilientFetch over pipeline(fallbackCache, inner) on a virtual clock starting at 0. */
function setup(options: FallbackCacheOptions = {}, inner?: (clock: VirtualClock) => Policy): Setup {
  const clock = virtualClock();
  const cache = fallbackCache({ clock, ...options });
  const fetch = resilientFetch({
    pipeline: pipeline(cache, inner?.(clock) ?? standardPipeline({ retry: false, clock })),
  });
  return { clock, cache, fetch };
}

function nextStore(cache: FallbackCachePolicy): Promise<StoreEvent> {
  return new Promise((resolve) => {
    const subscription = cache.onStore((event) => {
      subscription.dispose();
      resolve(event);
    });
  });
}

/** Fetches `target` and waits until its response is stored. */
async function prime({ cache, fetch }: Setup, target: string, init?: RequestInit): Promise<string> {
  const stored = nextStore(cache);
  const res = await fetch(target, init);
  expect(res.status).toBe(200);
  const text = await res.text();
  await stored;
  return text;
}

const fresh = (body: string, cacheControl = 'max-age=10', headers: Record<string, string> = {}) => ({
  status: 200,
  body,
  headers: { 'cache-control': cacheControl, 'content-type': 'text/plain', ...headers },
});
const down = { status: 503, body: 'down' };

describe('fallbackCache through resilientFetch', () => {
  it('serves a stored GET stale, with Age and Cache-Status, when the origin answers 503', async () => {
    const s = setup();
    const p = path('stale');
    const route = server.route(`GET ${p}`, [fresh('fresh body'), down]);
    const served: FallbackServedEvent[] = [];
    using _listener = s.cache.onFallbackServed((event) => served.push(event));
    await prime(s, url(p));
    await s.clock.advance(25_000);

    const res = await s.fetch(url(p));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('fresh body');
    expect(res.headers.get('age')).toBe('25');
    expect(res.headers.get('cache-status')).toBe('breakwater; hit; ttl=-15; detail=stale-if-error');
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(res.url).toBe(url(p));
    expect(route.count).toBe(2);
    const info = fallbackInfo(res)!;
    expect(info).toMatchObject({ stale: true, ageSeconds: 25, reason: 'status' });
    expect(info.error).toBeInstanceOf(HttpStatusError);
    expect((info.error as HttpStatusError).status).toBe(503);
    expect(served).toHaveLength(1);
    expect(served[0]).toMatchObject({ method: 'GET', url: url(p), status: 200, ageSeconds: 25, stale: true });
    expect(served[0]!.context?.key).toBe(server.origin);
  });

  it('reads away the body of the failed response it replaces (a short one to its end, a long one cancelled)', async () => {
    for (const [chunks, read, cancelled] of [
      [3, 4, false],
      [40, 6, true], // 5 chunks pass 64 KiB (the stream pulls one ahead)
    ] as const) {
      let pulls = 0;
      let cancel = false;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (++pulls > chunks) controller.close();
          else controller.enqueue(new Uint8Array(16 * 1024));
        },
        cancel() {
          cancel = true;
        },
      });
      let live = true;
      const inner: Policy = {
        execute: (fn, options) =>
          live
            ? standardPipeline({ retry: false }).execute(fn, options)
            : Promise.reject(new HttpStatusError(503, undefined, new Response(body, { status: 503 }))),
      };
      const s = setup({}, () => inner);
      const p = path('drain');
      server.route(`GET ${p}`, fresh('cached'));
      await prime(s, url(p));
      live = false;
      expect(await (await s.fetch(url(p))).text()).toBe('cached');
      await vi.waitFor(() => expect(cancel || pulls > chunks).toBe(true));
      expect(pulls).toBe(read);
      expect(cancel).toBe(cancelled);
    }
  });

  it('serves it when the connection is reset before the response', async () => {
    const s = setup();
    const p = path('reset');
    server.route(`GET ${p}`, [fresh('still here'), { reset: 'before-response' }]);
    await prime(s, url(p));
    await s.clock.advance(60_000);
    const res = await s.fetch(url(p));
    expect(await res.text()).toBe('still here');
    expect(res.headers.get('age')).toBe('60');
    expect(res.headers.get('cache-status')).toBe('breakwater; hit; ttl=-50; detail=stale-if-error');
    expect(fallbackInfo(res)?.reason).toBe('network');
  });

  it('serves a fresh stored response without the stale marker in ttl', async () => {
    const s = setup();
    const p = path('fresh');
    server.route(`GET ${p}`, [fresh('v1', 'max-age=100'), down]);
    await prime(s, url(p));
    await s.clock.advance(1_500);
    const res = await s.fetch(url(p));
    expect(res.headers.get('age')).toBe('1');
    expect(res.headers.get('cache-status')).toBe('breakwater; hit; ttl=98; detail=stale-if-error');
    expect(fallbackInfo(res)?.stale).toBe(false);
  });

  it('counts the Age the origin sent', async () => {
    const s = setup();
    const p = path('age');
    server.route(`GET ${p}`, [fresh('aged', 'max-age=10', { age: '7' }), down]);
    await prime(s, url(p));
    await s.clock.advance(4_000);
    const res = await s.fetch(url(p));
    expect(res.headers.get('age')).toBe('11');
    expect(res.headers.get('cache-status')).toBe('breakwater; hit; ttl=-1; detail=stale-if-error');
  });

  it('serves it when the attempt times out', async () => {
    const s = setup({}, (clock) =>
      standardPipeline({ retry: false, clock, attemptTimeoutMs: 1000, totalTimeoutMs: 5000 }),
    );
    const p = path('timeout');
    const route = server.route(`GET ${p}`, [fresh('timely'), { hang: true }]);
    await prime(s, url(p));
    const running = s.fetch(url(p));
    await vi.waitFor(() => expect(route.count).toBe(2));
    await s.clock.advance(1000);
    const res = await running;
    expect(await res.text()).toBe('timely');
    expect(fallbackInfo(res)?.reason).toBe('timeout');
    expect(fallbackInfo(res)?.error).toBeInstanceOf(TimeoutError);
  });

  it('serves it when the circuit is open or the bulkhead is full, unless told not to for the bulkhead', async () => {
    let failure: unknown;
    const failing: Policy = { execute: () => Promise.reject(failure) };
    const live = standardPipeline({ retry: false });
    let useFailing = false;
    const switchable: Policy = {
      execute: (fn, options) => (useFailing ? failing.execute(fn, options) : live.execute(fn, options)),
    };
    for (const serveOnBulkheadRejection of [true, false]) {
      const s = setup({ serveOnBulkheadRejection }, () => switchable);
      const p = path('breaker');
      server.route(`GET ${p}`, fresh('guarded'));
      useFailing = false;
      await prime(s, url(p));
      useFailing = true;
      failure = new BrokenCircuitError(1000);
      expect(fallbackInfo(await s.fetch(url(p)))?.reason).toBe('circuit-open');
      failure = new BulkheadRejectedError(10, 0);
      if (serveOnBulkheadRejection) {
        expect(fallbackInfo(await s.fetch(url(p)))?.reason).toBe('bulkhead-full');
      } else {
        await expect(s.fetch(url(p))).rejects.toBe(failure);
      }
      failure = new Error('a bug, not an outage');
      await expect(s.fetch(url(p))).rejects.toBe(failure);
    }
  });

  it('is not served when the caller aborted', async () => {
    const s = setup();
    const p = path('abort');
    const route = server.route(`GET ${p}`, [fresh('cached'), { hang: true }]);
    const served = vi.fn();
    using _listener = s.cache.onFallbackServed(served);
    await prime(s, url(p));
    const controller = new AbortController();
    const reason = new Error('user navigated away');
    const running = s.fetch(url(p), { signal: controller.signal });
    await vi.waitFor(() => expect(route.count).toBe(2));
    controller.abort(reason);
    await expect(running).rejects.toBe(reason);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(served).not.toHaveBeenCalled();
  });

  it("is not served past the response's stale-if-error", async () => {
    const s = setup();
    const p = path('sie');
    server.route(`GET ${p}`, [fresh('x', 'max-age=10, stale-if-error=20'), down]);
    await prime(s, url(p));
    await s.clock.advance(30_000);
    const last = await s.fetch(url(p));
    expect(last.headers.get('cache-status')).toBe('breakwater; hit; ttl=-20; detail=stale-if-error');
    await last.text();
    await s.clock.advance(1);
    const res = await s.fetch(url(p));
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('down');
    expect(fallbackInfo(res)).toBeUndefined();
  });

  it('is not served past staleIfErrorMs, nor past maxStaleIfErrorMs whatever the response asks', async () => {
    const s = setup({ staleIfErrorMs: 5_000 });
    const p = path('default-window');
    server.route(`GET ${p}`, [fresh('x', 'max-age=1'), down]);
    await prime(s, url(p));
    await s.clock.advance(6_000);
    expect((await s.fetch(url(p))).status).toBe(200);
    await s.clock.advance(1);
    expect((await s.fetch(url(p))).status).toBe(503);

    const capped = setup({ maxStaleIfErrorMs: 60_000 });
    const q = path('capped');
    server.route(`GET ${q}`, [fresh('x', 'max-age=1, stale-if-error=86400'), down]);
    await prime(capped, url(q));
    await capped.clock.advance(61_000);
    expect((await capped.fetch(url(q))).status).toBe(200);
    await capped.clock.advance(1);
    expect((await capped.fetch(url(q))).status).toBe(503);
  });

  it('surfaces the error instead of a stale must-revalidate response', async () => {
    const s = setup();
    const p = path('revalidate');
    server.route(`GET ${p}`, [fresh('x', 'max-age=5, must-revalidate'), down]);
    await prime(s, url(p));
    await s.clock.advance(4_999);
    expect((await s.fetch(url(p))).headers.get('age')).toBe('4');
    await s.clock.advance(1);
    expect((await s.fetch(url(p))).status).toBe(503);
  });

  it('passes 4xx responses through untouched, unless listed as failure statuses', async () => {
    const s = setup();
    const p = path('client-error');
    server.route(`GET ${p}`, [
      fresh('good'),
      { status: 400, body: 'bad request' },
      { status: 404, body: 'gone' },
      { status: 429, body: 'slow down' },
    ]);
    await prime(s, url(p));
    for (const [status, body] of [
      [400, 'bad request'],
      [404, 'gone'],
      [429, 'slow down'],
    ] as const) {
      const res = await s.fetch(url(p));
      expect(res.status).toBe(status);
      expect(await res.text()).toBe(body);
      expect(fallbackInfo(res)).toBeUndefined();
    }
    const listed = setup({ failureStatuses: [429, 503] });
    const q = path('listed');
    server.route(`GET ${q}`, [fresh('good'), { status: 429, body: 'slow down' }]);
    await prime(listed, url(q));
    const res = await listed.fetch(url(q));
    expect(await res.text()).toBe('good');
    expect(fallbackInfo(res)?.reason).toBe('status');
  });

  it('never stores no-store responses', async () => {
    const s = setup();
    const p = path('no-store');
    const control = path('control');
    server.route(`GET ${p}`, [fresh('secret', 'no-store, max-age=60'), down]);
    server.route(`GET ${control}`, fresh('control'));
    expect(await (await s.fetch(url(p))).text()).toBe('secret');
    await prime(s, url(control));
    expect(s.cache.size).toBe(1);
    expect((await s.fetch(url(p))).status).toBe(503);
  });

  it('asks principal() nothing for a response it can never store, and once for one it stores', async () => {
    const principal = vi.fn(() => 'alice');
    const s = setup({ principal });
    const unstorable = path('unstorable');
    const storable = path('storable');
    server.route(`GET ${unstorable}`, [
      fresh('secret', 'no-store, max-age=60'),
      { status: 200, body: 'plain', headers: { 'content-type': 'text/plain' } },
    ]);
    server.route(`GET ${storable}`, [fresh('kept'), down]);
    expect(await (await s.fetch(url(unstorable))).text()).toBe('secret');
    expect(await (await s.fetch(url(unstorable))).text()).toBe('plain');
    expect(principal).not.toHaveBeenCalled();
    await prime(s, url(storable));
    expect(principal).toHaveBeenCalledTimes(1);
    expect(await (await s.fetch(url(storable))).text()).toBe('kept');
    expect(principal).toHaveBeenCalledTimes(2);
  });

  it('never serves a private response in shared mode, to anyone', async () => {
    const s = setup({ principal: (request) => request.headers.get('x-user') ?? undefined });
    const p = path('private');
    const control = path('control');
    server.route(`GET ${p}`, [fresh('alice only', 'private, max-age=60'), down]);
    server.route(`GET ${control}`, fresh('control'));
    expect(await (await s.fetch(url(p), { headers: { 'x-user': 'alice' } })).text()).toBe('alice only');
    await prime(s, url(control));
    expect(s.cache.size).toBe(1);
    for (const user of ['bob', 'alice']) {
      expect((await s.fetch(url(p), { headers: { 'x-user': user } })).status).toBe(503);
    }
    // A private cache (one principal per instance) may keep it.
    const single = setup({ mode: 'private' });
    const q = path('private-mode');
    server.route(`GET ${q}`, [fresh('mine', 'private, max-age=60'), down]);
    await prime(single, url(q));
    expect(await (await single.fetch(url(q))).text()).toBe('mine');
  });

  it("never serves a request with Authorization another principal's response", async () => {
    const p = path('auth');
    server.route(`GET ${p}`, [fresh('alice data', 'max-age=60'), down]);
    const alice = { headers: { authorization: 'Bearer alice-token' } };
    const bob = { headers: { authorization: 'Bearer bob-token' } };

    // No principal: a response to a credentialed request that does not say public is not stored at all.
    const unpartitioned = setup();
    const control = path('control');
    server.route(`GET ${control}`, fresh('control'));
    await unpartitioned.fetch(url(p), alice).then((r) => r.text());
    await prime(unpartitioned, url(control));
    expect(unpartitioned.cache.size).toBe(1);
    expect((await unpartitioned.fetch(url(p), bob)).status).toBe(503);

    // With principal: kept in alice's partition only.
    const q = path('auth-partitioned');
    server.route(`GET ${q}`, [fresh('alice data', 'max-age=60'), down]);
    const partitioned = setup({
      principal: (request) => request.headers.get('authorization')?.replace(/^Bearer /, ''),
    });
    await prime(partitioned, url(q), alice);
    expect((await partitioned.fetch(url(q), bob)).status).toBe(503);
    expect((await partitioned.fetch(url(q))).status).toBe(503);
    expect((await partitioned.fetch(url(q), { headers: { cookie: 'session=alice-token' } })).status).toBe(
      503,
    );
    const res = await partitioned.fetch(url(q), alice);
    expect(await res.text()).toBe('alice data');
  });

  it('shares a response to a credentialed request only when it says public (RFC 9111 §3.5)', async () => {
    const s = setup();
    const p = path('public');
    server.route(`GET ${p}`, [fresh('for everyone', 'public, max-age=60'), down]);
    await prime(s, url(p), { headers: { authorization: 'Bearer alice-token' } });
    const res = await s.fetch(url(p), { headers: { authorization: 'Bearer bob-token' } });
    expect(await res.text()).toBe('for everyone');
  });

  it('respects Vary, and never stores Vary: *', async () => {
    const s = setup();
    const p = path('vary');
    server.route(`GET ${p}`, [fresh('hello', 'max-age=60', { vary: 'Accept-Language' }), down]);
    await prime(s, url(p), { headers: { 'accept-language': 'en' } });
    expect((await s.fetch(url(p), { headers: { 'accept-language': 'de' } })).status).toBe(503);
    expect((await s.fetch(url(p))).status).toBe(503);
    const res = await s.fetch(url(p), { headers: { 'accept-language': 'en' } });
    expect(await res.text()).toBe('hello');

    const q = path('vary-star');
    const control = path('control');
    server.route(`GET ${q}`, [fresh('anything', 'max-age=60', { vary: '*' }), down]);
    server.route(`GET ${control}`, fresh('control'));
    await s.fetch(url(q)).then((r) => r.text());
    const before = s.cache.size;
    await prime(s, url(control));
    expect(s.cache.size).toBe(before + 1);
    expect((await s.fetch(url(q))).status).toBe(503);
  });

  it('serves a HEAD request from a stored GET, without a body', async () => {
    const s = setup();
    const p = path('head');
    server.route(p, (request) => (request.method === 'GET' ? fresh('body of get') : down));
    await prime(s, url(p));
    const res = await s.fetch(url(p), { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(res.body).toBeNull();
    expect(fallbackInfo(res)?.reason).toBe('status');
  });

  it('drops what is stored for a URL when an unsafe request to it, or to a same-origin Location, succeeds', async () => {
    const s = setup();
    const item = path('item');
    const other = path('other');
    const list = path('list');
    let failing = false;
    server.route(item, (request) =>
      request.method === 'GET' ? (failing ? down : fresh('item')) : { status: 204 },
    );
    server.route(other, () => (failing ? down : fresh('other')));
    server.route(list, () => ({
      status: 201,
      headers: { location: item, 'content-location': 'http://elsewhere.test/other' },
    }));
    await prime(s, url(item));
    await prime(s, url(other));
    await prime(s, url(`${list}?x=1`)).catch(() => {});
    failing = true;
    expect(s.cache.size).toBe(2);
    await s.fetch(url(list), { method: 'POST', body: 'new' });
    expect(s.cache.size).toBe(1);
    expect((await s.fetch(url(item))).status).toBe(503);
    expect((await s.fetch(url(other))).status).toBe(200);
    failing = false;
    await prime(s, url(item));
    failing = true;
    await s.fetch(url(item), { method: 'DELETE' });
    expect((await s.fetch(url(item))).status).toBe(503);
  });

  it('keeps stored bytes within maxBytes under a flood of large responses, and delivers oversize ones intact', async () => {
    const maxBytes = 64 * 1024;
    const maxEntrySize = 8 * 1024;
    const s = setup({ maxBytes, maxEntrySize });
    const p = path('flood');
    const sizeOf = (i: number): number => (i % 3 === 0 ? maxEntrySize + 1 + i : maxEntrySize - 400 - (i % 7));
    const bodyOf = (i: number): string => `${i}:`.padEnd(sizeOf(i), String.fromCharCode(97 + (i % 26)));
    let failing = false;
    server.route(`GET ${p}`, (request) => {
      const i = Number(new URL(request.url, server.origin).searchParams.get('i'));
      return failing ? down : fresh(bodyOf(i), 'max-age=60');
    });
    let stores = 0;
    let peak = 0;
    using _listener = s.cache.onStore((event) => {
      stores++;
      expect(event.bytes).toBeLessThanOrEqual(maxEntrySize);
      peak = Math.max(peak, s.cache.bytes);
    });
    const count = 150;
    for (let batch = 0; batch < count; batch += 25) {
      await Promise.all(
        Array.from({ length: 25 }, async (_, k) => {
          const i = batch + k;
          const res = await s.fetch(url(`${p}?i=${i}`));
          expect(await res.text()).toBe(bodyOf(i));
        }),
      );
      expect(s.cache.bytes).toBeLessThanOrEqual(maxBytes);
    }
    await vi.waitFor(() =>
      expect(stores).toBe(Array.from({ length: count }, (_, i) => i).filter((i) => i % 3 !== 0).length),
    );
    expect(peak).toBeLessThanOrEqual(maxBytes);
    expect(s.cache.bytes).toBeLessThanOrEqual(maxBytes);
    expect(s.cache.size).toBeLessThanOrEqual(Math.floor(maxBytes / (maxEntrySize - 400 - 6)));
    expect(s.cache.size).toBeGreaterThan(1);

    failing = true;
    // Oversize bodies were never stored; the most recent small ones were.
    expect((await s.fetch(url(`${p}?i=147`))).status).toBe(503);
    const recent = await s.fetch(url(`${p}?i=149`));
    expect(await recent.text()).toBe(bodyOf(149));
  });

  it('warns once when it finds itself inside a retry, where it would pre-empt the retry', async () => {
    class SecondAttempt extends BasePolicy {
      protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
        return callOperation(fn, context.withAttempt(2));
      }
    }
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const clock = virtualClock();
    const cache = fallbackCache({ clock });
    const fetch = resilientFetch({
      pipeline: pipeline(new SecondAttempt(), cache, standardPipeline({ retry: false, clock })),
    });
    const p = path('inside-retry');
    server.route(`GET ${p}`, fresh('x'));
    await (await fetch(url(p))).text();
    await (await fetch(url(p))).text();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![1]).toEqual({ code: 'BREAKWATER_FALLBACK_INSIDE_RETRY' });
    const outermost = setup();
    await (await outermost.fetch(url(p))).text();
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('fails open: a response the cache cannot read still reaches the caller', async () => {
    const cache = fallbackCache();
    const context = ExecutionContext.create();
    context.set(httpRequestKey, {
      method: 'GET',
      url: 'https://api.example.com/odd',
      origin: 'https://api.example.com',
      headers: new Headers(),
      retryable: true,
    });
    const odd = {
      status: 200,
      bodyUsed: false,
      body: null,
      clone: () => odd,
      headers: {
        get(): string {
          throw new Error('unreadable header');
        },
      },
    };
    await expect(cache.execute(() => odd, context)).resolves.toBe(odd);
    expect(cache.size).toBe(0);
  });

  it('does nothing outside an HTTP pipeline', async () => {
    const cache = fallbackCache();
    await expect(cache.execute(() => 'plain')).resolves.toBe('plain');
    const error = new TimeoutError(10);
    await expect(cache.execute(() => Promise.reject(error))).rejects.toBe(error);
    expect(cache.size).toBe(0);
  });

  it('publishes store and fallback-served events on their diagnostics channels', async () => {
    const s = setup();
    const p = path('channels');
    server.route(`GET ${p}`, [fresh('x'), down]);
    const stored: unknown[] = [];
    const served: unknown[] = [];
    const onStored = (message: unknown) => stored.push(message);
    const onServed = (message: unknown) => served.push(message);
    subscribe('breakwater:fallback-cache:store', onStored);
    subscribe('breakwater:fallback-cache:fallback-served', onServed);
    try {
      await prime(s, url(p));
      await s.fetch(url(p));
    } finally {
      unsubscribe('breakwater:fallback-cache:store', onStored);
      unsubscribe('breakwater:fallback-cache:fallback-served', onServed);
    }
    expect(stored).toEqual([expect.objectContaining({ method: 'GET', url: url(p), status: 200 })]);
    expect((stored[0] as StoreEvent).bytes).toBe(s.cache.bytes);
    expect(served).toEqual([expect.objectContaining({ reason: 'status', status: 200, stale: false })]);
  });
});
