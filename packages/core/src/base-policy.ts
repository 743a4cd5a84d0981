import { ExecutionContext } from './context.js';
import type { FastPath } from './fast-path.js';
import type { ExecuteOptions, Operation, Policy } from './policy.js';
import { raceAbort } from './race-abort.js';
import { describeValue } from './validation.js';

/**
 * The base of every breakwater policy. It turns a caller's `execute(fn, options)` into `run(fn, context)` on a
 * new execution context, and passes an enclosing policy's context straight through, so that a pipeline's
 * policies share one context (deadline, attempt, shared data) at the cost of one method call each.
 */
export abstract class BasePolicy implements Policy {
  /**
   * How a pipeline runs this policy without a promise of its own, for policies that can admit a call
   * synchronously; see {@link FastPath}. Callers never need it.
   */
  readonly fastPath: FastPath<unknown> | undefined;

  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    if (options === undefined && typeof fn === 'function') {
      // The most common call, checked first: nothing to validate, no signal to race.
      try {
        return this.run(fn, ExecutionContext.create());
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (ExecutionContext.is(options)) {
      try {
        return this.run(fn, options);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.#executeRoot(fn, options);
  }

  /** Applies this policy to `fn` within `context`. May throw synchronously; `execute` turns that into a rejection. */
  protected abstract run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T>;

  #executeRoot<T>(fn: Operation<T>, options: ExecuteOptions | undefined): Promise<T> {
    if (typeof fn !== 'function') {
      return Promise.reject(new TypeError(`execute: fn must be a function, received ${describeValue(fn)}`));
    }
    const signal = options?.signal;
    if (signal !== undefined) {
      if (!(signal instanceof AbortSignal)) {
        return Promise.reject(
          new TypeError(`execute: options.signal must be an AbortSignal, received ${describeValue(signal)}`),
        );
      }
      if (signal.aborted) return Promise.reject(signal.reason);
    }
    const key = options?.key;
    if (key !== undefined && typeof key !== 'string') {
      return Promise.reject(
        new TypeError(`execute: options.key must be a string, received ${describeValue(key)}`),
      );
    }
    let promise: Promise<T>;
    try {
      promise = this.run(fn, ExecutionContext.create(options));
    } catch (error) {
      promise = Promise.reject(error);
    }
    return signal === undefined ? promise : raceAbort(promise, signal);
  }
}

/** Calls an operation and always returns a promise, even when it throws synchronously or returns a value. */
export function callOperation<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
  try {
    return Promise.resolve(fn(context));
  } catch (error) {
    return Promise.reject(error);
  }
}
