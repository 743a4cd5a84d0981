import type { Context } from './context.js';

/** The work a policy runs: called once per attempt with that attempt's context. */
export type Operation<T> = (context: Context) => T | PromiseLike<T>;

/** Per-call options of {@link Policy.execute}. */
export interface ExecuteOptions {
  /**
   * Caller cancellation. When it aborts, the call rejects at once with `signal.reason`, and the operation
   * sees the abort through `context.signal`.
   */
  signal?: AbortSignal | undefined;
  /** Partition key, e.g. an HTTP origin. {@link keyed} uses it to pick the per-key policy. */
  key?: string | undefined;
}

/** A resilience policy: runs an operation and applies its behaviour (retry, timeout, breaker, ...) around it. */
export interface Policy {
  /**
   * Runs `fn` under this policy. Failures are thrown errors; the returned promise settles with the
   * operation's value or with the error the policy decided on.
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T>;
}
