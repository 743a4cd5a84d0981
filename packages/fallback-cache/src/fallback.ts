import {
  BasePolicy,
  type Context,
  callOperation,
  describeValue,
  diagnosticsChannelName,
  type Event,
  EventEmitter,
  type ExecutionContext,
  functionOption,
  handleAll,
  type Operation,
  readOptions,
  type ShouldHandle,
  shouldHandleError,
} from '@breakwater/core';

/** Computes the fallback value from the failure: `(error, context) => value`. */
export type FallbackFunction<V> = (error: unknown, context: Context) => V | PromiseLike<V>;

/** Options of {@link fallback}. */
export interface FallbackOptions<V> {
  /**
   * What a handled failure is replaced with: a value, or a function of the failure that returns (or resolves
   * to) the value. A function is always called, never returned as the value. If it throws, the call rejects
   * with that error. Required.
   */
  value: V | FallbackFunction<V>;
  /**
   * Which failures are replaced. The caller's own abort never is, whatever this returns.
   * @default every failure (`handleAll`)
   */
  shouldHandle?: ShouldHandle | undefined;
}

/** Payload of {@link FallbackPolicy.onFallback}. */
export interface FallbackEvent {
  /** The context of the call that failed. */
  readonly context: Context;
  /** The failure being replaced. */
  readonly error: unknown;
}

const policyName = 'fallback';

/**
 * Replaces a handled failure with a fallback value. The value stands in for the operation's result, so give
 * it the operation's type: `fallback<Response>({ value: () => Response.json([]) })`.
 */
export class FallbackPolicy<V = unknown> extends BasePolicy {
  /** Emitted before the fallback value is computed. Channel: `breakwater:fallback:fallback`. */
  readonly onFallback: Event<FallbackEvent>;
  readonly #value: V | FallbackFunction<V>;
  readonly #isFunction: boolean;
  readonly #shouldHandle: ShouldHandle;
  readonly #onFallback = new EventEmitter<FallbackEvent>(diagnosticsChannelName(policyName, 'fallback'));

  constructor(value: V | FallbackFunction<V>, shouldHandle: ShouldHandle) {
    super();
    this.#value = value;
    this.#isFunction = typeof value === 'function';
    this.#shouldHandle = shouldHandle;
    this.onFallback = this.#onFallback.event;
  }

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    return callOperation(fn, context).then(undefined, (error: unknown) => this.#recover(error, context));
  }

  #recover<T>(error: unknown, context: ExecutionContext): T | PromiseLike<T> {
    if (!shouldHandleError(this.#shouldHandle, error, context)) throw error;
    if (this.#onFallback.active) this.#onFallback.emit({ context, error });
    if (!this.#isFunction) return this.#value as unknown as T;
    return (this.#value as FallbackFunction<V>)(error, context) as unknown as T | PromiseLike<T>;
  }
}

/**
 * A policy that answers a handled failure with a fallback value instead of the error; the caller's own
 * abort is always rethrown.
 *
 * @example
 * ```ts
 * const withDefault = fallback({ value: () => Response.json({ items: [] }) });
 * const res = await withDefault.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function fallback<V>(options: FallbackOptions<V>): FallbackPolicy<V> {
  const read = readOptions(policyName, options, ['value', 'shouldHandle']);
  if (!('value' in read)) {
    throw new TypeError(
      `${policyName}: value is required (the fallback value, or a function (error, context) => value), received ${describeValue(read.value)}`,
    );
  }
  const shouldHandle = functionOption<ShouldHandle>(policyName, 'shouldHandle', read.shouldHandle, handleAll);
  return new FallbackPolicy<V>(read.value as V | FallbackFunction<V>, shouldHandle);
}
