import { BreakwaterError, type BreakwaterErrorOptions } from '@breakwater/core';

/**
 * A response whose status counts as a failure (by default 408, 429, 500, 502, 503, 504), thrown inside the
 * pipeline so that retry and circuit breaker see it. Callers only see it when they ask for it
 * (`throwOnStatus: true`); otherwise they get the last response back.
 */
export class HttpStatusError extends BreakwaterError {
  static override readonly code: string = 'ERR_BREAKWATER_HTTP_STATUS';
  /** The response status code. */
  readonly status: number;
  /**
   * How long the server asked the client to wait (`Retry-After`, delta-seconds or HTTP-date), in
   * milliseconds; `undefined` when the response carried no valid `Retry-After`. Retry never waits less.
   */
  readonly retryAfterMs: number | undefined;
  /**
   * The failed response, body unread, when it came from `resilientFetch`; `undefined` from the undici
   * interceptor (whose response is delivered to the handler instead). Consume or cancel its body.
   */
  readonly response: Response | undefined;

  constructor(
    status: number,
    retryAfterMs: number | undefined,
    response: Response | undefined,
    options?: BreakwaterErrorOptions,
  ) {
    super(`HTTP ${status} counts as a failure`, options);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
    this.response = response;
  }
}
