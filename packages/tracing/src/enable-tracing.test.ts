import { channel, hasSubscribers } from 'node:diagnostics_channel';
import { consecutiveFailures } from '@breakwater/circuit-breaker';
import { BasePolicy, callOperation, type ExecutionContext, type Operation, pipeline } from '@breakwater/core';
import { fallbackCache } from '@breakwater/fallback-cache';
import { type ResilienceOptions, resilience, resilientFetch, standardPipeline } from '@breakwater/http';
import { retry } from '@breakwater/retry';
import { type FaultServer, startFaultServer } from '@breakwater/testing';
import {
  context,
  DiagLogLevel,
  diag,
  propagation,
  SpanKind,
  SpanStatusCode,
  type TracerProvider as TracerProviderApi,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import {
  AggregationTemporality,
  DataPointType,
  type HistogramMetricData,
  MeterProvider,
  MetricReader,
  type SumMetricData,
} from '@opentelemetry/sdk-metrics';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { enableTracing, type TracingOptions } from './enable-tracing.js';
import { undiciRequestHook } from './undici-request-hook.js';

/** Collects on demand, cumulatively. */
class TestMetricReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const exporter = new InMemorySpanExporter();
const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const tracer = tracerProvider.getTracer('test');
let reader: TestMetricReader;
let meterProvider: MeterProvider;
let server: FaultServer;
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(async () => {
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  server = await startFaultServer();
});
afterAll(async () => {
  context.disable();
  propagation.disable();
  await server.close();
  await tracerProvider.shutdown();
});
beforeEach(() => {
  exporter.reset();
  reader = new TestMetricReader();
  meterProvider = new MeterProvider({ readers: [reader] });
  onTestFinished(() => meterProvider.shutdown());
});

/** Enables tracing into the test SDK for the rest of the test. */
function enable(options: TracingOptions = {}): void {
  const tracing = enableTracing({ tracerProvider, meterProvider, ...options });
  onTestFinished(() => tracing.dispose());
}

async function spans(): Promise<ReadableSpan[]> {
  await tracerProvider.forceFlush();
  return exporter.getFinishedSpans();
}

const byStart = (a: ReadableSpan, b: ReadableSpan): number =>
  a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1];
const kindOf = (all: readonly ReadableSpan[], kind: SpanKind): ReadableSpan[] =>
  all.filter((span) => span.kind === kind).sort(byStart);
const ms = ([seconds, nanos]: readonly [number, number]): number => seconds * 1e3 + nanos / 1e6;

async function metric<T extends HistogramMetricData | SumMetricData>(name: string): Promise<T | undefined> {
  const { resourceMetrics } = await reader.collect();
  return resourceMetrics.scopeMetrics
    .flatMap((scope) => scope.metrics)
    .find((m) => m.descriptor.name === name) as T | undefined;
}

async function sumOf(name: string, attributes: Record<string, unknown> = {}): Promise<number> {
  const data = await metric<SumMetricData>(name);
  return (data?.dataPoints ?? [])
    .filter((point) => Object.entries(attributes).every(([key, value]) => point.attributes[key] === value))
    .reduce((total, point) => total + point.value, 0);
}

type Send = (url: string, headers?: Record<string, string>, signal?: AbortSignal) => Promise<number>;

/** The two ways in: resilientFetch over global fetch, and the interceptor under undici.request. */
const transports: [string, (options: ResilienceOptions) => Send][] = [
  [
    'resilientFetch',
    (options) => {
      const fetch = resilientFetch(options);
      return async (url, headers, signal) => {
        const response = await fetch(url, { ...(headers && { headers }), ...(signal && { signal }) });
        await response.arrayBuffer();
        return response.status;
      };
    },
  ],
  [
    'resilience() interceptor',
    (options) => {
      const agent = new Agent();
      onTestFinished(() => agent.close());
      const dispatcher = agent.compose(resilience(options));
      return async (url, headers, signal) => {
        const response = await request(url, {
          dispatcher,
          ...(headers && { headers }),
          ...(signal && { signal }),
        });
        await response.body.dump();
        return response.statusCode;
      };
    },
  ],
];

const fast = { retry: { backoff: 5 } } as const;
let routes = 0;
/** A fresh path, so that tests never share a route's count. */
const path = (name: string): string => `/${name}-${++routes}`;

describe('enableTracing', () => {
  it('has no side effect on import and subscribes only when enabled, until disposed', () => {
    const names = ['http:request-start', 'http:attempt-start', 'retry:retry', 'circuit-breaker:reject'];
    expect(names.map((name) => hasSubscribers(`breakwater:${name}`))).toEqual([false, false, false, false]);
    const tracing = enableTracing({ tracerProvider, meterProvider });
    expect(names.map((name) => hasSubscribers(`breakwater:${name}`))).toEqual([true, true, true, true]);
    tracing.dispose();
    tracing[Symbol.dispose]();
    expect(names.map((name) => hasSubscribers(`breakwater:${name}`))).toEqual([false, false, false, false]);
  });

  it('validates its options', () => {
    expect(() => enableTracing({ clientSpans: 'both' } as never)).toThrow(
      /enableTracing: clientSpans must be one of/,
    );
    expect(() => enableTracing({ tracer: tracerProvider } as never)).toThrow(/tracer/);
    expect(() => enableTracing({ tracerProvider: {} as TracerProviderApi })).toThrow(
      'enableTracing: tracerProvider must be a TracerProvider, received',
    );
    expect(() => enableTracing({ meterProvider: null as never })).toThrow(
      'enableTracing: meterProvider must be a MeterProvider, received null',
    );
    expect(() => enableTracing({ sensitiveQueryParameters: 'sig' as never })).toThrow(
      'enableTracing: sensitiveQueryParameters must be an array of parameter names, received "sig"',
    );
    expect(() => enableTracing({ sensitiveQueryParameters: [''] })).toThrow(TypeError);
    expect(hasSubscribers('breakwater:http:request-start')).toBe(false);
  });
});

describe.each(transports)('tracing %s', (_name, transport) => {
  it('makes one INTERNAL span and one CLIENT span per attempt, under the caller’s span, for 503, 503, 200', async () => {
    enable();
    const p = path('retried');
    const route = server.route(`GET ${p}`, [{ status: 503 }, { status: 503 }, { status: 200, body: 'ok' }]);
    const send = transport(fast);
    const outer = tracer.startSpan('caller');
    const status = await context.with(trace.setSpan(context.active(), outer), () =>
      send(`${server.origin}${p}?page=2`),
    );
    outer.end();
    expect(status).toBe(200);

    const all = await spans();
    const [internal, ...rest] = kindOf(all, SpanKind.INTERNAL).filter((span) => span.name !== 'caller');
    expect(rest).toEqual([]);
    const clients = kindOf(all, SpanKind.CLIENT);
    expect(clients).toHaveLength(3);
    expect(internal!.name).toBe('breakwater GET');
    expect(internal!.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    expect(internal!.spanContext().traceId).toBe(outer.spanContext().traceId);
    expect(internal!.attributes).toEqual({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': server.port,
      'url.full': `${server.origin}${p}?page=2`,
      'http.response.status_code': 200,
      'breakwater.http.attempts': 3,
    });
    expect(internal!.status.code).toBe(SpanStatusCode.UNSET);
    expect(internal!.events.map((event) => [event.name, event.attributes?.['breakwater.attempt']])).toEqual([
      ['breakwater.retry', 1],
      ['breakwater.retry', 2],
    ]);
    expect(internal!.events[0]!.attributes).toMatchObject({ 'error.type': '503' });

    expect(clients.map((span) => span.name)).toEqual(['GET', 'GET', 'GET']);
    expect(clients.map((span) => span.parentSpanContext?.spanId)).toEqual(
      Array(3).fill(internal!.spanContext().spanId),
    );
    expect(clients.map((span) => span.attributes['http.request.resend_count'])).toEqual([undefined, 1, 2]);
    expect(clients.map((span) => span.attributes['http.response.status_code'])).toEqual([503, 503, 200]);
    expect(clients.map((span) => span.attributes['error.type'])).toEqual(['503', '503', undefined]);
    expect(clients.map((span) => span.status.code)).toEqual([
      SpanStatusCode.ERROR,
      SpanStatusCode.ERROR,
      SpanStatusCode.UNSET,
    ]);
    for (const span of clients) {
      expect(span.attributes).toMatchObject({
        'http.request.method': 'GET',
        'server.address': '127.0.0.1',
        'server.port': server.port,
        'url.full': `${server.origin}${p}?page=2`,
      });
    }
    // Each attempt carried its own CLIENT span's context on the wire.
    expect(route.requests.map((r) => r.headers.traceparent)).toEqual(
      clients.map((span) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`),
    );
    // The SDK anchors each span's clock on its own, so compare with a millisecond of slack.
    expect(ms(clients[2]!.endTime)).toBeLessThanOrEqual(ms(internal!.endTime) + 1);
  });

  it('ends the spans when the response headers arrive, not when the body has been read', async () => {
    enable();
    const p = path('slow-body');
    server.route(`GET ${p}`, { body: 'x'.repeat(40), chunkSize: 10, chunkDelayMs: 80 });
    const send = transport(fast);
    const started = performance.now();
    expect(await send(`${server.origin}${p}`)).toBe(200);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(235);
    const all = await spans();
    const [internal] = kindOf(all, SpanKind.INTERNAL);
    const [client] = kindOf(all, SpanKind.CLIENT);
    expect(ms(internal!.duration)).toBeLessThan(took - 150);
    expect(ms(client!.duration)).toBeLessThan(took - 150);
  });

  it('redacts credentials and signatures in url.full and never records credential headers', async () => {
    enable();
    const p = path('presigned');
    const route = server.route(`GET ${p}`, { status: 200 });
    const query = 'X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=s3cr3tsig&part=1&sig=azuresig&Signature=x';
    const send = transport(fast);
    await send(`${server.origin}${p}?${query}`, {
      authorization: 'Bearer top-secret-token',
      cookie: 'session=secret-session-cookie',
      'idempotency-key': '"secret-idempotency-key"',
    });
    expect(route.requests[0]!.url).toBe(`${p}?${query}`);
    const all = await spans();
    expect(all).toHaveLength(2);
    for (const span of all) {
      expect(span.attributes['url.full']).toBe(
        `${server.origin}${p}?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&part=1&sig=REDACTED&Signature=REDACTED`,
      );
    }
    const recorded = JSON.stringify(all.map((span) => [span.attributes, span.events, span.name]));
    for (const secret of [
      'AKIAEXAMPLE',
      's3cr3tsig',
      'azuresig',
      'top-secret',
      'secret-session',
      'secret-idem',
    ]) {
      expect(recorded).not.toContain(secret);
    }
  });

  it('redacts the parameters given in sensitiveQueryParameters instead of the default list', async () => {
    enable({ sensitiveQueryParameters: ['token'] });
    const p = path('custom-redaction');
    server.route(`GET ${p}`, { status: 200 });
    await transport(fast)(`${server.origin}${p}?token=abc&sig=kept`);
    const [internal] = kindOf(await spans(), SpanKind.INTERNAL);
    expect(internal!.attributes['url.full']).toBe(`${server.origin}${p}?token=REDACTED&sig=kept`);
  });

  it('records breaker state changes and rejections as events and metrics, without CLIENT spans for rejected calls', async () => {
    enable();
    const p = path('breaker');
    server.route(`GET ${p}`, { status: 500 });
    const send = transport({
      retry: false,
      circuitBreaker: { breaker: consecutiveFailures(2), breakMs: 60_000 },
    });
    expect(await send(`${server.origin}${p}`)).toBe(500);
    expect(await send(`${server.origin}${p}`)).toBe(500);
    await expect(send(`${server.origin}${p}`)).rejects.toMatchObject({ code: 'ERR_BREAKWATER_CIRCUIT_OPEN' });
    const all = await spans();
    const internals = kindOf(all, SpanKind.INTERNAL);
    expect(internals).toHaveLength(3);
    expect(kindOf(all, SpanKind.CLIENT)).toHaveLength(2);
    expect(internals.map((span) => span.events.map((event) => event.name))).toEqual([
      [],
      ['breakwater.circuit_breaker.state_change'],
      ['breakwater.circuit_breaker.reject'],
    ]);
    expect(internals[1]!.events[0]!.attributes).toEqual({
      'breakwater.circuit_breaker.state': 'open',
      'breakwater.circuit_breaker.previous_state': 'closed',
    });
    expect(internals[2]!.events[0]!.attributes).toMatchObject({ 'breakwater.circuit_breaker.state': 'open' });
    expect(internals[2]!.events[0]!.attributes?.['breakwater.retry_after_ms']).toBeGreaterThan(59_000);
    expect(internals.map((span) => [span.attributes['error.type'], span.status.code])).toEqual([
      ['500', SpanStatusCode.ERROR],
      ['500', SpanStatusCode.ERROR],
      ['ERR_BREAKWATER_CIRCUIT_OPEN', SpanStatusCode.ERROR],
    ]);
    expect(internals[2]!.attributes['breakwater.http.attempts']).toBe(0);
    expect(
      await sumOf('breakwater.circuit_breaker.state_changes', {
        'breakwater.circuit_breaker.state': 'open',
        'breakwater.circuit_breaker.previous_state': 'closed',
        'server.port': server.port,
      }),
    ).toBe(1);
    expect(await sumOf('breakwater.rejections', { 'breakwater.rejection.reason': 'circuit_open' })).toBe(1);
  });

  it('records a bulkhead rejection and a queued call', async () => {
    enable();
    const p = path('bulkhead');
    server.route(`GET ${p}`, { delayMs: 150 });
    const send = transport({ ...fast, bulkhead: { limit: 1, queue: 1 } });
    const first = send(`${server.origin}${p}`);
    const second = send(`${server.origin}${p}`);
    await expect(send(`${server.origin}${p}`)).rejects.toMatchObject({
      code: 'ERR_BREAKWATER_BULKHEAD_FULL',
    });
    expect(await first).toBe(200);
    expect(await second).toBe(200);
    const internals = kindOf(await spans(), SpanKind.INTERNAL);
    const events = internals.map((span) => span.events.map((event) => [event.name, event.attributes]));
    expect(events).toContainEqual([['breakwater.bulkhead.queue', { 'breakwater.bulkhead.queued': 1 }]]);
    expect(events).toContainEqual([
      ['breakwater.bulkhead.reject', { 'breakwater.rejection.reason': 'bulkhead_full' }],
    ]);
    expect(await sumOf('breakwater.rejections', { 'breakwater.rejection.reason': 'bulkhead_full' })).toBe(1);
  });

  it('records an attempt timeout on the attempt and the request, then the retry that followed', async () => {
    enable();
    const p = path('timeout');
    server.route(`GET ${p}`, [{ hang: true }, { status: 200 }]);
    const send = transport({ ...fast, attemptTimeoutMs: 100, totalTimeoutMs: 2_000 });
    expect(await send(`${server.origin}${p}`)).toBe(200);
    const all = await spans();
    const [internal] = kindOf(all, SpanKind.INTERNAL);
    const clients = kindOf(all, SpanKind.CLIENT);
    expect(internal!.events.map((event) => [event.name, event.attributes])).toEqual([
      ['breakwater.timeout', { 'breakwater.timeout.ms': 100 }],
      [
        'breakwater.retry',
        { 'breakwater.attempt': 1, 'breakwater.retry.delay_ms': 5, 'error.type': 'ERR_BREAKWATER_TIMEOUT' },
      ],
    ]);
    expect(clients.map((span) => [span.attributes['error.type'], span.status.code])).toEqual([
      ['ERR_BREAKWATER_TIMEOUT', SpanStatusCode.ERROR],
      [undefined, SpanStatusCode.UNSET],
    ]);
    expect(clients[0]!.attributes['http.response.status_code']).toBeUndefined();
    expect(ms(clients[0]!.duration)).toBeGreaterThanOrEqual(99);
    expect(await sumOf('breakwater.timeouts', { 'breakwater.timeout.ms': 100 })).toBe(1);
  });

  it('does not mark the caller’s own abort as an error', async () => {
    enable();
    const p = path('abort');
    server.route(`GET ${p}`, { hang: true });
    const send = transport(fast);
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    const pending = send(`${server.origin}${p}`, undefined, controller.signal);
    await vi.waitFor(() => expect(server.requests.at(-1)?.path).toBe(p));
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await vi.waitFor(async () => expect(await spans()).toHaveLength(2));
    for (const span of await spans()) {
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
      expect(span.attributes['error.type']).toBeUndefined();
    }
  });

  it('adds an event when the response is an idempotent replay', async () => {
    enable();
    const p = path('replayed');
    server.route(`POST ${p}`, { status: 201, headers: { 'idempotent-replayed': 'true' } });
    const fetch = resilientFetch(fast);
    const agent = new Agent();
    onTestFinished(() => agent.close());
    if (_name === 'resilientFetch') {
      expect((await fetch(`${server.origin}${p}`, { method: 'POST', body: '{}' })).status).toBe(201);
    } else {
      const { statusCode, body } = await request(`${server.origin}${p}`, {
        method: 'POST',
        body: '{}',
        dispatcher: agent.compose(resilience(fast)),
      });
      await body.dump();
      expect(statusCode).toBe(201);
    }
    const [internal] = kindOf(await spans(), SpanKind.INTERNAL);
    expect(internal!.name).toBe('breakwater POST');
    expect(internal!.events.map((event) => [event.name, event.attributes])).toEqual([
      ['breakwater.idempotency.replayed', { 'breakwater.attempt': 1 }],
    ]);
  });

  it('records http.client.request.duration per attempt with the semconv buckets, equal to the CLIENT spans', async () => {
    enable();
    const p = path('metrics');
    server.route(`GET ${p}`, [{ status: 503 }, { status: 200 }]);
    await transport(fast)(`${server.origin}${p}`);
    const data = await metric<HistogramMetricData>('http.client.request.duration');
    expect(data?.descriptor).toMatchObject({ unit: 's', type: 'HISTOGRAM' });
    expect(data?.dataPointType).toBe(DataPointType.HISTOGRAM);
    const points = data!.dataPoints;
    expect(points.map((point) => [point.attributes, point.value.count])).toEqual([
      [
        {
          'http.request.method': 'GET',
          'server.address': '127.0.0.1',
          'server.port': server.port,
          'http.response.status_code': 503,
          'error.type': '503',
        },
        1,
      ],
      [
        {
          'http.request.method': 'GET',
          'server.address': '127.0.0.1',
          'server.port': server.port,
          'http.response.status_code': 200,
        },
        1,
      ],
    ]);
    expect(points[0]!.value.buckets.boundaries).toEqual([
      0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
    ]);
    const clients = kindOf(await spans(), SpanKind.CLIENT);
    clients.forEach((span, i) => {
      expect(points[i]!.value.sum).toBeCloseTo(ms(span.duration) / 1000, 6);
    });
    expect(await sumOf('breakwater.retries', { 'error.type': '503', 'server.port': server.port })).toBe(1);
  });
});

describe('tracing next to instrumentation-undici (clientSpans: undici)', () => {
  let instrumentation: UndiciInstrumentation;
  beforeAll(() => {
    instrumentation = new UndiciInstrumentation({ requestHook: undiciRequestHook });
    instrumentation.setTracerProvider(tracerProvider);
  });
  afterAll(() => instrumentation.disable());

  it.each(transports)(
    '%s: undici’s CLIENT spans nest under ours, and none is duplicated',
    async (_name, transport) => {
      enable({ clientSpans: 'undici' });
      const p = path('coexist');
      const route = server.route(`GET ${p}`, [{ status: 503 }, { status: 503 }, { status: 200 }]);
      expect(await transport(fast)(`${server.origin}${p}?sig=secret&page=2`)).toBe(200);
      await vi.waitFor(async () => expect(kindOf(await spans(), SpanKind.CLIENT)).toHaveLength(3));
      const all = await spans();
      const [internal, ...others] = kindOf(all, SpanKind.INTERNAL);
      expect(others).toEqual([]);
      const clients = kindOf(all, SpanKind.CLIENT);
      expect(all).toHaveLength(4);
      for (const span of clients) {
        expect(span.instrumentationScope.name).toBe('@opentelemetry/instrumentation-undici');
        expect(span.parentSpanContext?.spanId).toBe(internal!.spanContext().spanId);
      }
      expect(clients.map((span) => span.attributes['http.response.status_code'])).toEqual([503, 503, 200]);
      // completed by undiciRequestHook
      expect(clients.map((span) => span.attributes['http.request.resend_count'])).toEqual([undefined, 1, 2]);
      for (const span of clients) {
        expect(span.attributes['url.full']).toBe(`${server.origin}${p}?sig=REDACTED&page=2`);
        expect(span.attributes['url.query']).toBe('?sig=REDACTED&page=2');
      }
      // one traceparent per request, undici's, naming that attempt's span
      expect(route.requests.map((r) => r.headers.traceparent)).toEqual(
        clients.map((span) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`),
      );
      expect(internal!.events.map((event) => event.name)).toEqual(['breakwater.retry', 'breakwater.retry']);
      // instrumentation-undici records http.client.request.duration itself (to its own meter here)
      expect(await metric('http.client.request.duration')).toBeUndefined();
    },
  );

  it('leaves the spans of requests that did not go through breakwater alone', async () => {
    enable({ clientSpans: 'undici' });
    const p = path('plain');
    server.route(`GET ${p}`, { status: 200 });
    const { body } = await request(`${server.origin}${p}?sig=raw`);
    await body.dump();
    await vi.waitFor(async () => expect(await spans()).toHaveLength(1));
    const [span] = await spans();
    expect(span!.attributes['url.full']).toBe(`${server.origin}${p}?sig=raw`);
    expect(span!.attributes['http.request.resend_count']).toBeUndefined();
  });

  it('nests undici’s spans under ours even when a policy sends attempts from a shared timer', async () => {
    enable({ clientSpans: 'undici' });
    // Made outside any span: its timer callbacks run in that empty async context, whoever queued the work.
    class SharedTimerPolicy extends BasePolicy {
      readonly #queue: (() => void)[] = [];
      readonly #timer = setInterval(() => {
        for (const run of this.#queue.splice(0)) run();
      }, 5);
      protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
        return new Promise<T>((resolve, reject) => {
          this.#queue.push(() => callOperation(fn, context).then(resolve, reject));
        });
      }
      close(): void {
        clearInterval(this.#timer);
      }
    }
    const policy = new SharedTimerPolicy();
    onTestFinished(() => policy.close());
    const p = path('shared-timer');
    server.route(`GET ${p}`, { status: 200 });
    const fetch = resilientFetch({ pipeline: policy });
    const outer = tracer.startSpan('caller');
    await context.with(trace.setSpan(context.active(), outer), async () => {
      await (await fetch(`${server.origin}${p}`)).arrayBuffer();
    });
    outer.end();
    const all = await spans();
    const internal = all.find((span) => span.name === 'breakwater GET')!;
    const [client, ...more] = kindOf(all, SpanKind.CLIENT);
    expect(more).toEqual([]);
    expect(client!.parentSpanContext?.spanId).toBe(internal.spanContext().spanId);
    expect(client!.spanContext().traceId).toBe(outer.spanContext().traceId);
  });

  it('keeps concurrent requests’ spans apart across shared backoff timers', async () => {
    enable({ clientSpans: 'undici' });
    const p = path('concurrent');
    server.route(`GET ${p}`, (_request, n) => (n % 2 === 1 ? { status: 503 } : { status: 200 }));
    const fetch = resilientFetch(fast);
    const outers = Array.from({ length: 8 }, (_, i) => tracer.startSpan(`caller ${i}`));
    await Promise.all(
      outers.map((outer) =>
        context.with(trace.setSpan(context.active(), outer), async () => {
          const response = await fetch(`${server.origin}${p}`);
          await response.arrayBuffer();
        }),
      ),
    );
    for (const outer of outers) outer.end();
    const all = await spans();
    const internals = all.filter((span) => span.name === 'breakwater GET');
    expect(internals).toHaveLength(8);
    const clients = kindOf(all, SpanKind.CLIENT);
    expect(clients.length).toBeGreaterThanOrEqual(8);
    for (const internal of internals) {
      const outer = outers.find((o) => o.spanContext().spanId === internal.parentSpanContext?.spanId);
      expect(outer).toBeDefined();
    }
    const internalIds = new Set(internals.map((span) => span.spanContext().spanId));
    for (const client of clients) {
      const parent = internals.find((span) => span.spanContext().spanId === client.parentSpanContext?.spanId);
      expect(internalIds.has(client.parentSpanContext!.spanId)).toBe(true);
      expect(client.spanContext().traceId).toBe(parent!.spanContext().traceId);
    }
  });
});

describe('tracing an unknown method', () => {
  it('names the spans HTTP and keeps the method in http.request.method_original', async () => {
    enable();
    const p = path('purge');
    server.route(`PURGE ${p}`, { status: 204 });
    expect((await resilientFetch(fast)(`${server.origin}${p}`, { method: 'PURGE' })).status).toBe(204);
    const all = await spans();
    expect(all.map((span) => [span.name, span.attributes['http.request.method']]).sort()).toEqual([
      ['HTTP', '_OTHER'],
      ['breakwater HTTP', '_OTHER'],
    ]);
    for (const span of all) expect(span.attributes['http.request.method_original']).toBe('PURGE');
  });
});

describe('tracing beyond HTTP requests', () => {
  it('counts the retries of any policy, without spans outside an HTTP request', async () => {
    enable();
    const policy = retry({ maxAttempts: 3, backoff: 0 });
    await expect(
      policy.execute(() => {
        throw Object.assign(new Error('flaky'), { code: 'ECONNRESET' });
      }),
    ).rejects.toThrow('flaky');
    expect(await sumOf('breakwater.retries', { 'error.type': 'ECONNRESET' })).toBe(2);
    expect(await spans()).toEqual([]);
  });

  it('records a fallback published by a policy inside the request’s pipeline', async () => {
    enable();
    const fallbackChannel = channel('breakwater:fallback:fallback');
    class ServeFallback extends BasePolicy {
      protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
        return callOperation(fn, context).catch((error: unknown) => {
          fallbackChannel.publish({ context, error });
          return new Response('fallback') as T;
        });
      }
    }
    const p = path('fallback');
    server.route(`GET ${p}`, { reset: 'before-response' });
    const fetch = resilientFetch({ pipeline: new ServeFallback() });
    expect(await (await fetch(`${server.origin}${p}`)).text()).toBe('fallback');
    const [internal] = kindOf(await spans(), SpanKind.INTERNAL);
    expect(internal!.events.map((event) => [event.name, event.attributes])).toEqual([
      ['breakwater.fallback', { 'breakwater.fallback.kind': 'value', 'error.type': 'ECONNRESET' }],
    ]);
    expect(await sumOf('breakwater.fallbacks', { 'breakwater.fallback.kind': 'value' })).toBe(1);
  });

  it('records a stale response served by fallbackCache() on the request’s span', async () => {
    enable();
    const p = path('catalog');
    server.route(`GET ${p}`, [
      { status: 200, body: 'catalog v1', headers: { 'cache-control': 'max-age=0, stale-if-error=60' } },
      { status: 503 },
    ]);
    const fetch = resilientFetch({ pipeline: pipeline(fallbackCache(), standardPipeline({ retry: false })) });
    expect(await (await fetch(`${server.origin}${p}`)).text()).toBe('catalog v1');
    const served = await fetch(`${server.origin}${p}`);
    expect([served.status, await served.text()]).toEqual([200, 'catalog v1']);
    const [, second] = kindOf(await spans(), SpanKind.INTERNAL);
    expect(second!.events.map((event) => [event.name, event.attributes])).toEqual([
      [
        'breakwater.fallback',
        {
          'breakwater.fallback.kind': 'cache',
          'breakwater.fallback.reason': 'status',
          'breakwater.fallback.stale': true,
          'error.type': '503',
        },
      ],
    ]);
    // the caller got the cached 200: the request did not fail
    expect(second!.attributes['http.response.status_code']).toBe(200);
    expect(second!.status.code).toBe(SpanStatusCode.UNSET);
    expect(
      await sumOf('breakwater.fallbacks', {
        'breakwater.fallback.kind': 'cache',
        'server.port': server.port,
      }),
    ).toBe(1);
  });

  it('never lets a failing tracer break a request; it reports through diag', async () => {
    const logged = vi.fn();
    diag.setLogger(
      { error: logged, warn() {}, info() {}, debug() {}, verbose() {} },
      { logLevel: DiagLogLevel.ERROR, suppressOverrideMessage: true },
    );
    onTestFinished(() => diag.disable());
    const broken = {
      getTracer: () => ({
        startSpan() {
          throw new Error('exporter on fire');
        },
        startActiveSpan() {
          throw new Error('exporter on fire');
        },
      }),
    } as unknown as TracerProviderApi;
    const tracing = enableTracing({ tracerProvider: broken, meterProvider });
    onTestFinished(() => tracing.dispose());
    const p = path('broken-tracer');
    server.route(`GET ${p}`, { status: 200, body: 'fine' });
    const response = await resilientFetch(fast)(`${server.origin}${p}`);
    expect(await response.text()).toBe('fine');
    expect(logged).toHaveBeenCalledWith(
      '@breakwater/tracing: failed to handle breakwater:http:request-start',
      expect.objectContaining({ message: 'exporter on fire' }),
    );
  });
});
