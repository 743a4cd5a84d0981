import type { IncomingHttpHeaders } from 'node:http';
import { HttpStatusError, resilience } from '@breakwater/http';
import { type FaultServer, startFaultServer, type VirtualClock, virtualClock } from '@breakwater/testing';
import { Agent, type Dispatcher, Dispatcher1Wrapper, request, fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { CacheRequest } from './cache-request.js';
import type { FallbackServedEvent } from './fallback-cache-core.js';
import type { FallbackCacheInterceptorOptions } from './fallback-cache-options.js';
import { type FallbackCacheInterceptor, fallbackCacheInterceptor } from './interceptor.js';

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
const path = (name: string): string => `/${name}-${++routes}`;
const url = (p: string): string => `${server.origin}${p}`;

interface Setup {
  clock: VirtualClock;
  cache: FallbackCacheInterceptor;
  dispatcher: Dispatcher;
}

/** An undici Agent composed with resilience() inside and the fallback cache outside it. */
function setup(options: FallbackCacheInterceptorOptions = {}, resilienceOptions = {}): Setup {
  const clock = virtualClock();
  const cache = fallbackCacheInterceptor({ clock, ...options });
  const agent = new Agent();
  onTestFinished(() => agent.close());
  const dispatcher = agent.compose(resilience({ retry: false, clock, ...resilienceOptions }), cache);
  return { clock, cache, dispatcher };
}

async function get(
  { dispatcher }: Setup,
  p: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
  const res = await request(url(p), { dispatcher, headers });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** GETs `p` and checks its response was stored. */
async function prime(s: Setup, p: string, headers: Record<string, string> = {}): Promise<void> {
  const stored = vi.fn();
  using _listener = s.cache.onStore(stored);
  const res = await get(s, p, headers);
  expect(res.status).toBe(200);
  expect(stored).toHaveBeenCalledTimes(1);
}

const fresh = (body: string, cacheControl = 'max-age=10', headers: Record<string, string> = {}) => ({
  status: 200,
  body,
  headers: { 'cache-control': cacheControl, 'content-type': 'text/plain', ...headers },
});
const down = { status: 503, body: 'down' };

describe('fallbackCacheInterceptor on an undici Agent', () => {
  it('replays a stored response stale, with Age and Cache-Status, when the origin answers 503', async () => {
    const s = setup();
    const p = path('stale');
    const route = server.route(`GET ${p}`, [fresh('fresh body', 'max-age=10', { etag: '"v1"' }), down]);
    const served: FallbackServedEvent[] = [];
    using _listener = s.cache.onFallbackServed((event) => served.push(event));
    await prime(s, p);
    await s.clock.advance(25_000);
    const res = await get(s, p);
    expect(res.status).toBe(200);
    expect(res.text).toBe('fresh body');
    expect(res.headers.age).toBe('25');
    expect(res.headers['cache-status']).toBe('breakwater; hit; ttl=-15; detail=stale-if-error');
    expect(res.headers.etag).toBe('"v1"');
    expect(res.headers['content-length']).toBe('10');
    expect(route.count).toBe(2);
    expect(served).toEqual([
      expect.objectContaining({
        context: undefined,
        method: 'GET',
        url: url(p),
        reason: 'status',
        stale: true,
      }),
    ]);
  });

  it('replays it when the connection is reset', async () => {
    const s = setup();
    const p = path('reset');
    server.route(`GET ${p}`, [fresh('still here'), { reset: 'before-response' }]);
    const reasons: string[] = [];
    using _listener = s.cache.onFallbackServed((event) => reasons.push(event.reason));
    await prime(s, p);
    await s.clock.advance(60_000);
    const res = await get(s, p);
    expect(res.text).toBe('still here');
    expect(res.headers.age).toBe('60');
    expect(reasons).toEqual(['network']);
  });

  it('works under undici.fetch too (the raw headers of the replay included)', async () => {
    const s = setup();
    const p = path('fetch');
    server.route(`GET ${p}`, [fresh('via fetch'), { reset: 'before-response' }]);
    const first = await undiciFetch(url(p), { dispatcher: s.dispatcher });
    expect(await first.text()).toBe('via fetch');
    await s.clock.advance(12_000);
    const res = await undiciFetch(url(p), { dispatcher: s.dispatcher });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('via fetch');
    expect(res.headers.get('age')).toBe('12');
    expect(res.headers.get('cache-status')).toBe('breakwater; hit; ttl=-2; detail=stale-if-error');
  });

  it("works under Node's global fetch through Dispatcher1Wrapper", async () => {
    const s = setup();
    const dispatcher = new Dispatcher1Wrapper(s.dispatcher);
    const p = path('global-fetch');
    server.route(`GET ${p}`, [fresh('via global fetch'), down]);
    const init = { dispatcher } as unknown as RequestInit;
    expect(await (await fetch(url(p), init)).text()).toBe('via global fetch');
    await s.clock.advance(11_000);
    const res = await fetch(url(p), init);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('via global fetch');
    expect(res.headers.get('age')).toBe('11');
  });

  it('passes the failure through when nothing may be served: no entry, past stale-if-error, 4xx', async () => {
    const s = setup();
    const p = path('window');
    server.route(`GET ${p}`, [
      fresh('x', 'max-age=10, stale-if-error=20'),
      down,
      down,
      { status: 404, body: 'nope' },
    ]);
    await prime(s, p);
    await s.clock.advance(30_000);
    expect((await get(s, p)).status).toBe(200);
    await s.clock.advance(1);
    const failed = await get(s, p);
    expect(failed.status).toBe(503);
    expect(failed.text).toBe('down');
    const missing = await get(s, p);
    expect(missing.status).toBe(404);
    expect(missing.text).toBe('nope');
    const unknown = path('never-stored');
    server.route(`GET ${unknown}`, down);
    expect(await get(s, unknown)).toMatchObject({ status: 503, text: 'down' });
  });

  it('is not served when the caller aborted', async () => {
    const s = setup();
    const p = path('abort');
    const route = server.route(`GET ${p}`, [fresh('cached'), { hang: true }]);
    const served = vi.fn();
    using _listener = s.cache.onFallbackServed(served);
    await prime(s, p);
    const controller = new AbortController();
    const running = request(url(p), { dispatcher: s.dispatcher, signal: controller.signal });
    await vi.waitFor(() => expect(route.count).toBe(2));
    controller.abort(new Error('caller gave up'));
    await expect(running).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(served).not.toHaveBeenCalled();
  });

  it('serves when resilience() inside times out', async () => {
    const s = setup({}, { attemptTimeoutMs: 1000, totalTimeoutMs: 5000 });
    const p = path('timeout');
    const route = server.route(`GET ${p}`, [fresh('timely'), { hang: true }]);
    const reasons: string[] = [];
    using _listener = s.cache.onFallbackServed((event) => reasons.push(event.reason));
    await prime(s, p);
    const running = get(s, p);
    await vi.waitFor(() => expect(route.count).toBe(2));
    await s.clock.advance(1000);
    expect((await running).text).toBe('timely');
    expect(reasons).toEqual(['timeout']);
  });

  it('keeps principals apart and respects Vary', async () => {
    const s = setup({ principal: (req) => req.headers.get('authorization') ?? undefined });
    const p = path('principal');
    server.route(`GET ${p}`, [fresh('alice data', 'max-age=60', { vary: 'accept' }), down]);
    await prime(s, p, { authorization: 'alice', accept: 'text/plain' });
    expect((await get(s, p, { authorization: 'bob', accept: 'text/plain' })).status).toBe(503);
    expect((await get(s, p, { accept: 'text/plain' })).status).toBe(503);
    expect((await get(s, p, { authorization: 'alice', accept: 'text/html' })).status).toBe(503);
    expect((await get(s, p, { authorization: 'alice', accept: 'text/plain' })).text).toBe('alice data');

    const unpartitioned = setup();
    const q = path('credentialed');
    server.route(`GET ${q}`, [fresh('alice data', 'max-age=60'), down]);
    const stored = vi.fn();
    using _listener = unpartitioned.cache.onStore(stored);
    expect((await get(unpartitioned, q, { authorization: 'alice' })).text).toBe('alice data');
    expect(stored).not.toHaveBeenCalled();
    expect((await get(unpartitioned, q, { authorization: 'bob' })).status).toBe(503);
  });

  it('sees credentials in request headers given as a one-shot iterable', async () => {
    const s = setup();
    const p = path('iterable');
    server.route(`GET ${p}`, [fresh('alice data', 'max-age=60'), down]);
    const stored = vi.fn();
    using _listener = s.cache.onStore(stored);
    function* headers(): Generator<[string, string]> {
      yield ['authorization', 'alice'];
      yield ['x-trace', '1'];
    }
    const res = await request(url(p), { dispatcher: s.dispatcher, headers: headers() });
    expect(await res.body.text()).toBe('alice data');
    expect(server.requests.at(-1)!.headers).toMatchObject({ authorization: 'alice', 'x-trace': '1' });
    expect(stored).not.toHaveBeenCalled();
    expect((await get(s, p)).status).toBe(503);
  });

  it('never stores no-store or private responses in shared mode', async () => {
    const s = setup();
    const stored = vi.fn();
    using _listener = s.cache.onStore(stored);
    for (const cacheControl of ['no-store, max-age=60', 'private, max-age=60']) {
      const p = path('not-stored');
      server.route(`GET ${p}`, [fresh('secret', cacheControl), down]);
      expect((await get(s, p)).text).toBe('secret');
      expect((await get(s, p)).status).toBe(503);
    }
    expect(stored).not.toHaveBeenCalled();
    expect(s.cache.size).toBe(0);
  });

  it('drops a URL when an unsafe request to it succeeds', async () => {
    const s = setup();
    const p = path('invalidate');
    let failing = false;
    server.route(p, (req) => (req.method === 'GET' ? (failing ? down : fresh('item')) : { status: 200 }));
    await prime(s, p);
    failing = true;
    expect(s.cache.size).toBe(1);
    const res = await request(url(p), { dispatcher: s.dispatcher, method: 'PUT', body: 'new' });
    await res.body.dump();
    expect(s.cache.size).toBe(0);
    expect((await get(s, p)).status).toBe(503);
  });

  it('keeps stored bytes within maxBytes under a flood of large responses; oversize bodies pass intact', async () => {
    const maxBytes = 48 * 1024;
    const maxEntrySize = 8 * 1024;
    const s = setup({ maxBytes, maxEntrySize });
    const p = path('flood');
    const sizeOf = (i: number): number => (i % 4 === 0 ? maxEntrySize + i : maxEntrySize - 500 - i);
    const bodyOf = (i: number): string => `${i}:`.padEnd(sizeOf(i), String.fromCharCode(65 + (i % 26)));
    let failing = false;
    server.route(`GET ${p}`, (req) => {
      const i = Number(new URL(req.url, server.origin).searchParams.get('i'));
      return failing ? down : { ...fresh(bodyOf(i), 'max-age=60'), chunkSize: 1500 };
    });
    let stores = 0;
    using _listener = s.cache.onStore(() => {
      stores++;
      expect(s.cache.bytes).toBeLessThanOrEqual(maxBytes);
    });
    const count = 80;
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const res = await get(s, `${p}?i=${i}`);
        expect(res.text).toBe(bodyOf(i));
      }),
    );
    expect(stores).toBe(count - count / 4);
    expect(s.cache.bytes).toBeLessThanOrEqual(maxBytes);
    failing = true;
    expect((await get(s, `${p}?i=76`)).status).toBe(503);
  });

  it('replays a large body in pieces, honouring the handler pause()', async () => {
    const s = setup();
    const p = path('large');
    const big = 'z'.repeat(300 * 1024);
    server.route(`GET ${p}`, [fresh(big, 'max-age=60'), down]);
    await prime(s, p);
    const chunks: number[] = [];
    const result = await new Promise<{ status: number; ended: boolean; bytes: number }>((resolve, reject) => {
      let status = 0;
      let bytes = 0;
      s.dispatcher.dispatch(
        { origin: server.origin, path: p, method: 'GET', headers: {} },
        {
          onRequestStart() {},
          onResponseStart(_controller, statusCode) {
            status = statusCode;
          },
          onResponseData(controller, chunk) {
            if (controller.paused) reject(new Error('data while paused'));
            chunks.push(chunk.byteLength);
            bytes += chunk.byteLength;
            controller.pause();
            setImmediate(() => controller.resume());
          },
          onResponseEnd() {
            resolve({ status, ended: true, bytes });
          },
          onResponseError(_controller, error) {
            reject(error);
          },
        },
      );
    });
    expect(result).toEqual({ status: 200, ended: true, bytes: big.length });
    expect(chunks).toEqual([65_536, 65_536, 65_536, 65_536, 45_056]);
  });

  it('stops a replay and reports the reason when the handler aborts it', async () => {
    const s = setup();
    const p = path('abort-replay');
    server.route(`GET ${p}`, [fresh('y'.repeat(200 * 1024), 'max-age=60'), down]);
    await prime(s, p);
    const reason = new Error('enough');
    const events: string[] = [];
    const error = await new Promise<unknown>((resolve) => {
      s.dispatcher.dispatch(
        { origin: server.origin, path: p, method: 'GET', headers: {} },
        {
          onRequestStart() {},
          onResponseStart() {
            events.push('start');
          },
          onResponseData(controller) {
            events.push('data');
            controller.abort(reason);
            expect(controller.aborted).toBe(true);
            expect(controller.reason).toBe(reason);
          },
          onResponseEnd() {
            events.push('end');
          },
          onResponseError(_controller, err) {
            events.push('error');
            resolve(err);
          },
        },
      );
    });
    expect(error).toBe(reason);
    expect(events).toEqual(['start', 'data', 'error']);
  });
});

describe('fallbackCacheInterceptor: per-request work', () => {
  const controller: Dispatcher.DispatchController = {
    aborted: false,
    paused: false,
    reason: null,
    rawHeaders: [],
    rawTrailers: [],
    pause() {},
    resume() {},
    abort() {},
  };

  /**
   * The interceptor over a fake origin that answers synchronously, so that all the interceptor does for one
   * request happens inside one `send()`.
   */
  function fake(options: FallbackCacheInterceptorOptions = {}) {
    const cache = fallbackCacheInterceptor({ clock: virtualClock(), ...options });
    let next: { status: number; headers: IncomingHttpHeaders; body: string } = {
      status: 200,
      headers: {},
      body: '',
    };
    const dispatch = cache((_opts, handler) => {
      handler.onRequestStart?.(controller, {});
      handler.onResponseStart?.(controller, next.status, next.headers, 'X');
      handler.onResponseData?.(controller, Buffer.from(next.body));
      handler.onResponseEnd?.(controller, {});
      return true;
    });
    const send = (
      response: typeof next,
      headers: Record<string, string> = {},
    ): { status: number; body: string } => {
      next = response;
      const result = { status: 0, body: '' };
      dispatch(
        { origin: 'http://origin.test', path: '/item', method: 'GET', headers },
        {
          onResponseStart(_controller, statusCode) {
            result.status = statusCode;
          },
          onResponseData(_controller, chunk) {
            result.body += chunk.toString();
          },
        },
      );
      return result;
    };
    return { cache, send };
  }

  it('asks principal() nothing for a response that can never be stored', () => {
    const principal = vi.fn((req: CacheRequest) => req.headers.get('authorization') ?? undefined);
    const { cache, send } = fake({ principal });
    for (const headers of [{}, { 'cache-control': 'no-store, max-age=60' }]) {
      expect(send({ status: 200, headers, body: 'live' }, { authorization: 'alice' })).toEqual({
        status: 200,
        body: 'live',
      });
    }
    expect(send({ status: 503, headers: {}, body: 'down' }, { authorization: 'alice' }).status).toBe(503);
    expect(principal).not.toHaveBeenCalled();
    send(
      { status: 200, headers: { 'cache-control': 'max-age=60' }, body: 'hers' },
      { authorization: 'alice' },
    );
    expect(cache.size).toBe(1);
    expect(principal).toHaveBeenCalledTimes(1);
    expect(send({ status: 503, headers: {}, body: 'down' }, { authorization: 'alice' }).body).toBe('hers');
    expect(principal).toHaveBeenCalledTimes(2);
  });

  it('builds the HttpStatusError of a failure status only when a stored response is served to a listener', () => {
    const { cache, send } = fake();
    const now = vi.spyOn(Date, 'now');
    onTestFinished(() => now.mockRestore());
    const failure = { status: 503, headers: { 'retry-after': '7' }, body: 'down' };
    expect(send(failure).status).toBe(503); // nothing stored
    send({ status: 200, headers: { 'cache-control': 'max-age=60' }, body: 'kept' });
    expect(send(failure).body).toBe('kept'); // nobody listens
    expect(now).not.toHaveBeenCalled();

    const served: FallbackServedEvent[] = [];
    using _listener = cache.onFallbackServed((event) => served.push(event));
    expect(send(failure).body).toBe('kept');
    expect(now).toHaveBeenCalledTimes(1);
    expect(served).toHaveLength(1);
    expect(served[0]!.error).toBeInstanceOf(HttpStatusError);
    expect(served[0]!.error).toMatchObject({ status: 503, retryAfterMs: 7000 });
  });
});
