import {
  BasePolicy,
  type Clock,
  type Context,
  callOperation,
  clockOption,
  diagnosticsChannelName,
  durationOption,
  type Event,
  EventEmitter,
  type ExecutionContext,
  type FastPath,
  type Operation,
  oneOfOption,
  readOptions,
  TimeoutError,
} from '@breakwater/core';
import { type DeadlineEntry, DeadlineQueue } from './deadline-queue.js';

/**
 * How a timeout treats an operation that is still running when its time is up.
 * - `'cooperative'`: abort `ctx.signal` and wait for the operation to settle (it should, once it sees the
 *   abort); a failure after that becomes the `TimeoutError`.
 * - `'aggressive'`: abort `ctx.signal` and reject with the `TimeoutError` at once, even if the operation ignores
 *   its signal; the operation keeps running in the background.
 */
export type TimeoutStrategy = 'cooperative' | 'aggressive';

/** Options of {@link timeout}. */
export interface TimeoutOptions {
  /** How long each call may run, in milliseconds: a number > 0 and <= 2147483647 (Node's timer limit). */
  ms: number;
  /**
   * What happens when the time is up and the operation has not settled; see {@link TimeoutStrategy}.
   * @default 'cooperative'
   */
  strategy?: TimeoutStrategy | undefined;
  /**
   * Source of time and timers; the deadline set on the context is in this clock's time.
   * @default systemClock (performance.now() and unref'd global timers)
   */
  clock?: Clock | undefined;
}

/** Payload of {@link TimeoutPolicy.onTimeout}. */
export interface TimeoutEvent {
  /** The context of the call that timed out; its signal is now aborted with the `TimeoutError`. */
  readonly context: Context;
  /** The timeout that fired, in milliseconds. */
  readonly timeoutMs: number;
}

/** Node turns longer timer delays into 1 ms, so a longer timeout could never work. */
const maxTimerDelayMs = 2_147_483_647;

/** An aggressive call: it must be rejected from the timer, so it carries its promise's `reject`. */
class AggressiveCall {
  readonly forked: ExecutionContext;
  readonly parent: ExecutionContext;
  readonly reject: (error: unknown) => void;

  constructor(forked: ExecutionContext, parent: ExecutionContext, reject: (error: unknown) => void) {
    this.forked = forked;
    this.parent = parent;
    this.reject = reject;
  }
}

type Call = ExecutionContext | AggressiveCall;

/**
 * A policy that limits how long each call may run. It forks the context with a deadline (`ctx.deadline`, never
 * later than an enclosing one) and, when its own time is up, aborts the fork's `ctx.signal` with a
 * `TimeoutError`. The caller's own abort, or an enclosing timeout, is passed on as is. All calls of one policy
 * share one timer: their deadlines arrive in order, so starting and finishing a call is O(1) and arms no timer.
 */
export class TimeoutPolicy extends BasePolicy {
  /** The timeout, in milliseconds. */
  readonly timeoutMs: number;
  /** What happens to an operation that outlives the timeout. */
  readonly strategy: TimeoutStrategy;
  /**
   * Emitted when a call's time is up, before its signal aborts. Channel: `breakwater:timeout:timeout`.
   * Not emitted when the call's signal had already aborted for another reason (caller, enclosing timeout).
   */
  readonly onTimeout: Event<TimeoutEvent>;
  readonly #queue: DeadlineQueue<Call>;
  readonly #onTimeout = new EventEmitter<TimeoutEvent>(diagnosticsChannelName('timeout', 'timeout'));

  /**
   * Admits every call of a cooperative timeout: its ticket is its deadline's entry, which holds the forked
   * context. An aggressive timeout has none: it must reject from its timer, which takes a promise of its own.
   */
  override readonly fastPath: FastPath<DeadlineEntry<ExecutionContext>> | undefined;

  constructor(timeoutMs: number, strategy: TimeoutStrategy, clock: Clock) {
    super();
    this.timeoutMs = timeoutMs;
    this.strategy = strategy;
    this.#queue = new DeadlineQueue(clock, timeoutMs, (item) => this.#expire(item));
    this.onTimeout = this.#onTimeout.event;
    this.fastPath =
      strategy === 'aggressive'
        ? undefined
        : {
            enter: (context) => this.#enter(context),
            contextInside: (entry) => entry.item,
            succeeded: (entry) => this.#leave(entry),
            failed: (entry, context, error) => {
              this.#leave(entry);
              throw this.#failure(error, context, entry.item);
            },
          };
  }

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    if (this.strategy === 'aggressive') return this.#runAggressive(fn, context);
    const entry = this.#enter(context);
    return callOperation(fn, entry.item).then(
      (value) => {
        this.#leave(entry);
        return value;
      },
      (error: unknown) => {
        this.#leave(entry);
        throw this.#failure(error, context, entry.item);
      },
    );
  }

  /** Starts a cooperative call: queues it, and forks the context with the queue entry as its deadline. */
  #enter(context: ExecutionContext): DeadlineEntry<ExecutionContext> {
    const entry = this.#queue.add(context) as DeadlineEntry<ExecutionContext>;
    entry.item = context.fork(entry);
    return entry;
  }

  /** Ends a cooperative call once its work settled. */
  #leave(entry: DeadlineEntry<ExecutionContext>): void {
    this.#queue.delete(entry);
    entry.item.release();
  }

  /**
   * Rejects from the timer, without waiting for the operation. The operation runs on unobserved: its result is
   * dropped and its failure handled, so it can never surface as an unhandled rejection.
   */
  #runAggressive<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const queue = this.#queue;
      const entry = queue.add(context);
      const forked = context.fork(entry);
      entry.item = new AggressiveCall(forked, context, reject);
      // After the timer rejected, these settle nothing: only the fork's release still matters.
      callOperation(fn, forked).then(
        (value) => {
          queue.delete(entry);
          forked.release();
          resolve(value);
        },
        (error: unknown) => {
          queue.delete(entry);
          forked.release();
          reject(error);
        },
      );
    });
  }

  /**
   * What a failed operation rejects with: the timeout's own `TimeoutError` when this policy aborted it (with the
   * operation's error as `cause` if it is another error), otherwise the operation's error as is.
   */
  #failure(error: unknown, context: ExecutionContext, forked: ExecutionContext): unknown {
    // Only this policy aborts the fork; if the parent did not abort, the abort was this policy's timer.
    if (!forked.aborted || context.aborted) return error;
    const timeoutError = forked.abortReason as TimeoutError;
    if (error !== timeoutError && timeoutError.cause === undefined) {
      Object.defineProperty(timeoutError, 'cause', { value: error, writable: true, configurable: true });
    }
    return timeoutError;
  }

  #expire(item: Call): void {
    if (item instanceof AggressiveCall) {
      if (item.parent.aborted) {
        item.reject(item.parent.abortReason);
        return;
      }
      item.reject(this.#abort(item.forked));
    } else if (!item.aborted) {
      this.#abort(item);
    }
  }

  #abort(forked: ExecutionContext): TimeoutError {
    const error = new TimeoutError(this.timeoutMs);
    if (this.#onTimeout.active) this.#onTimeout.emit({ context: forked, timeoutMs: this.timeoutMs });
    forked.abort(error);
    return error;
  }
}

/**
 * Limits how long each call may run; `timeout(ms)` is short for `timeout({ ms })`.
 *
 * @example
 * ```ts
 * const policy = timeout(2_000);
 * const res = await policy.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function timeout(options: TimeoutOptions | number): TimeoutPolicy {
  const read =
    typeof options === 'number'
      ? { ms: options }
      : readOptions('timeout', options, ['ms', 'strategy', 'clock']);
  if (read.ms === undefined) throw new TypeError('timeout: ms is required (a number of milliseconds > 0)');
  const ms = durationOption('timeout', 'ms', read.ms, 0, {
    min: 0,
    minExclusive: true,
    max: maxTimerDelayMs,
  });
  const strategy = oneOfOption(
    'timeout',
    'strategy',
    read.strategy,
    ['cooperative', 'aggressive'],
    'cooperative',
  );
  return new TimeoutPolicy(ms, strategy, clockOption('timeout', read.clock));
}
