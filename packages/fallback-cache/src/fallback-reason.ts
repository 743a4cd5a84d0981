import { BrokenCircuitError, BulkheadRejectedError, TimeoutError } from '@breakwater/core';
import { HttpStatusError, isNetworkError } from '@breakwater/http';
import type { FallbackCacheSettings } from './fallback-cache-options.js';

/**
 * Why a stored response was served: the live call ended with a failure status, a transport failure
 * (connection refused or reset, DNS, undici socket errors), a timeout, an open circuit or a full bulkhead.
 */
export type FallbackReason = 'status' | 'network' | 'timeout' | 'circuit-open' | 'bulkhead-full';

/** The reason a failure may be answered from the cache, or `undefined` when it must pass through. */
export function fallbackReason(error: unknown, settings: FallbackCacheSettings): FallbackReason | undefined {
  if (error instanceof HttpStatusError) {
    return settings.failureStatuses[error.status] === 1 ? 'status' : undefined;
  }
  if (error instanceof TimeoutError) return 'timeout';
  if (error instanceof BrokenCircuitError) return 'circuit-open';
  if (error instanceof BulkheadRejectedError) {
    return settings.serveOnBulkheadRejection ? 'bulkhead-full' : undefined;
  }
  return isNetworkError(error) ? 'network' : undefined;
}
