export type { CacheRequest } from './cache-request.js';
export {
  type FallbackEvent,
  type FallbackFunction,
  type FallbackOptions,
  FallbackPolicy,
  fallback,
} from './fallback.js';
export { FallbackCachePolicy, fallbackCache } from './fallback-cache.js';
export type { FallbackServedEvent, StoreEvent } from './fallback-cache-core.js';
export {
  defaultStoredHeaders,
  type FallbackCacheBaseOptions,
  type FallbackCacheInterceptorOptions,
  type FallbackCacheOptions,
  validateFallbackCacheOptions,
} from './fallback-cache-options.js';
export { type FallbackInfo, fallbackInfo } from './fallback-info.js';
export type { FallbackReason } from './fallback-reason.js';
export { type FallbackCacheInterceptor, fallbackCacheInterceptor } from './interceptor.js';
