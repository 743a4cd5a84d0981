import type { ExecutionContext } from './context.js';
import type { Operation } from './policy.js';

/**
 * Receives the outcome of a call: `failed` is false with the value, true with the error. Called exactly once.
 */
export type Settle = (failed: boolean, outcome: unknown) => void;

/**
 * An operation that reports its outcome by calling `settle`, now or later, instead of returning a promise.
 * Transports that complete by callback (undici's dispatch handlers) use it to run a pipeline without making a
 * promise per call. As with a promise, only the first call of `settle` counts, and a throw before it is the
 * operation's failure.
 */
export type SettlingOperation = (context: ExecutionContext, settle: Settle) => void;

/** Calls `settle` with the outcome of `promise`. */
export function settleWith(promise: PromiseLike<unknown>, settle: Settle): void {
  promise.then(
    (value) => settle(false, value),
    (error: unknown) => settle(true, error),
  );
}

/** `operation` as an {@link Operation}, for the policies that run it through a promise. */
export function settlingAsOperation(operation: SettlingOperation): Operation<unknown> {
  return (context) =>
    new Promise((resolve, reject) => {
      operation(context as ExecutionContext, (failed, outcome) => {
        if (failed) reject(outcome);
        else resolve(outcome);
      });
    });
}
