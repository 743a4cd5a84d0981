export type {
  HttpAttemptEndEvent,
  HttpAttemptStartEvent,
  HttpRequestEndEvent,
  HttpRequestStartEvent,
  HttpScope,
} from './channels.js';
export { discardBody } from './discard-body.js';
export { dispatchHeaderReader } from './dispatch-headers.js';
export {
  defaultFailureStatuses,
  handleHttpFailures,
  handleRetryableHttpFailures,
  isHttpFailure,
  isNetworkError,
} from './failures.js';
export { HttpStatusError } from './http-status-error.js';
export { resilience } from './interceptor.js';
export type { CustomPipelineOptions, HttpBehaviourOptions, ResilienceOptions } from './options.js';
export {
  type HttpHeaderReader,
  type HttpRequestInfo,
  httpRequestKey,
  isIdempotentMethod,
} from './request-info.js';
export { type FetchFunction, type ResilientFetchOptions, resilientFetch } from './resilient-fetch.js';
export { maxRetryAfterMs, parseRetryAfter } from './retry-after.js';
export { type StandardPipelineOptions, standardPipeline } from './standard-pipeline.js';
