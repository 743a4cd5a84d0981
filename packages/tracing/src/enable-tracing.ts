import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { BulkheadQueueEvent, BulkheadRejectEvent } from '@breakwater/bulkhead';
import type { CircuitRejectEvent, CircuitStateChangeEvent } from '@breakwater/circuit-breaker';
import {
  type ContextKey,
  contextKey,
  describeValue,
  isCallerAbort,
  oneOfOption,
  readOptions,
  type Subscription,
} from '@breakwater/core';
import type { FallbackEvent, FallbackServedEvent } from '@breakwater/fallback-cache';
import type {
  HttpAttemptEndEvent,
  HttpAttemptStartEvent,
  HttpRequestEndEvent,
  HttpRequestStartEvent,
} from '@breakwater/http';
import type { GiveUpEvent, RetryEvent } from '@breakwater/retry';
import type { TimeoutEvent } from '@breakwater/timeout';
import {
  type Attributes,
  context as contextApi,
  diag,
  type MeterProvider,
  metrics,
  propagation,
  SpanKind,
  type TextMapSetter,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import {
  attrAttempt,
  attrAttempts,
  attrBreakerPreviousState,
  attrBreakerState,
  attrDelayMs,
  attrErrorType,
  attrFallbackKind,
  attrFallbackReason,
  attrFallbackStale,
  attrGiveUpReason,
  attrMethod,
  attrQueued,
  attrRejectionReason,
  attrResendCount,
  attrRetryAfterMs,
  attrStatusCode,
  attrTimeoutMs,
  attrUrlFull,
  eventBreakerReject,
  eventBreakerStateChange,
  eventBulkheadQueue,
  eventBulkheadReject,
  eventFallback,
  eventGiveUp,
  eventIdempotentReplay,
  eventRetry,
  eventTimeout,
} from './attributes.js';
import { errorType } from './error-type.js';
import { Instruments } from './instruments.js';
import { defaultSensitiveQueryParameters, redactUrl } from './redact-url.js';
import { commonAttributes, RequestTrace, scopeIn, setError } from './request-trace.js';
import { type UndiciAttempt, undiciAttemptKey } from './undici-request-hook.js';

/**
 * Who makes the CLIENT span of each attempt.
 * - `'own'`: this package, with the stable HTTP semantic conventions (`http.request.resend_count`, a redacted
 *   `url.full`), `traceparent` injection and the `http.client.request.duration` metric.
 * - `'undici'`: `@opentelemetry/instrumentation-undici`. This package then makes no CLIENT span, injects no
 *   header and records no duration (the instrumentation does all three); it runs each attempt inside the
 *   request's span so that the instrumentation's spans nest under it. Give the instrumentation
 *   `requestHook: undiciRequestHook` for `http.request.resend_count` and a redacted `url.full` on its spans.
 */
export type ClientSpans = 'own' | 'undici';

/** Options of {@link enableTracing}. */
export interface TracingOptions {
  /**
   * Where spans go.
   * @default the global tracer provider (`trace.getTracerProvider()`), which follows a provider registered later
   */
  tracerProvider?: TracerProvider | undefined;
  /**
   * Where metrics go. The global meter provider has no proxy: enable tracing after the SDK has started, or
   * pass the provider.
   * @default the global meter provider when `enableTracing` is called (`metrics.getMeterProvider()`)
   */
  meterProvider?: MeterProvider | undefined;
  /**
   * Who makes the CLIENT span of each attempt; see {@link ClientSpans}. Use `'undici'` when
   * `@opentelemetry/instrumentation-undici` is on, or every attempt gets two CLIENT spans.
   * @default 'own'
   */
  clientSpans?: ClientSpans | undefined;
  /**
   * Query parameters whose values are replaced by `REDACTED` in `url.full` (exact, case-sensitive names). It
   * replaces the default list rather than adding to it.
   * @default defaultSensitiveQueryParameters (AWSAccessKeyId, Signature, sig, X-Amz-Credential,
   * X-Amz-Security-Token, X-Amz-Signature, X-Goog-Signature)
   */
  sensitiveQueryParameters?: readonly string[] | undefined;
}

const policyName = 'enableTracing';
const tracerName = '@breakwater/tracing';

/** Injects propagation headers through an attempt's `setHeader`. */
const headerSetter: TextMapSetter<HttpAttemptStartEvent> = {
  set(carrier, key, value) {
    carrier.setHeader(key, value);
  },
};

/**
 * Starts tracing breakwater: subscribes to the `breakwater:*` diagnostics channels and turns what they
 * publish into OpenTelemetry spans, span events and metrics. Each HTTP request made through `resilientFetch`
 * or the `resilience()` interceptor gets an INTERNAL span, child of the span active when it was made, and
 * each attempt a CLIENT span under it (or instrumentation-undici's, see `clientSpans`). Retries, timeouts,
 * breaker rejections and state changes, bulkhead rejections, fallbacks and idempotent replays become events
 * on the request's span and count in metrics. Spans end when the response headers arrive.
 *
 * Nothing happens on import; dispose the returned subscription to stop.
 *
 * @example
 * ```ts
 * const tracing = enableTracing({ clientSpans: 'undici' }); // next to instrumentation-undici
 * // ...
 * tracing.dispose();
 * ```
 */
export function enableTracing(options?: TracingOptions): Subscription {
  const read = readOptions(policyName, options, [
    'tracerProvider',
    'meterProvider',
    'clientSpans',
    'sensitiveQueryParameters',
  ]);
  const tracerProvider = read.tracerProvider === undefined ? trace.getTracerProvider() : read.tracerProvider;
  if (typeof (tracerProvider as TracerProvider | null)?.getTracer !== 'function') {
    throw new TypeError(
      `${policyName}: tracerProvider must be a TracerProvider, received ${describeValue(tracerProvider)}`,
    );
  }
  const meterProvider = read.meterProvider === undefined ? metrics.getMeterProvider() : read.meterProvider;
  if (typeof (meterProvider as MeterProvider | null)?.getMeter !== 'function') {
    throw new TypeError(
      `${policyName}: meterProvider must be a MeterProvider, received ${describeValue(meterProvider)}`,
    );
  }
  const clientSpans = oneOfOption(policyName, 'clientSpans', read.clientSpans, ['own', 'undici'], 'own');
  const sensitive = read.sensitiveQueryParameters ?? defaultSensitiveQueryParameters;
  if (!Array.isArray(sensitive) || sensitive.some((name) => typeof name !== 'string' || name === '')) {
    throw new TypeError(
      `${policyName}: sensitiveQueryParameters must be an array of parameter names, received ${describeValue(sensitive)}`,
    );
  }
  const tracing = new Tracing(
    (tracerProvider as TracerProvider).getTracer(tracerName),
    new Instruments((meterProvider as MeterProvider).getMeter(tracerName)),
    clientSpans === 'own',
    new Set(sensitive as readonly string[]),
  );
  return tracing.subscribe();
}

/** One `enableTracing` call: its tracer, instruments and subscriptions. */
class Tracing {
  readonly #tracer: Tracer;
  readonly #instruments: Instruments;
  readonly #ownClientSpans: boolean;
  readonly #sensitive: ReadonlySet<string>;
  /** Per instance, so that two enabled tracings never read each other's state. */
  readonly #key: ContextKey<RequestTrace> = contextKey<RequestTrace>('breakwater.tracing.request');

  constructor(
    tracer: Tracer,
    instruments: Instruments,
    ownClientSpans: boolean,
    sensitive: ReadonlySet<string>,
  ) {
    this.#tracer = tracer;
    this.#instruments = instruments;
    this.#ownClientSpans = ownClientSpans;
    this.#sensitive = sensitive;
  }

  subscribe(): Subscription {
    const handlers: [string, (message: never) => void][] = [
      ['http:request-start', (m: HttpRequestStartEvent) => this.#requestStart(m)],
      ['http:attempt-start', (m: HttpAttemptStartEvent) => this.#attemptStart(m)],
      ['http:attempt-end', (m: HttpAttemptEndEvent) => this.#attemptEnd(m)],
      ['http:request-end', (m: HttpRequestEndEvent) => this.#requestEnd(m)],
      ['retry:retry', (m: RetryEvent) => this.#retry(m)],
      ['retry:give-up', (m: GiveUpEvent) => this.#giveUp(m)],
      ['timeout:timeout', (m: TimeoutEvent) => this.#timeout(m)],
      ['circuit-breaker:reject', (m: CircuitRejectEvent) => this.#breakerReject(m)],
      ['circuit-breaker:state-change', (m: CircuitStateChangeEvent) => this.#stateChange(m)],
      ['bulkhead:reject', (m: BulkheadRejectEvent) => this.#bulkheadReject(m)],
      ['bulkhead:queue', (m: BulkheadQueueEvent) => this.#bulkheadQueue(m)],
      ['fallback:fallback', (m: FallbackEvent) => this.#fallback(m, 'value')],
      ['fallback-cache:fallback-served', (m: FallbackServedEvent) => this.#fallback(m, 'cache')],
    ];
    const subscriptions = handlers.map(([name, handle]): [string, (message: unknown) => void] => [
      `breakwater:${name}`,
      (message) => {
        // A subscriber that throws would crash the process: diagnostics_channel rethrows on the next tick.
        try {
          handle(message as never);
        } catch (error) {
          diag.error(`${tracerName}: failed to handle breakwater:${name}`, error);
        }
      },
    ]);
    for (const [name, listener] of subscriptions) subscribe(name, listener);
    let subscribed = true;
    const dispose = (): void => {
      if (!subscribed) return;
      subscribed = false;
      for (const [name, listener] of subscriptions) unsubscribe(name, listener);
    };
    return { dispose, [Symbol.dispose]: dispose };
  }

  #requestStart(message: HttpRequestStartEvent): void {
    const { request } = message;
    const common = commonAttributes(request.method, request.origin);
    const url = redactUrl(request.url, this.#sensitive);
    // Unknown methods are `_OTHER`: they must not make span names of unbounded cardinality.
    const name = common[attrMethod] === '_OTHER' ? 'HTTP' : request.method;
    const parent = contextApi.active();
    const span = this.#tracer.startSpan(
      `breakwater ${name}`,
      {
        kind: SpanKind.INTERNAL,
        attributes: { ...common, [attrUrlFull]: url },
        startTime: performance.now(),
      },
      parent,
    );
    const otelContext = trace.setSpan(parent, span);
    message.context.set(this.#key, new RequestTrace(span, otelContext, common, url, name));
    message.scope = scopeIn(otelContext, message.scope);
  }

  #attemptStart(message: HttpAttemptStartEvent): void {
    const request = message.context.get(this.#key);
    if (request === undefined) return;
    if (!this.#ownClientSpans) {
      const attempt: UndiciAttempt = { attempt: message.attempt, url: request.url };
      message.scope = scopeIn(request.otelContext.setValue(undiciAttemptKey, attempt), message.scope);
      return;
    }
    const attributes: Attributes = { ...request.common, [attrUrlFull]: request.url };
    if (message.attempt > 1) attributes[attrResendCount] = message.attempt - 1;
    const startedAt = performance.now();
    const span = this.#tracer.startSpan(
      request.clientSpanName,
      { kind: SpanKind.CLIENT, attributes, startTime: startedAt },
      request.otelContext,
    );
    request.attempts.set(message.attempt, { span, startedAt });
    const attemptContext = trace.setSpan(request.otelContext, span);
    propagation.inject(attemptContext, message, headerSetter);
    message.scope = scopeIn(attemptContext, message.scope);
  }

  #attemptEnd(message: HttpAttemptEndEvent): void {
    const request = message.context.get(this.#key);
    if (request === undefined) return;
    const { statusCode, attempt } = message;
    if (message.responseHeaders?.get('idempotent-replayed') === 'true') {
      request.addEvent(eventIdempotentReplay, { [attrAttempt]: attempt });
    }
    const attemptTrace = request.attempts.get(attempt);
    if (attemptTrace === undefined) return;
    request.attempts.delete(attempt);
    const endedAt = performance.now();
    const { span } = attemptTrace;
    const attributes: Attributes = { ...request.common };
    let type: string | undefined;
    if (statusCode !== undefined) {
      span.setAttribute(attrStatusCode, statusCode);
      attributes[attrStatusCode] = statusCode;
      if (statusCode >= 400) type = String(statusCode);
    } else if (!isCallerAbort(message.error, message.context)) {
      type = errorType(message.error);
    }
    if (type !== undefined) {
      setError(span, type);
      attributes[attrErrorType] = type;
    }
    span.end(endedAt);
    this.#instruments.duration.record((endedAt - attemptTrace.startedAt) / 1000, attributes);
  }

  #requestEnd(message: HttpRequestEndEvent): void {
    const request = message.context.get(this.#key);
    if (request === undefined || request.ended) return;
    request.ended = true;
    const { span } = request;
    const { statusCode, error } = message;
    span.setAttribute(attrAttempts, message.attempts);
    if (statusCode !== undefined) span.setAttribute(attrStatusCode, statusCode);
    if (statusCode !== undefined && statusCode >= 400) setError(span, String(statusCode));
    else if (error !== undefined && !isCallerAbort(error, message.context)) setError(span, errorType(error));
    // The same time source as the attempts' spans, so that children never seem to outlive their parent.
    span.end(performance.now());
  }

  #retry(message: RetryEvent): void {
    const request = message.context.get(this.#key);
    const type = errorType(message.error);
    request?.addEvent(eventRetry, {
      [attrAttempt]: message.attempt,
      [attrDelayMs]: message.delayMs,
      [attrErrorType]: type,
    });
    this.#instruments.retries.add(1, { ...request?.common, [attrErrorType]: type });
  }

  #giveUp(message: GiveUpEvent): void {
    message.context.get(this.#key)?.addEvent(eventGiveUp, {
      [attrAttempt]: message.attempt,
      [attrGiveUpReason]: message.reason,
    });
  }

  #timeout(message: TimeoutEvent): void {
    const request = message.context.get(this.#key);
    request?.addEvent(eventTimeout, { [attrTimeoutMs]: message.timeoutMs });
    this.#instruments.timeouts.add(1, { ...request?.common, [attrTimeoutMs]: message.timeoutMs });
  }

  #breakerReject(message: CircuitRejectEvent): void {
    const request = message.context.get(this.#key);
    const reason = `circuit_${message.state.replace('-', '_')}`;
    request?.addEvent(eventBreakerReject, {
      [attrBreakerState]: message.state,
      [attrRetryAfterMs]: message.error.retryAfterMs,
    });
    this.#instruments.rejections.add(1, { ...request?.common, [attrRejectionReason]: reason });
  }

  #stateChange(message: CircuitStateChangeEvent): void {
    const request = message.context?.get(this.#key);
    const attributes = { [attrBreakerState]: message.to, [attrBreakerPreviousState]: message.from };
    request?.addEvent(eventBreakerStateChange, attributes);
    this.#instruments.stateChanges.add(1, { ...request?.common, ...attributes });
  }

  #bulkheadReject(message: BulkheadRejectEvent): void {
    const request = message.context.get(this.#key);
    const reason = `bulkhead_${message.reason.replace('-', '_')}`;
    request?.addEvent(eventBulkheadReject, { [attrRejectionReason]: reason });
    this.#instruments.rejections.add(1, { ...request?.common, [attrRejectionReason]: reason });
  }

  #bulkheadQueue(message: BulkheadQueueEvent): void {
    message.context.get(this.#key)?.addEvent(eventBulkheadQueue, { [attrQueued]: message.queued });
  }

  #fallback(message: FallbackEvent | FallbackServedEvent, kind: 'value' | 'cache'): void {
    const request = message.context?.get(this.#key);
    const attributes: Attributes = { [attrFallbackKind]: kind, [attrErrorType]: errorType(message.error) };
    if ('reason' in message) {
      attributes[attrFallbackReason] = message.reason;
      attributes[attrFallbackStale] = message.stale;
    }
    request?.addEvent(eventFallback, attributes);
    this.#instruments.fallbacks.add(1, { ...request?.common, ...attributes });
  }
}
