import type { Hit } from './fallback-cache-core.js';
import type { FallbackReason } from './fallback-reason.js';

/** What {@link fallbackInfo} tells about a response the fallback cache served. */
export interface FallbackInfo {
  /** Whether it was past its freshness lifetime. */
  readonly stale: boolean;
  /** Its age when served, in seconds (the `Age` it carries). */
  readonly ageSeconds: number;
  /** Why the live call counted as failed. */
  readonly reason: FallbackReason;
  /** The failure it stands in for (an `HttpStatusError`, a network error, a `TimeoutError`, ...). */
  readonly error: unknown;
}

const served = new WeakMap<object, FallbackInfo>();

/**
 * Whether a response came from the fallback cache instead of the origin, and why: `undefined` for a live
 * response. The response also says so on the wire, in `Cache-Status` and `Age`.
 */
export function fallbackInfo(response: object): FallbackInfo | undefined {
  return served.get(response);
}

/** Marks a served response. */
export function recordFallback(response: object, hit: Hit, reason: FallbackReason, error: unknown): void {
  served.set(response, Object.freeze({ stale: hit.stale, ageSeconds: hit.ageSeconds, reason, error }));
}
