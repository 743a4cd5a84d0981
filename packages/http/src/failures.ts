import { type ShouldHandle, TimeoutError } from '@breakwater/core';
import { HttpStatusError } from './http-status-error.js';
import { httpRequestKey } from './request-info.js';

/** The statuses that count as failures by default: the transient ones (RFC 9110 and the .NET standard handler). */
export const defaultFailureStatuses: readonly number[] = Object.freeze([408, 429, 500, 502, 503, 504]);

/**
 * Error codes of transport failures that say nothing about the request itself, so another attempt (or
 * another moment) may succeed: Node socket and DNS errors and undici's transport errors.
 */
const transientCodes: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETDOWN',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

/**
 * Whether `error` is a transport failure: a Node socket or DNS error, an undici `UND_ERR_*` transport error,
 * or a `fetch failed` TypeError (or AggregateError of dual-stack connects) caused by one. Aborts,
 * invalid arguments and other programming errors are not.
 */
export function isNetworkError(error: unknown): boolean {
  for (let depth = 0; depth < 8 && typeof error === 'object' && error !== null; depth++) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && transientCodes.has(code)) return true;
    if (error instanceof AggregateError && error.errors.some((inner) => isNetworkError(inner))) return true;
    error = (error as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Whether `error` is an HTTP failure worth counting against an upstream's health: a failure status
 * ({@link HttpStatusError}), a transport failure ({@link isNetworkError}) or a timeout.
 */
export function isHttpFailure(error: unknown): boolean {
  return error instanceof HttpStatusError || error instanceof TimeoutError || isNetworkError(error);
}

/**
 * `shouldHandle` for a circuit breaker in an HTTP pipeline: counts failure statuses, transport failures and
 * timeouts; other errors (4xx other than 408/429 never reach it: they are plain responses) do not count.
 */
export const handleHttpFailures: ShouldHandle = ({ error }) => isHttpFailure(error);

/**
 * `shouldHandle` for a retry in an HTTP pipeline: an HTTP failure ({@link isHttpFailure}) of a request that
 * may be sent again (see `HttpRequestInfo.retryable`: idempotent method or an honoured Idempotency-Key, and
 * a replayable body).
 */
export const handleRetryableHttpFailures: ShouldHandle = ({ error, context }) =>
  isHttpFailure(error) && context.get(httpRequestKey)?.retryable !== false;
