export { type ClientSpans, enableTracing, type TracingOptions } from './enable-tracing.js';
export { defaultSensitiveQueryParameters, redactUrl } from './redact-url.js';
export { undiciRequestHook } from './undici-request-hook.js';
