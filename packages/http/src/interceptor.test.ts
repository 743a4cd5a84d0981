import { AsyncLocalStorage } from 'node:async_hooks';
import { Readable } from 'node:stream';
import { bulkhead } from '@breakwater/bulkhead';
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
import { type FaultServer, startFaultServer, type VirtualClock, virtualClock } from '@breakwater/testing';
import { Agent, type Dispatcher, Dispatcher1Wrapper, request, fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { HttpStatusError } from './http-status-error.js';
import { resilience } from './interceptor.js';
import type { HttpBehaviourOptions, ResilienceOptions } from './options.js';
import { type HttpRequestInfo, httpRequestKey } from './request-info.js';

const unhandled = vi.fn();
beforeAll(() => {
  process.on('unhandledRejection', unhandled);
});
afterAll(() => {
  process.off('unhandledRejection', unhandled);
});
afterEach(async () => {
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(unhandled).not.toHaveBeenCalled();
});

let server: FaultServer;
beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(() => server.close());

/** A fresh Agent composed with the interceptor, closed when the test ends. */
function agentWith(options: ResilienceOptions, agentOptions: Agent.Options = {}): Dispatcher {
  const agent = new Agent(agentOptions);
  onTestFinished(() => agent.close());
  return agent.compose(resilience(options));
}

const fast = { retry: { backoff: 5 } } as const;

/** Dispatches a GET whose handler throws from `onResponseStart`; resolves with what its `onResponseError` gets. */
function dispatchToThrowingHandler(dispatcher: Dispatcher, path: string): Promise<Error> {
  return new Promise((resolve) => {
    dispatcher.dispatch(
      { origin: server.origin, path, method: 'GET' },
      {
        onResponseStart() {
          throw new Error('handler bug');
        },
        onResponseError(_controller, error) {
          resolve(error);
        },
      },
    );
  });
}

describe('resilience() interceptor over undici.request', () => {
  it('is an undici interceptor: a function of dispatch returning a two-argument dispatch', () => {
    const dispatch = resilience()(() => true);
    expect(dispatch).toBeTypeOf('function');
    expect(dispatch.length).toBe(2);
  });

  it('retries a 503 and delivers the success', async () => {
    const route = server.route('GET /retry', [{ status: 503 }, { status: 503 }, { status: 200, body: 'ok' }]);
    const dispatcher = agentWith(fast);
    const { statusCode, body } = await request(`${server.origin}/retry`, { dispatcher });
    expect(statusCode).toBe(200);
    expect(await body.text()).toBe('ok');
    expect(route.count).toBe(3);
  });

  it('delivers the last failed response with its body when retries run out', async () => {
    const route = server.route('GET /busy', { status: 503, body: 'busy', headers: { 'x-attempt': 'any' } });
    const dispatcher = agentWith(fast);
    const { statusCode, headers, body } = await request(`${server.origin}/busy`, { dispatcher });
    expect(statusCode).toBe(503);
    expect(headers['x-attempt']).toBe('any');
    expect(await body.text()).toBe('busy');
    expect(route.count).toBe(3);
  });

  it('replays a held response whose body is still arriving', async () => {
    server.route('GET /slow-fail', {
      status: 503,
      body: 'a'.repeat(30) + 'b'.repeat(30),
      chunkSize: 30,
      chunkDelayMs: 50,
    });
    const dispatcher = agentWith({ retry: false });
    const { statusCode, body } = await request(`${server.origin}/slow-fail`, { dispatcher });
    expect(statusCode).toBe(503);
    expect(await body.text()).toBe('a'.repeat(30) + 'b'.repeat(30));
  });

  it('rejects with HttpStatusError when asked to', async () => {
    server.route('GET /throw', { status: 429, retryAfter: 0 });
    const dispatcher = agentWith({ ...fast, throwOnStatus: true });
    const error = await request(`${server.origin}/throw`, { dispatcher }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpStatusError);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 0, response: undefined });
  });

  it('honours Retry-After', async () => {
    const route = server.route('GET /later', [{ status: 429, retryAfter: 1 }, { status: 200 }]);
    const dispatcher = agentWith(fast);
    const { statusCode, body } = await request(`${server.origin}/later`, { dispatcher });
    await body.dump();
    expect(statusCode).toBe(200);
    const [first, second] = route.requests;
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(990);
  });

  it('does not retry a POST without an Idempotency-Key', async () => {
    const route = server.route('POST /orders', { status: 503 });
    const dispatcher = agentWith({ ...fast, honorsIdempotencyKeys: true });
    const { statusCode, body } = await request(`${server.origin}/orders`, {
      dispatcher,
      method: 'POST',
      body: 'x',
    });
    await body.dump();
    expect(statusCode).toBe(503);
    expect(route.count).toBe(1);
  });

  it('retries a keyed POST to a target that honours keys, with the same key and body each time', async () => {
    const route = server.route('POST /payments', [
      { status: 503 },
      { reset: 'before-response' },
      { status: 201 },
    ]);
    const dispatcher = agentWith({ ...fast, honorsIdempotencyKeys: true });
    const { statusCode, body } = await request(`${server.origin}/payments`, {
      dispatcher,
      method: 'POST',
      headers: { 'Idempotency-Key': '"k-123"' },
      body: '{"amount":10}',
    });
    await body.dump();
    expect(statusCode).toBe(201);
    expect(route.requests.map((r) => [r.headers['idempotency-key'], r.body.toString()])).toEqual(
      Array(3).fill(['"k-123"', '{"amount":10}']),
    );
  });

  it('never resends a stream body, even under a retry-everything pipeline', async () => {
    const route = server.route('PUT /stream', { status: 503 });
    const dispatcher = agentWith({
      pipeline: retry({ maxAttempts: 3, backoff: 1, shouldHandle: handleAll }),
    });
    const { statusCode, body } = await request(`${server.origin}/stream`, {
      dispatcher,
      method: 'PUT',
      body: Readable.from(['one-', 'shot']),
    });
    await body.dump();
    expect(statusCode).toBe(503);
    expect(route.count).toBe(1);
    expect(route.requests[0]!.body.toString()).toBe('one-shot');
  });

  it('answers when a custom pipeline fulfils without a response: the held one, else a TypeError', async () => {
    /** Turns every failure of the operation into a fulfilment, as a fallback value would. */
    class Swallow extends BasePolicy {
      protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
        return Promise.resolve(fn(context)).catch(() => 'fallback' as T);
      }
    }
    /** Fulfils without calling the operation at all. */
    class Skip extends BasePolicy {
      protected run<T>(): Promise<T> {
        return Promise.resolve('skipped' as T);
      }
    }
    const route = server.route('GET /swallowed', { status: 503, body: 'down' });
    const held = await request(`${server.origin}/swallowed`, {
      dispatcher: agentWith({ pipeline: new Swallow() }),
    });
    expect([held.statusCode, await held.body.text(), route.count]).toEqual([503, 'down', 1]);
    await expect(
      request(`${server.origin}/swallowed`, { dispatcher: agentWith({ pipeline: new Skip() }) }),
    ).rejects.toThrow('resilience: the pipeline fulfilled without a response');
    expect(route.count).toBe(1);
  });

  it('opens the breaker of a failing origin while another origin keeps working', async () => {
    await using other = await startFaultServer();
    const failing = server.route('GET /flaky', { status: 500 });
    other.route('GET /flaky', { body: 'fine' });
    const dispatcher = agentWith({
      retry: false,
      circuitBreaker: { breaker: consecutiveFailures(2), breakMs: 60_000 },
    });
    for (let i = 0; i < 2; i++) await (await request(`${server.origin}/flaky`, { dispatcher })).body.dump();
    await expect(request(`${server.origin}/flaky`, { dispatcher })).rejects.toBeInstanceOf(
      BrokenCircuitError,
    );
    expect(failing.count).toBe(2);
    expect(await (await request(`${other.origin}/flaky`, { dispatcher })).body.text()).toBe('fine');
  });

  it('rejects with BulkheadRejectedError when the origin is at its limit', async () => {
    server.route('GET /slow', { delayMs: 150, body: 'slow' });
    const dispatcher = agentWith({ ...fast, bulkhead: { limit: 1 } });
    const first = request(`${server.origin}/slow`, { dispatcher });
    await expect(request(`${server.origin}/slow`, { dispatcher })).rejects.toBeInstanceOf(
      BulkheadRejectedError,
    );
    expect(await (await first).body.text()).toBe('slow');
  });

  it('retries after an attempt timeout, and rejects with TimeoutError at the total timeout', async () => {
    const once = server.route('GET /hang-once', [{ hang: true }, { body: 'second' }]);
    server.route('GET /hang', { hang: true });
    const dispatcher = agentWith({ ...fast, attemptTimeoutMs: 100, totalTimeoutMs: 250 });
    expect(await (await request(`${server.origin}/hang-once`, { dispatcher })).body.text()).toBe('second');
    expect(once.count).toBe(2);
    const started = performance.now();
    await expect(request(`${server.origin}/hang`, { dispatcher })).rejects.toBeInstanceOf(TimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(245);
  });

  it('rejects with the caller’s reason when the caller aborts mid-request', async () => {
    server.route('GET /hang-abort', { hang: true });
    const dispatcher = agentWith(fast);
    const controller = new AbortController();
    const reason = new Error('cancelled by caller');
    const pending = request(`${server.origin}/hang-abort`, { dispatcher, signal: controller.signal });
    await vi.waitFor(() => expect(server.requests.at(-1)?.path).toBe('/hang-abort'));
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('rejects at once with the caller’s reason when the caller aborts during a backoff wait', async () => {
    const route = server.route('GET /abort-backoff', { status: 503, retryAfter: 20 });
    const dispatcher = agentWith(fast);
    const controller = new AbortController();
    const reason = new Error('stop');
    const pending = request(`${server.origin}/abort-backoff`, { dispatcher, signal: controller.signal });
    await vi.waitFor(() => expect(route.count).toBe(1));
    const started = performance.now();
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(100);
    expect(route.count).toBe(1);
  });

  it('aborts a body that is streaming when the caller aborts', async () => {
    server.route('GET /trickle', { body: 'x'.repeat(100), chunkSize: 10, chunkDelayMs: 100 });
    const dispatcher = agentWith(fast);
    const controller = new AbortController();
    const { body } = await request(`${server.origin}/trickle`, { dispatcher, signal: controller.signal });
    controller.abort(new Error('enough'));
    await expect(body.text()).rejects.toThrow('enough');
  });

  it('retries resets before the response and mid-headers; a reset mid-body errors the body', async () => {
    const route = server.route('GET /reset', [
      { reset: 'before-response' },
      { reset: 'mid-headers' },
      { body: 'ok' },
    ]);
    server.route('GET /mid-body', { bodyBytes: 50_000, reset: 'mid-body' });
    const dispatcher = agentWith(fast);
    expect(await (await request(`${server.origin}/reset`, { dispatcher })).body.text()).toBe('ok');
    expect(route.count).toBe(3);
    const { statusCode, body } = await request(`${server.origin}/mid-body`, { dispatcher });
    expect(statusCode).toBe(200);
    await expect(body.arrayBuffer()).rejects.toThrow();
  });

  it('drains failed attempts so a one-connection pool reuses its connection', async () => {
    const route = server.route('GET /reuse', [
      { status: 503, body: 'no' },
      { status: 500, bodyBytes: 8_000 },
      { status: 200, body: 'yes' },
    ]);
    const dispatcher = agentWith({ retry: { backoff: 1 } }, { connections: 1 });
    const before = server.connections;
    expect(await (await request(`${server.origin}/reuse`, { dispatcher })).body.text()).toBe('yes');
    expect(route.count).toBe(3);
    expect(new Set(route.requests.map((r) => r.connection)).size).toBe(1);
    expect(server.connections - before).toBe(1);
  });

  it('serves many concurrent requests over a small pool, each failing once, without stalling the pool', async () => {
    const seen = new Set<string>();
    const route = server.route('GET /concurrent', (request) => {
      const id = String(request.headers['x-call']);
      if (seen.has(id)) return { body: id };
      seen.add(id);
      return { status: 503, body: 'fail'.repeat(100) };
    });
    const dispatcher = agentWith({ retry: { backoff: 1 }, circuitBreaker: false }, { connections: 4 });
    const bodies = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const { statusCode, body } = await request(`${server.origin}/concurrent`, {
          dispatcher,
          headers: { 'x-call': `c${i}` },
        });
        return `${statusCode}:${await body.text()}`;
      }),
    );
    expect(bodies).toEqual(Array.from({ length: 40 }, (_, i) => `200:c${i}`));
    expect(route.count).toBe(80);
    expect(new Set(route.requests.map((r) => r.connection)).size).toBeLessThanOrEqual(4);
  });

  it('frees the pipeline’s bulkhead slot when the handler throws from onResponseStart', async () => {
    const route = server.route('GET /handler-throws', { body: 'ok' });
    const slot = bulkhead({ limit: 1, queue: 0 });
    const dispatcher = agentWith({ pipeline: pipeline(slot) });
    const handlerError = await dispatchToThrowingHandler(dispatcher, '/handler-throws');
    expect(handlerError.message).toBe('handler bug');
    expect(slot.running).toBe(0);
    const { statusCode, body } = await request(`${server.origin}/handler-throws`, { dispatcher });
    expect([statusCode, await body.text(), route.count]).toEqual([200, 'ok', 2]);
  });

  it('aborts a replayed response whose handler throws, tells the handler, and keeps the pool usable', async () => {
    const route = server.route('GET /replay-throws', [
      { status: 503, body: 'down'.repeat(10), chunkSize: 10, chunkDelayMs: 20 },
      { body: 'ok' },
    ]);
    const dispatcher = agentWith({ retry: false, circuitBreaker: false }, { connections: 1 });
    const handlerError = await dispatchToThrowingHandler(dispatcher, '/replay-throws');
    expect(handlerError.message).toBe('handler bug');
    const { statusCode, body } = await request(`${server.origin}/replay-throws`, { dispatcher });
    expect([statusCode, await body.text(), route.count]).toEqual([200, 'ok', 2]);
  });

  it('keeps retrying, replaying and timing out the same once its pipeline runs hot', async () => {
    const ok = server.route('GET /hot-ok', { body: 'ok' });
    const flaky = server.route('GET /hot-flaky', [{ status: 503 }, { status: 200, body: 'second' }]);
    const busy = server.route('GET /hot-busy', { status: 503, body: 'busy' });
    server.route('GET /hot-hang', { hang: true });
    const dispatcher = agentWith({
      ...fast,
      circuitBreaker: false,
      bulkhead: { limit: 1, queue: 8 },
      attemptTimeoutMs: 50,
      totalTimeoutMs: 200,
    });
    // Far past the calls after which a pipeline compiles its fast path; one slot, so each call must free it.
    for (let i = 0; i < 200; i++)
      await (await request(`${server.origin}/hot-ok`, { dispatcher })).body.dump();
    expect(ok.count).toBe(200);
    const second = await request(`${server.origin}/hot-flaky`, { dispatcher });
    expect([second.statusCode, await second.body.text(), flaky.count]).toEqual([200, 'second', 2]);
    const last = await request(`${server.origin}/hot-busy`, { dispatcher });
    expect([last.statusCode, await last.body.text(), busy.count]).toEqual([503, 'busy', 3]);
    await expect(request(`${server.origin}/hot-hang`, { dispatcher })).rejects.toBeInstanceOf(TimeoutError);
    const after = await request(`${server.origin}/hot-ok`, { dispatcher });
    expect([after.statusCode, await after.body.text()]).toEqual([200, 'ok']);
    // Queued calls start as the one in the slot succeeds, from inside undici's response callback.
    const queued = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const { statusCode, body } = await request(`${server.origin}/hot-ok`, { dispatcher });
        return `${statusCode}:${await body.text()}`;
      }),
    );
    expect(queued).toEqual(Array.from({ length: 8 }, () => '200:ok'));
    expect(ok.count).toBe(209);
  });

  it('runs a lone policy as a pipeline of one: once hot, a success frees its slot inside undici’s callback', async () => {
    server.route('GET /lone', { body: 'ok' });
    const slot = bulkhead({ limit: 1, queue: 8 });
    const dispatcher = agentWith({ pipeline: slot });
    for (let i = 0; i < 100; i++) await (await request(`${server.origin}/lone`, { dispatcher })).body.dump();
    // Headers and a two-byte body arrive in one read: a promise would free the slot only after both callbacks.
    const runningAtData = await new Promise<number>((resolve, reject) => {
      let running = -1;
      dispatcher.dispatch(
        { origin: server.origin, path: '/lone', method: 'GET' },
        {
          onResponseData() {
            if (running === -1) running = slot.running;
          },
          onResponseEnd: () => resolve(running),
          onResponseError: (_controller, error) => reject(error),
        },
      );
    });
    expect(runningAtData).toBe(0);
  });

  it('runs a hot pipeline’s reaction to a failure in the request’s async context, not the connection’s', async () => {
    const requestId = new AsyncLocalStorage<string>();
    server.route('GET /context-warm', { body: 'ok' });
    const route = server.route('GET /context', [{ status: 503 }, { body: 'second' }]);
    const policy = retry({ backoff: 1 });
    const seen: (string | undefined)[] = [];
    policy.onRetry(() => seen.push(requestId.getStore()));
    // One connection, opened during the warm-up: its callbacks run in the warm-up's context.
    const dispatcher = agentWith({ pipeline: pipeline(policy) }, { connections: 1 });
    await requestId.run('warm-up', async () => {
      for (let i = 0; i < 100; i++) {
        await (await request(`${server.origin}/context-warm`, { dispatcher })).body.dump();
      }
    });
    const { statusCode, body } = await requestId.run('request', () =>
      request(`${server.origin}/context`, { dispatcher }),
    );
    expect([statusCode, await body.text(), route.count]).toEqual([200, 'second', 2]);
    expect(seen).toEqual(['request']);
  });

  it('works under undici.fetch with the composed dispatcher', async () => {
    const route = server.route('GET /fetch', [{ status: 503 }, { body: 'via fetch' }]);
    const dispatcher = agentWith(fast);
    const response = await undiciFetch(`${server.origin}/fetch`, { dispatcher });
    expect(await response.text()).toBe('via fetch');
    expect(route.count).toBe(2);
  });

  it('works under Node’s global fetch through Dispatcher1Wrapper', async () => {
    const route = server.route('GET /global', [{ status: 502 }, { body: 'via global fetch' }]);
    const dispatcher = new Dispatcher1Wrapper(agentWith(fast));
    const response = await fetch(`${server.origin}/global`, { dispatcher } as unknown as RequestInit);
    expect(await response.text()).toBe('via global fetch');
    expect(route.count).toBe(2);
  });

  it('passes upgrade requests through untouched', async () => {
    let passed = 0;
    const dispatch = resilience()((opts, handler) => {
      passed++;
      expect(opts.upgrade).toBe('websocket');
      expect(handler).toBe(upgradeHandler);
      return true;
    });
    const upgradeHandler = {};
    dispatch({ origin: server.origin, path: '/', method: 'GET', upgrade: 'websocket' }, upgradeHandler);
    expect(passed).toBe(1);
  });

  it('rejects bad options when built', () => {
    expect(() => resilience({ throwOnStatus: 'yes' } as never)).toThrow(
      'resilience: throwOnStatus must be a boolean',
    );
  });
});

/** A pipeline that records the request info it runs with, then fails without sending anything. */
class RecordRequest extends BasePolicy {
  readonly seen: HttpRequestInfo[] = [];

  protected run<T>(_fn: Operation<T>, context: ExecutionContext): Promise<T> {
    this.seen.push(context.get(httpRequestKey)!);
    return Promise.reject(new Error('not sent'));
  }
}

/** Dispatches `opts` through resilience() over a dispatch that must never be reached; resolves on the error. */
function recordInfo(
  opts: Partial<Dispatcher.DispatchOptions>,
  options: HttpBehaviourOptions = {},
): Promise<HttpRequestInfo> {
  const recorder = new RecordRequest();
  const dispatch = resilience({ ...options, pipeline: recorder })(() => {
    throw new Error('dispatched');
  });
  return new Promise((resolve, reject) => {
    dispatch(
      { origin: 'http://api.test:8080', path: '/', method: 'GET', ...opts },
      {
        onResponseError: (_controller, error) =>
          error.message === 'not sent' ? resolve(recorder.seen[0]!) : reject(error),
      },
    );
  });
}

describe('resilience() request info (read after the request settled, as late readers do)', () => {
  it('gives the method in upper case, the origin without a trailing slash, the URL and the headers', async () => {
    const info = await recordInfo({
      origin: 'http://api.test:8080/',
      path: '/items?page=2',
      method: 'delete',
      headers: ['X-Trace', 'abc', 'accept', 'text/plain', 'x-trace', 'def'],
    });
    expect(info.method).toBe('DELETE');
    expect(info.origin).toBe('http://api.test:8080');
    expect(info.url).toBe('http://api.test:8080/items?page=2');
    expect(info.headers.get('x-trace')).toBe('abc, def');
    expect(info.headers.has('Accept')).toBe(true);
    expect(info.headers.has('idempotency-key')).toBe(false);
    expect(info.retryable).toBe(true);
  });

  it('serializes an origin string as new URL().origin does, so it keys and matches like resilientFetch', async () => {
    for (const [given, origin] of [
      ['HTTP://API.test:80', 'http://api.test'],
      ['https://api.test:443/', 'https://api.test'],
      ['http://api.test:8080', 'http://api.test:8080'],
    ] as const) {
      const info = await recordInfo({ origin: given, path: '/x', method: 'GET' });
      expect(info.origin).toBe(origin);
      expect(info.url).toBe(`${origin}/x`);
    }
  });

  it('reads an origin given as a URL and headers given as an object', async () => {
    const info = await recordInfo({
      origin: new URL('https://api.test'),
      path: '/a',
      method: 'PURGE',
      headers: { 'Cache-Control': 'no-cache' },
    });
    expect(info).toMatchObject({ method: 'PURGE', origin: 'https://api.test', url: 'https://api.test/a' });
    expect(info.headers.get('cache-control')).toBe('no-cache');
    expect(info.retryable).toBe(false);
  });

  it('reads headers given as a Map or as Headers case-insensitively', async () => {
    const { Headers: UndiciHeaders } = await import('undici');
    for (const headers of [
      new Map([['Idempotency-Key', 'k1']]),
      new Headers({ 'Idempotency-Key': 'k1' }),
      new UndiciHeaders({ 'Idempotency-Key': 'k1' }),
    ]) {
      const info = await recordInfo(
        {
          origin: 'http://api.test:8080',
          path: '/a',
          method: 'POST',
          body: '{}',
          headers: headers as never,
        },
        { honorsIdempotencyKeys: ['http://api.test:8080'] },
      );
      expect(info.headers.get('idempotency-key')).toBe('k1');
      expect(info.retryable).toBe(true);
    }
  });

  it('works out retryable from the method, the body and an honoured Idempotency-Key', async () => {
    const honours = { honorsIdempotencyKeys: ['http://api.test:8080'] };
    const keyed = { 'Idempotency-Key': 'k1' };
    const cases: [Partial<Dispatcher.DispatchOptions>, HttpBehaviourOptions, boolean][] = [
      [{ method: 'PUT', body: 'x' }, {}, true],
      [{ method: 'put', body: Buffer.from('x') }, {}, true],
      [{ method: 'PUT', body: Readable.from(['x']) }, {}, false],
      [{ method: 'POST', body: 'x' }, honours, false],
      [{ method: 'POST', body: 'x', headers: keyed }, {}, false],
      [{ method: 'POST', body: 'x', headers: keyed }, honours, true],
      [{ method: 'patch', body: 'x', headers: keyed }, honours, true],
      [
        { method: 'POST', body: 'x', headers: keyed },
        { honorsIdempotencyKeys: ['http://other.test'] },
        false,
      ],
      [{ method: 'POST', body: Readable.from(['x']), headers: keyed }, honours, false],
    ];
    for (const [opts, options, retryable] of cases) {
      const info = await recordInfo(opts, options);
      expect([opts.method, info.retryable]).toEqual([opts.method, retryable]);
    }
  });
});

/** One attempt as a fake undici transport saw it: answer it, or see how it was aborted. */
interface FakeAttempt {
  readonly aborts: unknown[];
  respond(status: number, body: string): void;
}

/**
 * A transport that answers only when told, and reports an attempt's abort back as undici does (through
 * `onResponseError`, a tick later). `sent` lists the attempts in order.
 */
function fakeTransport(): { dispatch: Dispatcher.Dispatch; sent: FakeAttempt[] } {
  const sent: FakeAttempt[] = [];
  const dispatch: Dispatcher.Dispatch = (_opts, handler) => {
    const aborts: unknown[] = [];
    const controller = {
      aborted: false,
      paused: false,
      reason: null as Error | null,
      abort(reason: Error) {
        aborts.push(reason);
        if (this.aborted) return;
        this.aborted = true;
        this.reason = reason;
        queueMicrotask(() => handler.onResponseError?.(controller, reason));
      },
      pause() {},
      resume() {},
    };
    handler.onRequestStart?.(controller, {});
    sent.push({
      aborts,
      respond(status, body) {
        handler.onResponseStart?.(controller, status, {}, '');
        handler.onResponseData?.(controller, Buffer.from(body));
        handler.onResponseEnd?.(controller, {});
      },
    });
    return true;
  };
  return { dispatch, sent };
}

/** What the caller's handler got, and the controller it was given. */
function recordingHandler(): {
  handler: Dispatcher.DispatchHandler;
  controller: () => Dispatcher.DispatchController;
  outcome: { status?: number; body: string; error?: unknown; ended: boolean };
} {
  let given: Dispatcher.DispatchController | undefined;
  const outcome: { status?: number; body: string; error?: unknown; ended: boolean } = {
    body: '',
    ended: false,
  };
  return {
    controller: () => given!,
    outcome,
    handler: {
      onRequestStart: (controller) => {
        given = controller;
      },
      onResponseStart: (_controller, status) => {
        outcome.status = status;
      },
      onResponseData: (_controller, chunk) => {
        outcome.body += chunk.toString();
      },
      onResponseEnd: () => {
        outcome.ended = true;
      },
      onResponseError: (_controller, error) => {
        outcome.error = error;
      },
    },
  };
}

const get = { origin: 'http://api.test', path: '/', method: 'GET' } as const;

describe('resilience() aborting a pending attempt', () => {
  const standard = (clock: VirtualClock) =>
    ({
      clock,
      attemptTimeoutMs: 1_000,
      totalTimeoutMs: 10_000,
      retry: { maxAttempts: 2, backoff: 100 },
    }) as const;

  it('aborts an attempt of the standard pipeline at its attempt timeout, to the millisecond, then retries', async () => {
    const clock = virtualClock();
    const { dispatch, sent } = fakeTransport();
    const { handler, outcome } = recordingHandler();
    resilience(standard(clock))(dispatch)(get, handler);
    await clock.advance(999);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.aborts).toEqual([]);
    await clock.advance(1);
    expect(sent[0]!.aborts).toEqual([expect.any(TimeoutError)]);
    await clock.advance(100);
    expect(sent).toHaveLength(2);
    sent[1]!.respond(200, 'second');
    expect(outcome).toEqual({ status: 200, body: 'second', ended: true });
    await clock.advance(10_000);
    expect(sent[1]!.aborts).toEqual([]);
  });

  it('aborts it when its timeout fires, even late, and arms no timer of its own', async () => {
    const clock = virtualClock();
    // The two timeouts arm their timers as the request enters them; they fire 1 ms late.
    let armed = 0;
    const lateTimeouts = {
      now: () => clock.now(),
      setTimeout: (callback: () => void, ms: number) =>
        clock.setTimeout(callback, ++armed <= 2 ? ms + 1 : ms),
      clearTimeout: (handle: unknown) => clock.clearTimeout(handle),
    };
    const { dispatch, sent } = fakeTransport();
    const { handler } = recordingHandler();
    resilience({ ...standard(clock), clock: lateTimeouts, retry: false })(dispatch)(get, handler);
    await clock.flush();
    expect(armed).toBe(2);
    await clock.advance(1_000);
    expect(sent[0]!.aborts).toEqual([]);
    await clock.advance(1);
    expect(sent[0]!.aborts).toEqual([expect.any(TimeoutError)]);
  });

  it('aborts a pending attempt of the standard pipeline at once when the caller aborts, and only once', async () => {
    const clock = virtualClock();
    const { dispatch, sent } = fakeTransport();
    const { handler, controller, outcome } = recordingHandler();
    resilience(standard(clock))(dispatch)(get, handler);
    await clock.flush();
    const reason = new Error('caller gave up');
    controller().abort(reason);
    expect(sent[0]!.aborts).toEqual([reason]);
    await clock.flush();
    expect(outcome.error).toBe(reason);
    await clock.advance(10_000);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.aborts).toEqual([reason]);
  });

  it('aborts a pending attempt when a custom policy aborts its context at any time', async () => {
    const forks: ExecutionContext[] = [];
    class Cancellable extends BasePolicy {
      protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
        // Long before its deadline, so that only watching the context can see the abort in time.
        const forked = context.fork(performance.now() + 60_000);
        forks.push(forked);
        return Promise.resolve(fn(forked)).finally(() => forked.release());
      }
    }
    const { dispatch, sent } = fakeTransport();
    const { handler, outcome } = recordingHandler();
    resilience({ pipeline: new Cancellable() })(dispatch)(get, handler);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toHaveLength(1);
    const reason = new Error('cancelled by a policy');
    forks[0]!.abort(reason);
    expect(sent[0]!.aborts).toEqual([reason]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(outcome.error).toBe(reason);
  });
});
