// Attribute, event and metric names. The `http.*`, `server.*`, `url.*` and `error.type` ones are the stable
// OpenTelemetry HTTP semantic conventions; `breakwater.*` are this package's own.

export const attrMethod = 'http.request.method';
export const attrMethodOriginal = 'http.request.method_original';
export const attrResendCount = 'http.request.resend_count';
export const attrStatusCode = 'http.response.status_code';
export const attrServerAddress = 'server.address';
export const attrServerPort = 'server.port';
export const attrUrlFull = 'url.full';
export const attrErrorType = 'error.type';

export const attrAttempts = 'breakwater.http.attempts';
export const attrAttempt = 'breakwater.attempt';
export const attrDelayMs = 'breakwater.retry.delay_ms';
export const attrGiveUpReason = 'breakwater.retry.give_up_reason';
export const attrTimeoutMs = 'breakwater.timeout.ms';
export const attrBreakerState = 'breakwater.circuit_breaker.state';
export const attrBreakerPreviousState = 'breakwater.circuit_breaker.previous_state';
export const attrRetryAfterMs = 'breakwater.retry_after_ms';
export const attrRejectionReason = 'breakwater.rejection.reason';
export const attrQueued = 'breakwater.bulkhead.queued';
export const attrFallbackKind = 'breakwater.fallback.kind';
export const attrFallbackReason = 'breakwater.fallback.reason';
export const attrFallbackStale = 'breakwater.fallback.stale';

export const eventRetry = 'breakwater.retry';
export const eventGiveUp = 'breakwater.retry.give_up';
export const eventTimeout = 'breakwater.timeout';
export const eventBreakerReject = 'breakwater.circuit_breaker.reject';
export const eventBreakerStateChange = 'breakwater.circuit_breaker.state_change';
export const eventBulkheadReject = 'breakwater.bulkhead.reject';
export const eventBulkheadQueue = 'breakwater.bulkhead.queue';
export const eventFallback = 'breakwater.fallback';
export const eventIdempotentReplay = 'breakwater.idempotency.replayed';

export const metricRequestDuration = 'http.client.request.duration';
export const metricRetries = 'breakwater.retries';
export const metricStateChanges = 'breakwater.circuit_breaker.state_changes';
export const metricRejections = 'breakwater.rejections';
export const metricTimeouts = 'breakwater.timeouts';
export const metricFallbacks = 'breakwater.fallbacks';

/** The semantic conventions' advice for `http.client.request.duration`, in seconds. */
export const durationBuckets: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
]);
