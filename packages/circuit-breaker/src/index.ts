export type { BreakBackoff, BreakBackoffInput } from './break-backoff.js';
export type { Breaker, BreakerCounter } from './breaker.js';
export {
  type CircuitBreakEvent,
  type CircuitBreakerOptions,
  CircuitBreakerPolicy,
  type CircuitRejectEvent,
  type CircuitStateChangeEvent,
  type CircuitTransitionEvent,
  circuitBreaker,
  type IsolationHandle,
} from './circuit-breaker.js';
export { type ConsecutiveFailuresSnapshot, consecutiveFailures } from './consecutive-failures.js';
export { type FailureRateOptions, type FailureRateSnapshot, failureRate } from './failure-rate.js';
export type { CircuitBreakerSnapshot, CircuitState } from './snapshot.js';
