import type { HttpHeaderReader } from '@breakwater/http';

/**
 * The request a fallback cache stores for or serves, as `principal` sees it. `resilientFetch` passes its
 * `HttpRequestInfo`, the interceptor an equivalent view of the dispatch options.
 */
export interface CacheRequest {
  /** Upper-case method, e.g. `GET`. */
  readonly method: string;
  /** The absolute URL. */
  readonly url: string;
  /** The request headers as sent (names are case-insensitive). */
  readonly headers: HttpHeaderReader;
}
