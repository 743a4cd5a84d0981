import { type ContextKey, contextKey } from '@breakwater/core';

/** Read access to request headers, the part of `Headers` other packages need (names are case-insensitive). */
export interface HttpHeaderReader {
  get(name: string): string | null;
  has(name: string): boolean;
}

/** The request an HTTP pipeline is running, as other policies (tracing, fallback cache) see it. */
export interface HttpRequestInfo {
  /** Upper-case method, e.g. `GET`. */
  readonly method: string;
  /** The absolute URL. */
  readonly url: string;
  /** `scheme://host:port`: the pipeline's partition key. */
  readonly origin: string;
  /** The request headers as sent. */
  readonly headers: HttpHeaderReader;
  /**
   * Whether the request may be sent more than once: its method is idempotent (or it carries an
   * `Idempotency-Key` that the target honours) and its body can be replayed.
   */
  readonly retryable: boolean;
}

/**
 * The context key under which `resilientFetch` and the `resilience()` interceptor store the
 * {@link HttpRequestInfo} of the request, before any policy runs:
 * `context.get(httpRequestKey)?.url`.
 */
export const httpRequestKey: ContextKey<HttpRequestInfo> =
  contextKey<HttpRequestInfo>('breakwater.http.request');

const idempotentMethods: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'PUT',
  'DELETE',
  'TRACE',
  'QUERY',
]);

/** Whether a method is idempotent (RFC 9110 §9.2.2, plus QUERY): such requests may be retried. */
export function isIdempotentMethod(method: string): boolean {
  return idempotentMethods.has(method);
}

/** `method` in upper case; the usual methods, already upper case, are returned as they are (no copy). */
export function upperCaseMethod(method: string): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'POST':
    case 'PUT':
    case 'DELETE':
    case 'PATCH':
    case 'OPTIONS':
      return method;
    default:
      return method.toUpperCase();
  }
}
