import { getEventListeners } from 'node:events';
import { consecutiveFailures } from '@breakwater/circuit-breaker';
import {
  BasePolicy,
  BrokenCircuitError,
  BulkheadRejectedError,
  type ExecutionContext,
  handleAll,
  type Operation,
  pipeline,
  TimeoutError,
} from '@breakwater/core';
import { retry } from '@breakwater/retry';
import { type FaultServer, startFaultServer } from '@breakwater/testing';
import fc from 'fast-check';
import { Agent, FormData as UndiciFormData, fetch as undiciFetch } from 'undici';
import {
  afterAll,
  afterEach,
  beforeAll,
  describe,
  expect,
  expectTypeOf,
  it,
  onTestFinished,
  vi,
} from 'vitest';
import { HttpStatusError } from './http-status-error.js';
import { type HttpRequestInfo, httpRequestKey } from './request-info.js';
import { resilientFetch } from './resilient-fetch.js';

const unhandled = vi.fn();
beforeAll(() => {
  process.on('unhandledRejection', unhandled);
});
afterAll(() => {
  process.off('unhandledRejection', unhandled);
});
afterEach(async () => {
  // let late rejections surface before checking
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(unhandled).not.toHaveBeenCalled();
});

/** Fast retries so tests take milliseconds; each test overrides what it checks. */
const fast = { retry: { backoff: 5 } } as const;

const implementations = [
  ['global fetch', globalThis.fetch],
  ['undici.fetch', undiciFetch as unknown as typeof globalThis.fetch],
] as const;

describe.each(implementations)('resilientFetch over %s', (_name, baseFetch) => {
  let server: FaultServer;
  beforeAll(async () => {
    server = await startFaultServer();
  });
  afterAll(() => server.close());

  const url = (path: string): string => `${server.origin}${path}`;

  it('retries a 503 and returns the success', async () => {
    const route = server.route('GET /retry', [{ status: 503 }, { status: 503 }, { status: 200, body: 'ok' }]);
    const fetch = resilientFetch({ fetch: baseFetch, ...fast });
    const response = await fetch(url('/retry'));
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok');
    expect(route.count).toBe(3);
  });

  it('returns the last failed response, body intact, when retries run out', async () => {
    const route = server.route('GET /busy', { status: 503, body: 'busy' });
    const fetch = resilientFetch({ fetch: baseFetch, ...fast });
    const response = await fetch(url('/busy'));
    expect(response.status).toBe(503);
    expect(await response.text()).toBe('busy');
    expect(route.count).toBe(3);
  });

  it('throws an HttpStatusError carrying the response when asked to', async () => {
    server.route('GET /busy-throw', { status: 502, body: 'bad gateway', retryAfter: 0 });
    const fetch = resilientFetch({ fetch: baseFetch, ...fast, throwOnStatus: true });
    const error = await fetch(url('/busy-throw')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpStatusError);
    expect(error).toMatchObject({ status: 502, retryAfterMs: 0, code: 'ERR_BREAKWATER_HTTP_STATUS' });
    expect(await (error as HttpStatusError).response!.text()).toBe('bad gateway');
  });

  it('does not retry or count other statuses', async () => {
    const route = server.route('GET /missing', { status: 404, body: 'nope' });
    const fetch = resilientFetch({ fetch: baseFetch, ...fast });
    const response = await fetch(url('/missing'));
    expect(response.status).toBe(404);
    expect(route.count).toBe(1);
  });

  it('honours Retry-After: the retry waits at least what the server asked', async () => {
    const route = server.route('GET /later', [{ status: 503, retryAfter: 1 }, { status: 200 }]);
    const fetch = resilientFetch({ fetch: baseFetch, ...fast });
    const response = await fetch(url('/later'));
    expect(response.status).toBe(200);
    const [first, second] = route.requests;
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(990);
  });

  it('does not retry a POST without an Idempotency-Key, nor with one the target is not known to honour', async () => {
    const route = server.route('POST /orders', { status: 503 });
    const fetch = resilientFetch({ fetch: baseFetch, ...fast });
    expect((await fetch(url('/orders'), { method: 'POST', body: 'x' })).status).toBe(503);
    expect(route.count).toBe(1);
    const keyed = await fetch(url('/orders'), {
      method: 'POST',
      body: 'x',
      headers: { 'Idempotency-Key': '"a"' },
    });
    expect(keyed.status).toBe(503);
    expect(route.count).toBe(2);
  });

  it('retries a POST that carries an Idempotency-Key when the target honours keys, with the same key and body', async () => {
    const route = server.route('POST /payments', [{ status: 503 }, { status: 500 }, { status: 201 }]);
    const fetch = resilientFetch({ fetch: baseFetch, ...fast, honorsIdempotencyKeys: [server.origin] });
    const response = await fetch(url('/payments'), {
      method: 'POST',
      headers: {
        'idempotency-key': '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
        'content-type': 'application/json',
      },
      body: '{"amount":10}',
    });
    expect(response.status).toBe(201);
    expect(route.count).toBe(3);
    expect(new Set(route.requests.map((r) => r.headers['idempotency-key']))).toEqual(
      new Set(['"8e03978e-40d5-43e8-bc93-6894a57f9324"']),
    );
    expect(route.requests.map((r) => r.body.toString())).toEqual(Array(3).fill('{"amount":10}'));
  });

  const replayable: [string, () => NonNullable<RequestInit['body']>, string][] = [
    ['string', () => 'plain text', 'plain text'],
    ['bytes', () => new TextEncoder().encode('some bytes'), 'some bytes'],
    ['Blob', () => new Blob(['a blob']), 'a blob'],
    ['URLSearchParams', () => new URLSearchParams({ a: '1', b: 'two' }), 'a=1&b=two'],
  ];
  it.each(replayable)('resends a %s body intact', async (kind, makeBody, expected) => {
    const route = server.route(`PUT /replay-${kind}`, [{ status: 503 }, { status: 200 }]);
    const fetch = resilientFetch({ fetch: baseFetch, ...fast });
    const response = await fetch(url(`/replay-${kind}`), { method: 'PUT', body: makeBody() });
    expect(response.status).toBe(200);
    expect(route.requests.map((r) => r.body.toString())).toEqual([expected, expected]);
  });

  it('resends a FormData body with every field', async () => {
    const route = server.route('PUT /form', [{ status: 503 }, { status: 200 }]);
    const fetch = resilientFetch({ fetch: baseFetch, ...fast });
    // undici.fetch only accepts its own FormData class
    const form =
      baseFetch === globalThis.fetch ? new FormData() : (new UndiciFormData() as unknown as FormData);
    form.append('name', 'breakwater');
    form.append('file', new Blob(['content']), 'a.txt');
    expect((await fetch(url('/form'), { method: 'PUT', body: form })).status).toBe(200);
    for (const request of route.requests) {
      expect(request.body.toString()).toContain('breakwater');
      expect(request.body.toString()).toContain('content');
    }
  });

  it('never resends a one-shot stream body', async () => {
    const route = server.route('PUT /stream', { status: 503 });
    const fetch = resilientFetch({ fetch: baseFetch, ...fast });
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'));
        controller.close();
      },
    });
    const response = await fetch(url('/stream'), { method: 'PUT', body, duplex: 'half' } as RequestInit);
    expect(response.status).toBe(503);
    expect(route.count).toBe(1);
    expect(route.requests[0]!.body.toString()).toBe('streamed');
  });

  it('never resends a Request whose own body is a stream, even under a retry-everything pipeline', async () => {
    const route = server.route('PUT /request-body', { status: 503 });
    const fetch = resilientFetch({ fetch: baseFetch, pipeline: retry({ maxAttempts: 3, backoff: 1 }) });
    const RequestClass = baseFetch === globalThis.fetch ? Request : (await import('undici')).Request;
    const request = new RequestClass(url('/request-body'), { method: 'PUT', body: 'once' });
    const response = await fetch(request as Request);
    expect(response.status).toBe(503);
    expect(route.count).toBe(1);
  });

  it('never resends a Request whose stream body fetch uses because init gives body null', async () => {
    const route = server.route('PUT /null-init-body', { status: 503 });
    const fetch = resilientFetch({ fetch: baseFetch, pipeline: retry({ maxAttempts: 3, backoff: 1 }) });
    const RequestClass = baseFetch === globalThis.fetch ? Request : (await import('undici')).Request;
    const request = new RequestClass(url('/null-init-body'), { method: 'PUT', body: 'once' });
    const response = await fetch(request as Request, { body: null });
    expect(response.status).toBe(503);
    expect(route.count).toBe(1);
    expect(route.requests[0]!.body.toString()).toBe('once');
  });

  it('retries network errors: a reset before the response and in the middle of the headers', async () => {
    const route = server.route('GET /reset', [
      { reset: 'before-response' },
      { reset: 'mid-headers' },
      { status: 200, body: 'survived' },
    ]);
    const fetch = resilientFetch({ fetch: baseFetch, ...fast });
    const response = await fetch(url('/reset'));
    expect(await response.text()).toBe('survived');
    expect(route.count).toBe(3);
  });

  it('hands a body that breaks off mid-way to the caller as a body error, then keeps working', async () => {
    server.route('GET /mid-body', [{ bodyBytes: 50_000, reset: 'mid-body' }, { body: 'fine' }]);
    const fetch = resilientFetch({ fetch: baseFetch, ...fast });
    const response = await fetch(url('/mid-body'));
    expect(response.status).toBe(200);
    await expect(response.arrayBuffer()).rejects.toThrow();
    expect(await (await fetch(url('/mid-body'))).text()).toBe('fine');
  });

  it('rejects with BrokenCircuitError once an origin breaks, while another origin keeps working', async () => {
    await using other = await startFaultServer();
    const failing = server.route('GET /flaky', { status: 500 });
    const healthy = other.route('GET /flaky', { status: 200, body: 'other origin' });
    const fetch = resilientFetch({
      fetch: baseFetch,
      retry: false,
      circuitBreaker: { breaker: consecutiveFailures(2), breakMs: 60_000 },
    });
    expect((await fetch(url('/flaky'))).status).toBe(500);
    expect((await fetch(url('/flaky'))).status).toBe(500);
    const error = await fetch(url('/flaky')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokenCircuitError);
    expect(failing.count).toBe(2);
    expect(await (await fetch(`${other.origin}/flaky`)).text()).toBe('other origin');
    expect(healthy.count).toBe(1);
  });

  it('rejects with BulkheadRejectedError when the origin is at its limit', async () => {
    server.route('GET /slow', { delayMs: 150, body: 'slow' });
    const fetch = resilientFetch({ fetch: baseFetch, ...fast, bulkhead: { limit: 1 } });
    const first = fetch(url('/slow'));
    await expect(fetch(url('/slow'))).rejects.toBeInstanceOf(BulkheadRejectedError);
    expect(await (await first).text()).toBe('slow');
  });

  it('gives up on an attempt at the attempt timeout and retries', async () => {
    const route = server.route('GET /hang-once', [{ hang: true }, { status: 200, body: 'second' }]);
    const fetch = resilientFetch({ fetch: baseFetch, ...fast, attemptTimeoutMs: 100, totalTimeoutMs: 5_000 });
    const started = performance.now();
    expect(await (await fetch(url('/hang-once'))).text()).toBe('second');
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    expect(route.count).toBe(2);
  });

  it('rejects with TimeoutError at the total timeout', async () => {
    server.route('GET /hang', { hang: true });
    const fetch = resilientFetch({ fetch: baseFetch, ...fast, attemptTimeoutMs: 100, totalTimeoutMs: 250 });
    const started = performance.now();
    const error = await fetch(url('/hang')).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(elapsed).toBeGreaterThanOrEqual(245);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('rejects at once with the caller’s reason when the caller aborts mid-request', async () => {
    server.route('GET /hang-abort', { hang: true });
    const fetch = resilientFetch({ fetch: baseFetch, ...fast });
    const controller = new AbortController();
    const reason = new Error('user navigated away');
    const pending = fetch(url('/hang-abort'), { signal: controller.signal });
    await vi.waitFor(() => expect(server.requests.at(-1)?.path).toBe('/hang-abort'));
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects at once with the caller’s reason when the caller aborts during a backoff wait', async () => {
    const route = server.route('GET /abort-backoff', { status: 503, retryAfter: 20 });
    const fetch = resilientFetch({ fetch: baseFetch, ...fast });
    const controller = new AbortController();
    const pending = fetch(url('/abort-backoff'), { signal: controller.signal });
    await vi.waitFor(() => expect(route.count).toBe(1));
    const started = performance.now();
    controller.abort('stop');
    await expect(pending).rejects.toBe('stop');
    expect(performance.now() - started).toBeLessThan(100);
    expect(route.count).toBe(1);
  });

  it('removes every listener from a caller’s long-lived signal', async () => {
    server.route('GET /many', [{ status: 503 }, { status: 200 }]);
    server.route('GET /many-ok', {});
    const fetch = resilientFetch({ fetch: baseFetch, ...fast });
    const controller = new AbortController();
    for (let i = 0; i < 50; i++) {
      const response = await fetch(url(i === 0 ? '/many' : '/many-ok'), { signal: controller.signal });
      await response.arrayBuffer();
    }
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('answers a pipeline that fulfils without a response with the held one, else a TypeError', async () => {
    class Swallow extends BasePolicy {
      protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
        return Promise.resolve(fn(context)).catch(() => undefined as T);
      }
    }
    class Skip extends BasePolicy {
      protected run<T>(): Promise<T> {
        return Promise.resolve(undefined as T);
      }
    }
    const route = server.route('GET /swallowed', { status: 503, body: 'down' });
    const held = await resilientFetch({ fetch: baseFetch, pipeline: new Swallow() })(url('/swallowed'));
    expect([held.status, await held.text(), route.count]).toEqual([503, 'down', 1]);
    await expect(
      resilientFetch({ fetch: baseFetch, pipeline: new Skip() })(url('/swallowed')),
    ).rejects.toThrow('resilientFetch: the pipeline fulfilled without a response');
    expect(route.count).toBe(1);
  });

  it('discards the body of every failed attempt but the one it answers with, also when attempts overlap', async () => {
    // A policy that sends two attempts side by side and fails with the second's error, as a hedging policy might.
    class Overlap extends BasePolicy {
      protected async run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
        const outcomes = await Promise.allSettled([fn(context), fn(context.withAttempt(2))]);
        const last = outcomes[1]!;
        if (last.status === 'fulfilled') return last.value;
        throw last.reason;
      }
    }
    const read: boolean[] = [];
    const failing = async (_input: string | URL | Request, _init?: RequestInit): Promise<Response> => {
      const index = read.push(false) - 1;
      // No high-water mark, so the body is pulled only when somebody reads it.
      const body = new ReadableStream<Uint8Array>(
        {
          pull(controller) {
            read[index] = true;
            controller.enqueue(new TextEncoder().encode(`down ${index}`));
            controller.close();
          },
        },
        { highWaterMark: 0 },
      );
      return new Response(body, { status: 503 });
    };
    const response = await resilientFetch({ fetch: failing, pipeline: new Overlap() })('http://127.0.0.1:1/');
    expect([response.status, await response.text()]).toEqual([503, 'down 1']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(read).toEqual([true, true]);
  });

  it('puts the request in the context under httpRequestKey before any policy runs', async () => {
    server.route('DELETE /info', {});
    const seen: HttpRequestInfo[] = [];
    class Spy extends BasePolicy {
      protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
        seen.push(context.get(httpRequestKey)!);
        return fn(context) as Promise<T>;
      }
    }
    const fetch = resilientFetch({ fetch: baseFetch, pipeline: new Spy() });
    await fetch(url('/info?x=1'), { method: 'delete', headers: { 'X-Trace': 'abc' } });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      method: 'DELETE',
      url: `${server.origin}/info?x=1`,
      origin: server.origin,
      retryable: true,
    });
    expect(seen[0]!.headers.get('x-trace')).toBe('abc');
  });

  it('guards non-replayable requests even when a custom retry retries everything', async () => {
    const route = server.route('POST /custom', { status: 503, body: 'no' });
    const policy = retry({ maxAttempts: 3, backoff: 1, shouldHandle: handleAll });
    const fetch = resilientFetch({ fetch: baseFetch, pipeline: pipeline(policy) });
    const response = await fetch(url('/custom'), { method: 'POST', body: 'x' });
    expect(response.status).toBe(503);
    expect(await response.text()).toBe('no');
    expect(route.count).toBe(1);
  });
});

describe('resilientFetch rules', () => {
  it('for every sequence of statuses: attempts stop at the first non-failure or maxAttempts, and the caller gets the last response', async () => {
    const failure = [408, 429, 500, 502, 503, 504];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(200, 201, 204, 404, 409, ...failure), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom('GET', 'PUT', 'POST'),
        async (statuses, maxAttempts, method) => {
          let calls = 0;
          const stub = async (): Promise<Response> =>
            new Response(null, { status: statuses[Math.min(calls++, statuses.length - 1)]! });
          const fetch = resilientFetch({
            fetch: stub as unknown as typeof globalThis.fetch,
            retry: { maxAttempts, backoff: 0 },
            circuitBreaker: false,
          });
          const response = await fetch('http://127.0.0.1:1/x', { method });
          let expected = 1;
          if (method !== 'POST') {
            while (
              expected < maxAttempts &&
              failure.includes(statuses[Math.min(expected - 1, statuses.length - 1)]!)
            ) {
              expected++;
            }
          }
          expect(calls).toBe(expected);
          expect(response.status).toBe(statuses[Math.min(expected - 1, statuses.length - 1)]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('serves many concurrent calls with interleaved failures, each getting its own success', async () => {
    await using server = await startFaultServer();
    // each call fails on its first attempt, whatever the interleaving
    const seen = new Set<string>();
    const route = server.route('GET /concurrent', (request, n) => {
      const id = String(request.headers['x-call']);
      if (!seen.has(id)) {
        seen.add(id);
        return { status: 503 };
      }
      return { body: id, delayMs: n % 5 };
    });
    // half the attempts fail: the default breaker (10% of at least 100 calls) would rightly open
    const fetch = resilientFetch({
      retry: { backoff: 1 },
      bulkhead: { limit: 20, queue: 100 },
      circuitBreaker: false,
    });
    const responses = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        fetch(`${server.origin}/concurrent`, { headers: { 'x-call': `c${i}` } }),
      ),
    );
    const bodies = await Promise.all(responses.map((r) => r.text()));
    expect(responses.map((r) => r.status)).toEqual(Array(60).fill(200));
    expect(bodies).toEqual(Array.from({ length: 60 }, (_, i) => `c${i}`));
    expect(route.count).toBe(120);
  });
});

describe('resilientFetch connection handling', () => {
  it('discards the held failure response when a policy answers with another value', async () => {
    let bodyTouched = false;
    const failing = (): Promise<Response> =>
      Promise.resolve(
        new Response(
          new ReadableStream(
            {
              pull(controller) {
                bodyTouched = true;
                controller.enqueue(new TextEncoder().encode('busy'));
                controller.close();
              },
              cancel() {
                bodyTouched = true;
              },
            },
            { highWaterMark: 0 },
          ),
          { status: 503 },
        ),
      );
    class AnswerInstead extends BasePolicy {
      protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
        return Promise.resolve(fn(context)).catch(() => new Response('from the fallback') as T);
      }
    }
    const fetch = resilientFetch({
      fetch: failing as typeof globalThis.fetch,
      pipeline: new AnswerInstead(),
    });
    const response = await fetch('http://127.0.0.1:9/stock');
    expect(await response.text()).toBe('from the fallback');
    await new Promise((resolve) => setImmediate(resolve));
    expect(bodyTouched).toBe(true);
  });

  it('drains failed attempts so the next attempt reuses the connection (global fetch)', async () => {
    await using server = await startFaultServer();
    const route = server.route('GET /reuse', [
      { status: 503, body: 'try again' },
      { status: 500, body: 'still no' },
      { status: 200, body: 'ok' },
    ]);
    const fetch = resilientFetch({ retry: { backoff: 20 } });
    expect(await (await fetch(`${server.origin}/reuse`)).text()).toBe('ok');
    expect(route.requests.map((r) => r.connection)).toEqual([1, 1, 1]);
    expect(server.connections).toBe(1);
  });

  it('drains failed attempts so that a one-connection undici pool is never stuck', async () => {
    await using server = await startFaultServer();
    const agent = new Agent({ connections: 1 });
    onTestFinished(() => agent.close());
    const route = server.route('GET /reuse', [
      { status: 503, bodyBytes: 4_000 },
      { status: 503 },
      { status: 200 },
    ]);
    const fetch = resilientFetch({
      fetch: ((input: string, init?: RequestInit) =>
        undiciFetch(input, { ...(init as object), dispatcher: agent })) as unknown as typeof globalThis.fetch,
      retry: { backoff: 1 },
    });
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.origin}/reuse`);
      await response.arrayBuffer();
    }
    expect(route.count).toBe(5);
    expect(new Set(route.requests.map((r) => r.connection)).size).toBe(1);
  });

  it('cancels a long failed body instead of downloading it, and still succeeds', async () => {
    await using server = await startFaultServer();
    const route = server.route('GET /huge', [{ status: 503, bodyBytes: 4 * 1024 * 1024 }, { body: 'small' }]);
    const fetch = resilientFetch({ retry: { backoff: 1 } });
    expect(await (await fetch(`${server.origin}/huge`)).text()).toBe('small');
    expect(route.count).toBe(2);
  });
});

describe('resilientFetch request info (read after the call settled, as late readers do)', () => {
  /** Calls a resilient fetch whose pipeline records the request info and fails without fetching. */
  async function recordInfo(input: string | URL | Request, init?: RequestInit): Promise<HttpRequestInfo> {
    const seen: HttpRequestInfo[] = [];
    class Record extends BasePolicy {
      protected run<T>(_fn: Operation<T>, context: ExecutionContext): Promise<T> {
        seen.push(context.get(httpRequestKey)!);
        return Promise.reject(new Error('not sent'));
      }
    }
    const fetch = resilientFetch({
      pipeline: new Record(),
      fetch: (() => Promise.reject(new Error('fetched'))) as typeof globalThis.fetch,
    });
    await expect(fetch(input, init)).rejects.toThrow('not sent');
    return seen[0]!;
  }

  it('gives the URL as new URL serializes it, and its origin, for a string', async () => {
    const info = await recordInfo('HTTP://API.test:80/a/../b c?q=1#top', { method: 'put', body: 'x' });
    expect(info).toMatchObject({
      method: 'PUT',
      origin: 'http://api.test',
      url: 'http://api.test/b%20c?q=1#top',
      retryable: true,
    });
  });

  it('keeps a URL object as it was at the call, and reads a Request’s URL', async () => {
    const target = new URL('https://api.test/items?page=1');
    const pending = recordInfo(target);
    target.pathname = '/other';
    target.host = 'elsewhere.test';
    expect(await pending).toMatchObject({ origin: 'https://api.test', url: 'https://api.test/items?page=1' });
    const request = new Request('https://api.test:8443/r?x=1', { method: 'POST', body: 's' });
    expect(await recordInfo(request)).toMatchObject({
      method: 'POST',
      origin: 'https://api.test:8443',
      url: 'https://api.test:8443/r?x=1',
      retryable: false,
    });
  });

  it('rejects an invalid URL before any policy runs', async () => {
    const fetch = resilientFetch({ pipeline: pipeline() });
    for (const input of ['http://exa mple.test/', 'http://api.test:99999/', 'http:///', '/relative']) {
      await expect(fetch(input)).rejects.toThrow(TypeError);
    }
  });
});

describe('resilientFetch signals', () => {
  let server: FaultServer;
  beforeAll(async () => {
    server = await startFaultServer();
  });
  afterAll(() => server.close());

  /** undici.fetch, recording the signal each attempt was given. */
  function recordingFetch(): { fetch: typeof globalThis.fetch; signals: (AbortSignal | null | undefined)[] } {
    const signals: (AbortSignal | null | undefined)[] = [];
    const fetch = ((input: string, init?: RequestInit) => {
      signals.push(init?.signal);
      return undiciFetch(input, init as never);
    }) as unknown as typeof globalThis.fetch;
    return { fetch, signals };
  }

  it('passes no signal when nothing can abort the call, and leaves the caller’s init as it was', async () => {
    server.route('GET /plain', [{ status: 503 }, { status: 200, body: 'ok' }]);
    const { fetch: base, signals } = recordingFetch();
    const fetch = resilientFetch({ pipeline: retry({ maxAttempts: 2, backoff: 1 }), fetch: base });
    const init = { headers: { accept: 'text/plain' } };
    expect(await (await fetch(`${server.origin}/plain`, init)).text()).toBe('ok');
    expect(signals).toEqual([undefined, undefined]);
    expect(init).toEqual({ headers: { accept: 'text/plain' } });
  });

  it('passes a signal that follows the caller’s, and one that the attempt timeout aborts', async () => {
    server.route('GET /quick', { status: 200, body: 'ok' });
    server.route('GET /stuck', { hang: true });
    const { fetch: base, signals } = recordingFetch();
    const controller = new AbortController();
    const plain = resilientFetch({ pipeline: retry({ maxAttempts: 2, backoff: 1 }), fetch: base });
    await (await plain(`${server.origin}/quick`, { signal: controller.signal })).text();
    expect(signals[0]).toBeInstanceOf(AbortSignal);
    expect(signals[0]?.aborted).toBe(false);

    const timed = resilientFetch({ fetch: base, retry: false, attemptTimeoutMs: 50, totalTimeoutMs: 1_000 });
    await expect(timed(`${server.origin}/stuck`)).rejects.toBeInstanceOf(TimeoutError);
    expect(signals[1]).toBeInstanceOf(AbortSignal);
    expect(signals[1]?.aborted).toBe(true);
    expect(signals[1]?.reason).toBeInstanceOf(TimeoutError);
  });
});

describe('resilientFetch options', () => {
  it.each([
    [{ retyr: {} }, TypeError, /unknown option "retyr" \(did you mean "retry"\?\)/],
    [
      { pipeline: retry(), totalTimeoutMs: 5 },
      TypeError,
      /either pipeline or the standard pipeline options.*totalTimeoutMs/,
    ],
    [{ pipeline: {} }, TypeError, /pipeline must be a policy/],
    [{ fetch: 5 }, TypeError, /fetch must be a function, received 5/],
    [
      { failureStatuses: [503, 200] },
      RangeError,
      /failureStatuses must hold integers from 400 to 599, received 200/,
    ],
    [{ failureStatuses: '503' }, TypeError, /failureStatuses must be an array/],
    [{ honorsIdempotencyKeys: ['not a url'] }, TypeError, /honorsIdempotencyKeys must list origins/],
    [{ honorsIdempotencyKeys: 'yes' }, TypeError, /must be a boolean or an array of origins/],
    [{ throwOnStatus: 1 }, TypeError, /throwOnStatus must be a boolean, received 1/],
    [
      { attemptTimeoutMs: 30_000 },
      RangeError,
      /attemptTimeoutMs \(30000\) must be less than totalTimeoutMs \(30000\)/,
    ],
  ])('rejects %o', (options, ErrorClass, message) => {
    expect(() => resilientFetch(options as never)).toThrow(ErrorClass);
    expect(() => resilientFetch(options as never)).toThrow(message);
  });

  it('keeps the wrapped fetch’s type and rejects (never throws) on a bad URL', async () => {
    expectTypeOf(resilientFetch()).toEqualTypeOf<typeof globalThis.fetch>();
    expectTypeOf(resilientFetch({ fetch: undiciFetch })).toEqualTypeOf<typeof undiciFetch>();
    const fetch = resilientFetch();
    await expect(fetch('not a url')).rejects.toThrow(TypeError);
  });
});
