import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { consecutiveFailures } from '@breakwater/circuit-breaker';
import { BrokenCircuitError } from '@breakwater/core';
import { type FaultServer, startFaultServer } from '@breakwater/testing';
import { Agent, type Dispatcher, request, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import type {
  HttpAttemptEndEvent,
  HttpAttemptStartEvent,
  HttpRequestEndEvent,
  HttpRequestStartEvent,
} from './channels.js';
import { resilience } from './interceptor.js';
import type { ResilienceOptions } from './options.js';
import { httpRequestKey } from './request-info.js';
import { type ResilientFetchOptions, resilientFetch } from './resilient-fetch.js';

type Message =
  | ['request-start', HttpRequestStartEvent]
  | ['attempt-start', HttpAttemptStartEvent]
  | ['attempt-end', HttpAttemptEndEvent]
  | ['request-end', HttpRequestEndEvent];

interface Hooks {
  onRequestStart?: (event: HttpRequestStartEvent) => void;
  onAttemptStart?: (event: HttpAttemptStartEvent) => void;
}

/** Subscribes to the four http channels for the rest of the test; returns what they publish, in order. */
function observe(hooks: Hooks = {}): Message[] {
  const log: Message[] = [];
  const subscriptions: [string, (message: unknown) => void][] = [
    [
      'breakwater:http:request-start',
      (m) => {
        log.push(['request-start', m as HttpRequestStartEvent]);
        hooks.onRequestStart?.(m as HttpRequestStartEvent);
      },
    ],
    [
      'breakwater:http:attempt-start',
      (m) => {
        log.push(['attempt-start', m as HttpAttemptStartEvent]);
        hooks.onAttemptStart?.(m as HttpAttemptStartEvent);
      },
    ],
    ['breakwater:http:attempt-end', (m) => log.push(['attempt-end', m as HttpAttemptEndEvent])],
    ['breakwater:http:request-end', (m) => log.push(['request-end', m as HttpRequestEndEvent])],
  ];
  for (const [name, listener] of subscriptions) subscribe(name, listener);
  onTestFinished(() => {
    for (const [name, listener] of subscriptions) unsubscribe(name, listener);
  });
  return log;
}

const kinds = (log: readonly Message[]): string[] =>
  log.map(([kind, m]) => ('attempt' in m && kind.startsWith('attempt') ? `${kind} ${m.attempt}` : kind));

let server: FaultServer;
beforeAll(async () => {
  server = await startFaultServer();
});
afterAll(() => server.close());

interface SendOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
}
type Send = (path: string, options?: SendOptions) => Promise<{ status: number; text: string }>;
type Transport = (options: ResilienceOptions, inner?: Dispatcher.DispatcherComposeInterceptor) => Send;

/** Each transport calls `inner` (if any) just before the wire, inside whatever scope the attempt runs in. */
const transports: [string, Transport][] = [
  [
    'resilientFetch over global fetch',
    (options, inner) => {
      const fetch = resilientFetch({
        ...options,
        fetch: (input: string | URL | Request, init?: RequestInit) => {
          inner?.(() => true)({ origin: server.origin, path: '/', method: 'GET' }, {});
          return globalThis.fetch(input, init);
        },
      } as ResilientFetchOptions);
      return async (path, { headers, signal } = {}) => {
        const response = await fetch(`${server.origin}${path}`, { headers, signal } as RequestInit);
        return { status: response.status, text: await response.text() };
      };
    },
  ],
  [
    'resilientFetch over undici.fetch',
    (options, inner) => {
      const agent = new Agent();
      onTestFinished(() => agent.close());
      const dispatcher = inner === undefined ? agent : agent.compose(inner);
      const fetch = resilientFetch({
        ...options,
        fetch: (input: string, init?: Parameters<typeof undiciFetch>[1]) =>
          undiciFetch(input, { ...init, dispatcher }),
      } as ResilientFetchOptions);
      return async (path, { headers, signal } = {}) => {
        const response = await fetch(`${server.origin}${path}`, { headers, signal } as RequestInit);
        return { status: response.status, text: await response.text() };
      };
    },
  ],
  [
    'resilience() over undici.request',
    (options, inner) => {
      const agent = new Agent();
      onTestFinished(() => agent.close());
      // compose(a, b) runs b first: resilience() is outermost, `inner` sits between it and the agent.
      const dispatcher =
        inner === undefined ? agent.compose(resilience(options)) : agent.compose(inner, resilience(options));
      return async (path, { headers, signal } = {}) => {
        const { statusCode, body } = await request(`${server.origin}${path}`, {
          dispatcher,
          ...(headers && { headers }),
          ...(signal && { signal }),
        });
        return { status: statusCode, text: await body.text() };
      };
    },
  ],
];

const fast = { retry: { backoff: 5 } } as const;

describe.each(transports)('http diagnostics channels, %s', (_name, transport) => {
  it('publishes request-start, each attempt’s start and end, and request-end, in order', async () => {
    const path = `/seq-${Math.random()}`.replace('.', '');
    server.route(`GET ${path}`, [
      { status: 503, headers: { 'x-n': '1' } },
      { status: 503, headers: { 'x-n': '2' } },
      { status: 200, body: 'ok', headers: { 'x-n': '3' } },
    ]);
    const send = transport(fast);
    const log = observe();
    expect(await send(path)).toEqual({ status: 200, text: 'ok' });
    expect(kinds(log)).toEqual([
      'request-start',
      'attempt-start 1',
      'attempt-end 1',
      'attempt-start 2',
      'attempt-end 2',
      'attempt-start 3',
      'attempt-end 3',
      'request-end',
    ]);
    const [, start] = log[0] as ['request-start', HttpRequestStartEvent];
    expect(start.request).toMatchObject({
      method: 'GET',
      url: `${server.origin}${path}`,
      origin: server.origin,
      retryable: true,
    });
    // every payload's context shares the request's data
    for (const [, message] of log) {
      expect(message.request).toBe(start.request);
      expect(message.context.get(httpRequestKey)).toBe(start.request);
    }
    const ends = log.filter(([kind]) => kind === 'attempt-end').map(([, m]) => m as HttpAttemptEndEvent);
    expect(ends.map((end) => [end.statusCode, end.error, end.responseHeaders?.get('X-N')])).toEqual([
      [503, undefined, '1'],
      [503, undefined, '2'],
      [200, undefined, '3'],
    ]);
    const [, end] = log.at(-1) as ['request-end', HttpRequestEndEvent];
    expect(end).toMatchObject({ attempts: 3, statusCode: 200, error: undefined });
  });

  it('reports the returned failure response, and a failure without a response, as their attempts ended', async () => {
    server.route('GET /always-busy', { status: 503 });
    server.route('GET /reset', [{ reset: 'before-response' }, { status: 200 }]);
    const send = transport(fast);
    const log = observe();
    expect((await send('/always-busy')).status).toBe(503);
    expect(log.at(-1)?.[1]).toMatchObject({ attempts: 3, statusCode: 503, error: undefined });
    log.length = 0;
    expect((await send('/reset')).status).toBe(200);
    const ends = log.filter(([kind]) => kind === 'attempt-end').map(([, m]) => m as HttpAttemptEndEvent);
    expect(ends[0]?.statusCode).toBeUndefined();
    expect(ends[0]?.responseHeaders).toBeUndefined();
    expect(ends[0]?.error).toBeInstanceOf(Error);
    expect(ends[1]).toMatchObject({ statusCode: 200, error: undefined });
  });

  it('sets headers on one attempt only, replacing the caller’s, without touching the caller’s headers', async () => {
    const route = server.route('GET /headers', [{ status: 503 }, { status: 503 }, { status: 200 }]);
    const send = transport(fast);
    observe({
      onAttemptStart(event) {
        event.setHeader('X-Attempt', String(event.attempt));
        if (event.attempt === 2) event.setHeader('x-caller', 'replaced');
      },
    });
    const headers = { 'x-caller': 'mine', 'x-attempt': 'caller' };
    expect((await send('/headers', { headers })).status).toBe(200);
    expect(route.requests.map((r) => [r.headers['x-attempt'], r.headers['x-caller']])).toEqual([
      ['1', 'mine'],
      ['2', 'replaced'],
      ['3', 'mine'],
    ]);
    expect(headers).toEqual({ 'x-caller': 'mine', 'x-attempt': 'caller' });
  });

  it('runs the pipeline inside the request-start scope and each send inside its attempt’s scope', async () => {
    server.route('GET /scoped', [{ status: 503 }, { status: 200 }]);
    const store = new AsyncLocalStorage<string>();
    const seenAtSend: (string | undefined)[] = [];
    const send = transport(fast, (dispatch) => (opts, handler) => {
      seenAtSend.push(store.getStore());
      return dispatch(opts, handler);
    });
    const scopes: string[] = [];
    observe({
      onRequestStart(event) {
        expect(event.scope).toBeUndefined();
        event.scope = (run) => {
          scopes.push('request');
          return store.run('request', run);
        };
      },
      onAttemptStart(event) {
        event.scope = (run) => {
          scopes.push(`attempt ${event.attempt}`);
          return store.run(`attempt ${event.attempt}`, run);
        };
      },
    });
    expect((await send('/scoped')).status).toBe(200);
    expect(scopes).toEqual(['request', 'attempt 1', 'attempt 2']);
    // undici.fetch dispatches once per attempt; global fetch is observed once per attempt by the stub
    expect(seenAtSend).toEqual(['attempt 1', 'attempt 2']);
  });

  it('lets a second subscriber wrap the first one’s scope', async () => {
    server.route('GET /two-scopes', { status: 200 });
    const outer = new AsyncLocalStorage<string>();
    const inner = new AsyncLocalStorage<string>();
    const seen: [string | undefined, string | undefined][] = [];
    const send = transport(fast, (dispatch) => (opts, handler) => {
      seen.push([outer.getStore(), inner.getStore()]);
      return dispatch(opts, handler);
    });
    const order: string[] = [];
    observe({
      onAttemptStart(event) {
        event.scope = (run) => {
          order.push('first');
          return inner.run('first', run);
        };
      },
    });
    observe({
      onAttemptStart(event) {
        const previous = event.scope;
        event.scope = (run) => {
          order.push('second');
          return outer.run('second', () => (previous ? previous(run) : run()));
        };
      },
    });
    expect((await send('/two-scopes')).status).toBe(200);
    expect(order).toEqual(['second', 'first']);
    expect(seen).toEqual([['second', 'first']]);
  });

  it('publishes request-end with the caller’s reason when the caller aborts, and ends the attempt', async () => {
    server.route('GET /hang', { hang: true });
    const send = transport(fast);
    const log = observe();
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const pending = send('/hang', { signal: controller.signal });
    await vi.waitFor(() => expect(server.requests.at(-1)?.path).toBe('/hang'));
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await vi.waitFor(() => expect(log.filter(([kind]) => kind === 'attempt-end')).toHaveLength(1));
    const ends = log.filter(([kind]) => kind === 'request-end').map(([, m]) => m);
    expect(ends).toEqual([expect.objectContaining({ attempts: 1, statusCode: undefined, error: reason })]);
    const attemptEnd = log.find(([kind]) => kind === 'attempt-end')![1] as HttpAttemptEndEvent;
    expect(attemptEnd.statusCode).toBeUndefined();
    expect(attemptEnd.error).toBeDefined();
  });

  it('publishes request-start and request-end, and no attempt, for a call the breaker rejects', async () => {
    server.route('GET /broken', { status: 500 });
    const send = transport({
      ...fast,
      retry: false,
      circuitBreaker: { breaker: consecutiveFailures(1), breakMs: 60_000 },
    });
    expect((await send('/broken')).status).toBe(500);
    const log = observe();
    await expect(send('/broken')).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(kinds(log)).toEqual(['request-start', 'request-end']);
    expect(log[1]![1]).toMatchObject({ attempts: 0, statusCode: undefined });
    expect((log[1]![1] as HttpRequestEndEvent).error).toBeInstanceOf(BrokenCircuitError);
  });
});

describe('attempt-start setHeader', () => {
  it('rejects names that are not tokens and values with CR, LF or NUL', async () => {
    server.route('GET /bad-header', { status: 200 });
    const errors: unknown[] = [];
    observe({
      onAttemptStart(event) {
        for (const [name, value] of [
          ['bad name', 'v'],
          ['x-ok', 'a\r\nInjected: yes'],
          ['x-ok', 'a\nb'],
          ['x-ok', 'a\0b'],
          ['', 'v'],
        ] as const) {
          try {
            event.setHeader(name, value);
          } catch (error) {
            errors.push(error);
          }
        }
      },
    });
    const response = await resilientFetch()(`${server.origin}/bad-header`);
    expect(response.status).toBe(200);
    expect(errors).toHaveLength(5);
    for (const error of errors) expect(error).toBeInstanceOf(TypeError);
    expect(server.requests.at(-1)!.headers.injected).toBeUndefined();
  });

  it('keeps a Request’s own headers and leaves the Request unchanged (resilientFetch)', async () => {
    const route = server.route('GET /request-input', { status: 200 });
    observe({ onAttemptStart: (event) => event.setHeader('traceparent', 'set-by-subscriber') });
    const input = new Request(`${server.origin}/request-input`, { headers: { 'x-caller': 'kept' } });
    expect((await resilientFetch()(input)).status).toBe(200);
    expect(route.requests[0]!.headers).toMatchObject({
      'x-caller': 'kept',
      traceparent: 'set-by-subscriber',
    });
    expect([...input.headers]).toEqual([['x-caller', 'kept']]);
  });

  it('serves every attempt from one-shot iterable headers once they were read (resilience())', async () => {
    const route = server.route('GET /iterable', [{ status: 503 }, { status: 503 }, { status: 200 }]);
    observe({ onAttemptStart: (event) => event.setHeader('x-attempt', String(event.attempt)) });
    const agent = new Agent();
    onTestFinished(() => agent.close());
    function* headers(): Generator<[string, string]> {
      yield ['x-caller', 'mine'];
    }
    const { statusCode, body } = await request(`${server.origin}/iterable`, {
      dispatcher: agent.compose(resilience(fast)),
      headers: headers(),
    });
    await body.dump();
    expect(statusCode).toBe(200);
    expect(route.requests.map((r) => [r.headers['x-caller'], r.headers['x-attempt']])).toEqual([
      ['mine', '1'],
      ['mine', '2'],
      ['mine', '3'],
    ]);
  });
});
