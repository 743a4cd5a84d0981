export {
  type TimeoutEvent,
  type TimeoutOptions,
  TimeoutPolicy,
  type TimeoutStrategy,
  timeout,
} from './timeout.js';
