export { BasePolicy, callOperation } from './base-policy.js';
export { callIsolated } from './call-isolated.js';
export { type AbortWatcher, neverAbortedSignal } from './cancellation-scope.js';
export { type Clock, systemClock, unrefTimer } from './clock.js';
export { type Context, type DeadlineSource, ExecutionContext } from './context.js';
export { type ContextKey, contextKey } from './context-key.js';
export {
  BreakwaterError,
  type BreakwaterErrorOptions,
  BrokenCircuitError,
  BulkheadRejectedError,
  IsolatedCircuitError,
  isBreakwaterError,
  TimeoutError,
} from './errors.js';
export { diagnosticsChannelName, type Event, EventEmitter, type Subscription } from './events.js';
export { executeSettling } from './execute-settling.js';
export type { FastPath } from './fast-path.js';
export { type KeyedOptions, KeyedPolicy, keyed } from './keyed.js';
export { handleAll, isCallerAbort, type Outcome, type ShouldHandle, shouldHandleError } from './outcome.js';
export { Pipeline, pipeline } from './pipeline.js';
export type { ExecuteOptions, Operation, Policy } from './policy.js';
export { raceAbort } from './race-abort.js';
export type { Settle, SettlingOperation } from './settling.js';
export { TimerQueue, type TimerQueueEntry } from './timer-queue.js';
export {
  booleanOption,
  clockOption,
  describeValue,
  durationOption,
  functionOption,
  integerOption,
  type NumberBounds,
  numberOption,
  oneOfOption,
  readOptions,
} from './validation.js';
