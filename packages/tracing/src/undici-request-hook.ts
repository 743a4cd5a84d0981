import { context as contextApi, createContextKey, type Span } from '@opentelemetry/api';
import { attrResendCount, attrUrlFull } from './attributes.js';

/** What an attempt sent with `clientSpans: 'undici'` tells the hook, through the OpenTelemetry context. */
export interface UndiciAttempt {
  /** 1 for the first attempt, 2 for the first resend, ... */
  readonly attempt: number;
  /** The request's `url.full`, redacted. */
  readonly url: string;
}

/** Where the attempt's details ride in the OpenTelemetry context while it is sent. */
export const undiciAttemptKey: symbol = createContextKey('breakwater undici attempt');

/**
 * A `requestHook` for `@opentelemetry/instrumentation-undici` that completes its CLIENT spans of requests
 * sent by breakwater (`enableTracing({ clientSpans: 'undici' })`): it sets `http.request.resend_count` on
 * resends and replaces `url.full` and `url.query` with their redacted forms (the instrumentation records
 * presigned URLs' signatures as they are). Other requests' spans are left alone.
 *
 * @example
 * ```ts
 * new UndiciInstrumentation({ requestHook: undiciRequestHook });
 * enableTracing({ clientSpans: 'undici' });
 * ```
 */
export function undiciRequestHook(span: Span, _request: unknown): void {
  const attempt = contextApi.active().getValue(undiciAttemptKey) as UndiciAttempt | undefined;
  if (attempt === undefined) return;
  if (attempt.attempt > 1) span.setAttribute(attrResendCount, attempt.attempt - 1);
  const url = attempt.url;
  span.setAttribute(attrUrlFull, url);
  const queryStart = url.indexOf('?');
  if (queryStart !== -1) {
    const fragment = url.indexOf('#', queryStart);
    span.setAttribute('url.query', url.slice(queryStart, fragment === -1 ? url.length : fragment));
  }
}
