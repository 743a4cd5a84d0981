import { AsyncLocalStorage } from 'node:async_hooks';
import {
  BasePolicy,
  BulkheadRejectedError,
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
  integerOption,
  neverAbortedSignal,
  type Operation,
  readOptions,
  TimerQueue,
  type TimerQueueEntry,
} from '@breakwater/core';

/** Options of {@link bulkhead}. */
export interface BulkheadOptions {
  /** How many calls may run at once. An integer >= 1; required. */
  limit: number;
  /**
   * How many calls may wait for a running slot, in arrival order. Calls beyond `limit + queue` are rejected at
   * once with a `BulkheadRejectedError`.
   * @default 0
   */
  queue?: number | undefined;
  /**
   * The longest a call waits in the queue, in milliseconds, before it is rejected with a
   * `BulkheadRejectedError`. Only meaningful with `queue > 0`. `Infinity` means a queued call waits until a
   * slot frees up or its signal aborts (the caller's, or an enclosing timeout's).
   * @default Infinity
   */
  queueTimeoutMs?: number | undefined;
  /** The clock of the queue timeout. @default systemClock */
  clock?: Clock | undefined;
}

/** Why a bulkhead rejected a call. */
export type BulkheadRejectReason = 'full' | 'queue-timeout';

/** Payload of {@link BulkheadPolicy.onReject}. */
export interface BulkheadRejectEvent {
  /** The context of the rejected call. */
  readonly context: Context;
  /** `'full'`: every slot and queue place was taken; `'queue-timeout'`: it waited `queueTimeoutMs` in vain. */
  readonly reason: BulkheadRejectReason;
}

/** Payload of {@link BulkheadPolicy.onQueue}. */
export interface BulkheadQueueEvent {
  /** The context of the call that has to wait. */
  readonly context: Context;
  /** How many calls wait now, this one included. */
  readonly queued: number;
}

/** A queued call, linked into the bulkhead's FIFO; it listens to its signal so it can leave early. */
interface Waiter {
  readonly fn: Operation<unknown>;
  readonly context: ExecutionContext;
  readonly resolve: (value: Promise<unknown>) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal;
  /** Runs a function in the async context the call queued in, not in that of the call that freed its slot. */
  readonly inQueuedContext: <R>(fn: () => R) => R;
  handleEvent(): void;
  deadline: TimerQueueEntry | undefined;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

const policyName = 'bulkhead';
/** Node turns longer timer delays into 1 ms. */
const maxTimerDelayMs = 2_147_483_647;

/**
 * A concurrency limit with a bounded FIFO queue. The running slot of a call is held until the operation's own
 * promise settles, even when an enclosing timeout stopped waiting for it long before: a bulkhead inside an
 * aggressive timeout never lets more than `limit` operations run.
 */
export class BulkheadPolicy extends BasePolicy {
  /** The concurrency limit. */
  readonly limit: number;
  /** The queue size. */
  readonly queue: number;
  readonly #queueTimeoutMs: number;
  readonly #clock: Clock;
  readonly #deadlines: TimerQueue<Waiter> | undefined;
  #running = 0;
  #queued = 0;
  #head: Waiter | undefined;
  #tail: Waiter | undefined;
  readonly #rejectEmitter = new EventEmitter<BulkheadRejectEvent>(
    diagnosticsChannelName(policyName, 'reject'),
  );
  readonly #queueEmitter = new EventEmitter<BulkheadQueueEvent>(diagnosticsChannelName(policyName, 'queue'));

  /**
   * A call was rejected: the bulkhead and its queue were full, or it waited `queueTimeoutMs` in vain. Also
   * published to the diagnostics channel `breakwater:bulkhead:reject`.
   */
  readonly onReject: Event<BulkheadRejectEvent> = this.#rejectEmitter.event;
  /** A call found every slot taken and joined the queue. Channel `breakwater:bulkhead:queue`. */
  readonly onQueue: Event<BulkheadQueueEvent> = this.#queueEmitter.event;

  // Shared settle callbacks, so that a call that gets a slot allocates no closure of its own.
  readonly #onFulfilled = (value: unknown): unknown => {
    this.#release();
    return value;
  };
  readonly #onRejected = (error: unknown): never => {
    this.#release();
    throw error;
  };

  /** Admits a call while a slot is free; a call that would queue or be rejected goes through `run`. */
  override readonly fastPath: FastPath<true> = {
    enter: () => {
      if (this.#running === this.limit) return undefined;
      this.#running++;
      return true;
    },
    succeeded: () => this.#release(),
    failed: (_ticket, _context, error) => {
      this.#release();
      throw error;
    },
  };

  constructor(limit: number, queue: number, queueTimeoutMs: number, clock: Clock) {
    super();
    this.limit = limit;
    this.queue = queue;
    this.#queueTimeoutMs = queueTimeoutMs;
    this.#clock = clock;
    this.#deadlines =
      queueTimeoutMs === Number.POSITIVE_INFINITY
        ? undefined
        : new TimerQueue<Waiter>(clock, (waiter) => this.#expire(waiter));
  }

  /** How many operations hold a slot now (running, or abandoned by a timeout but not yet settled). */
  get running(): number {
    return this.#running;
  }

  /** How many calls wait for a slot now. */
  get queued(): number {
    return this.#queued;
  }

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    if (this.#running < this.limit) {
      this.#running++;
      return this.#start(fn, context);
    }
    if (this.#queued < this.queue) return this.#enqueue(fn, context);
    return Promise.reject(this.#rejection('full', context));
  }

  #start<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    return callOperation(fn, context).then(this.#onFulfilled as (value: T) => T, this.#onRejected);
  }

  /** Frees a slot, or hands it straight to the oldest waiter so that no newcomer can overtake the queue. */
  #release(): void {
    const waiter = this.#head;
    if (waiter === undefined) {
      this.#running--;
      return;
    }
    this.#leave(waiter);
    waiter.resolve(waiter.inQueuedContext(() => this.#start(waiter.fn, waiter.context)));
  }

  #enqueue<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    if (context.aborted) return Promise.reject(context.abortReason);
    const promise = new Promise<T>((resolve, reject) => {
      const signal = context.signal;
      const waiter: Waiter = {
        fn,
        context,
        resolve: resolve as (value: Promise<unknown>) => void,
        reject,
        signal,
        inQueuedContext: AsyncLocalStorage.snapshot(),
        handleEvent: () => {
          this.#leave(waiter);
          reject(signal.reason);
        },
        deadline: undefined,
        prev: this.#tail,
        next: undefined,
      };
      if (this.#tail === undefined) this.#head = waiter;
      else this.#tail.next = waiter;
      this.#tail = waiter;
      this.#queued++;
      if (signal !== neverAbortedSignal) signal.addEventListener('abort', waiter);
      if (this.#deadlines !== undefined) {
        waiter.deadline = this.#deadlines.add(waiter, this.#clock.now() + this.#queueTimeoutMs);
      }
    });
    if (this.#queueEmitter.active) this.#queueEmitter.emit({ context, queued: this.#queued });
    return promise;
  }

  /** Unlinks a waiter from the queue, its signal and its deadline. */
  #leave(waiter: Waiter): void {
    if (waiter.prev === undefined) this.#head = waiter.next;
    else waiter.prev.next = waiter.next;
    if (waiter.next === undefined) this.#tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.prev = waiter.next = undefined;
    this.#queued--;
    waiter.signal.removeEventListener('abort', waiter);
    if (waiter.deadline !== undefined) this.#deadlines!.delete(waiter.deadline);
  }

  #expire(waiter: Waiter): void {
    this.#leave(waiter);
    waiter.reject(this.#rejection('queue-timeout', waiter.context));
  }

  #rejection(reason: BulkheadRejectReason, context: ExecutionContext): BulkheadRejectedError {
    if (this.#rejectEmitter.active) this.#rejectEmitter.emit({ context, reason });
    return reason === 'full'
      ? new BulkheadRejectedError(this.limit, this.queue)
      : new BulkheadRejectedError(
          this.limit,
          this.queue,
          `bulkhead queue wait timed out after ${this.#queueTimeoutMs} ms (limit ${this.limit}, queue ${this.queue})`,
        );
  }
}

/**
 * Limits how many calls run at once, with an optional bounded queue.
 *
 * @example
 * ```ts
 * const limited = bulkhead({ limit: 10, queue: 20, queueTimeoutMs: 1_000 });
 * const response = await limited.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function bulkhead(options: BulkheadOptions): BulkheadPolicy {
  const read = readOptions(policyName, options, ['limit', 'queue', 'queueTimeoutMs', 'clock']);
  if (read.limit === undefined) throw new TypeError('bulkhead: limit is required (an integer >= 1)');
  const limit = integerOption(policyName, 'limit', read.limit, 0, { min: 1 });
  const queue = integerOption(policyName, 'queue', read.queue, 0, { min: 0 });
  // Infinity (no queue timer) is the default and may be given explicitly; finite values must fit a Node timer.
  const queueTimeoutMs =
    read.queueTimeoutMs === Number.POSITIVE_INFINITY
      ? Number.POSITIVE_INFINITY
      : durationOption(policyName, 'queueTimeoutMs', read.queueTimeoutMs, Number.POSITIVE_INFINITY, {
          minExclusive: true,
          max: maxTimerDelayMs,
        });
  if (queue === 0 && queueTimeoutMs !== Number.POSITIVE_INFINITY) {
    throw new RangeError('bulkhead: queueTimeoutMs needs a queue (queue >= 1), received queue 0');
  }
  return new BulkheadPolicy(limit, queue, queueTimeoutMs, clockOption(policyName, read.clock));
}
