export type { Backoff, BackoffInput } from './backoff.js';
export { ConstantBackoff, constantBackoff } from './constant-backoff.js';
export {
  ExponentialBackoff,
  type ExponentialBackoffOptions,
  exponentialBackoff,
  type Jitter,
} from './exponential-backoff.js';
export {
  type GiveUpEvent,
  type GiveUpReason,
  type RetryEvent,
  type RetryOptions,
  RetryPolicy,
  retry,
} from './retry.js';
export {
  type RetryBudget,
  type RetryBudgetOptions,
  retryBudget,
  WindowedRetryBudget,
} from './retry-budget.js';
