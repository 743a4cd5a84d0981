import {
  BasePolicy,
  booleanOption,
  type Clock,
  type Context,
  callOperation,
  clockOption,
  describeValue,
  diagnosticsChannelName,
  durationOption,
  type Event,
  EventEmitter,
  type ExecutionContext,
  type FastPath,
  functionOption,
  handleAll,
  integerOption,
  type Operation,
  readOptions,
  type ShouldHandle,
  shouldHandleError,
} from '@breakwater/core';
import { abortableDelay } from './abortable-delay.js';
import type { Backoff } from './backoff.js';
import { ConstantBackoff } from './constant-backoff.js';
import { exponentialBackoff } from './exponential-backoff.js';
import type { RetryBudget } from './retry-budget.js';

/**
 * Why a retry policy stopped retrying:
 * - `'attempts'`: `maxAttempts` attempts were made;
 * - `'budget'`: the retry budget had no retry left;
 * - `'deadline'`: the wait would end at or past `ctx.deadline` (set by an enclosing timeout);
 * - `'retry-after'`: the failure asked for a wait (`retryAfterMs`) longer than `maxRetryAfterMs`;
 * - `'not-handled'`: `shouldHandle` declined the failure;
 * - `'aborted'`: the caller aborted, or an enclosing timeout fired.
 */
export type GiveUpReason = 'attempts' | 'budget' | 'deadline' | 'retry-after' | 'not-handled' | 'aborted';

/** Payload of {@link RetryPolicy.onRetry}. */
export interface RetryEvent {
  /** The context of the attempt that failed. */
  readonly context: Context;
  /** The number of the attempt that failed: 1 for the first try. */
  readonly attempt: number;
  /** How long the policy waits before the next attempt, in milliseconds. */
  readonly delayMs: number;
  /** What the failed attempt threw. */
  readonly error: unknown;
}

/** Payload of {@link RetryPolicy.onGiveUp}. */
export interface GiveUpEvent {
  /** The context of the last attempt. */
  readonly context: Context;
  /** The number of the last attempt: 1 for the first try. */
  readonly attempt: number;
  /** What the call rejects with: the last attempt's error, or the abort reason when aborted during a wait. */
  readonly error: unknown;
  /** Why the policy stopped. */
  readonly reason: GiveUpReason;
}

/** Options of {@link retry}. */
export interface RetryOptions {
  /**
   * How many attempts a call makes at most, the first one included: an integer from 1 to 11 (at most 10
   * retries). More, or `Infinity`, only with `allowUnsafeRetries`; `Infinity` also needs a `budget`, and then
   * retries go on until the budget, an enclosing timeout's deadline or the caller stops them.
   * @default 3
   */
  maxAttempts?: number | undefined;
  /**
   * Lifts the cap of 11 attempts per call. Each attempt multiplies the load a failing service sees, so a
   * larger `maxAttempts` is most likely a mistake; set this only when you mean it.
   * @default false
   */
  allowUnsafeRetries?: boolean | undefined;
  /**
   * The wait before each retry: a {@link Backoff}, or a number of milliseconds for a constant one.
   * @default exponentialBackoff() (full jitter, 500 ms doubling up to 30 s)
   */
  backoff?: Backoff | number | undefined;
  /**
   * Which failures are retried. The caller's own abort never is.
   * @default every failure
   */
  shouldHandle?: ShouldHandle | undefined;
  /**
   * A retry budget such as `retryBudget()`, possibly shared with other policies.
   * @default undefined (no budget: every call may make `maxAttempts` attempts)
   */
  budget?: RetryBudget | undefined;
  /**
   * Caps the delay the backoff computes, in milliseconds (<= 2147483647). It never shortens a wait that the
   * failure asked for through `retryAfterMs`.
   * @default 30000
   */
  maxDelayMs?: number | undefined;
  /**
   * The longest wait a failure may ask for through a numeric `retryAfterMs` property (an HTTP `Retry-After`, an
   * open circuit breaker), in milliseconds (<= 2147483647). A failure asking for more is not retried.
   * @default 60000
   */
  maxRetryAfterMs?: number | undefined;
  /**
   * A listener subscribed to {@link RetryPolicy.onRetry} for the policy's lifetime.
   * @default undefined
   */
  onRetry?: ((event: RetryEvent) => void) | undefined;
  /**
   * A listener subscribed to {@link RetryPolicy.onGiveUp} for the policy's lifetime.
   * @default undefined
   */
  onGiveUp?: ((event: GiveUpEvent) => void) | undefined;
  /**
   * Source of time and timers, for the waits and the deadline check.
   * @default systemClock
   */
  clock?: Clock | undefined;
  /**
   * Random source in [0, 1) handed to the backoff for jitter.
   * @default Math.random
   */
  random?: (() => number) | undefined;
}

/** The settings of a {@link RetryPolicy}, validated. */
interface RetrySettings {
  readonly maxAttempts: number;
  readonly backoff: Backoff;
  readonly shouldHandle: ShouldHandle;
  readonly budget: RetryBudget | undefined;
  readonly maxDelayMs: number;
  readonly maxRetryAfterMs: number;
  readonly clock: Clock;
  readonly random: () => number;
}

/**
 * A policy that calls the operation again when it fails, after a wait from its backoff (at least what the
 * failure asked for through `retryAfterMs`). Each attempt sees `ctx.attempt` = 1, 2, ...; the call rejects with
 * the last attempt's error, unwrapped. Waits end at once when the context aborts.
 */
export class RetryPolicy extends BasePolicy {
  /** How many attempts a call makes at most. */
  readonly maxAttempts: number;
  /** The wait before each retry. */
  readonly backoff: Backoff;
  /** Emitted before each wait. Channel: `breakwater:retry:retry`. */
  readonly onRetry: Event<RetryEvent>;
  /** Emitted when a call that failed is not retried any more. Channel: `breakwater:retry:give-up`. */
  readonly onGiveUp: Event<GiveUpEvent>;
  readonly #settings: RetrySettings;
  readonly #onRetry = new EventEmitter<RetryEvent>(diagnosticsChannelName('retry', 'retry'));
  readonly #onGiveUp = new EventEmitter<GiveUpEvent>(diagnosticsChannelName('retry', 'give-up'));

  /** Admits every call: its ticket is the context of the first attempt, and a failure starts the retries. */
  override readonly fastPath: FastPath<ExecutionContext> = {
    enter: (context) => this.#begin(context),
    contextInside: (first) => first,
    succeeded: () => {},
    failed: (first, context, error, again) => this.#retry(again, context, first, error),
  };

  constructor(settings: RetrySettings) {
    super();
    this.#settings = settings;
    this.maxAttempts = settings.maxAttempts;
    this.backoff = settings.backoff;
    this.onRetry = this.#onRetry.event;
    this.onGiveUp = this.#onGiveUp.event;
  }

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    const first = this.#begin(context);
    return callOperation(fn, first).then(undefined, (error: unknown) =>
      this.#retry(fn, context, first, error),
    );
  }

  /** Starts a call: counts it in the budget, and returns the context of its first attempt. */
  #begin(context: ExecutionContext): ExecutionContext {
    this.#settings.budget?.deposit();
    return context.withAttempt(1);
  }

  async #retry<T>(
    fn: Operation<T>,
    context: ExecutionContext,
    first: ExecutionContext,
    firstError: unknown,
  ): Promise<T> {
    const settings = this.#settings;
    let failed = first;
    let error = firstError;
    let previousDelayMs: number | undefined;
    for (let attempt = 1; ; attempt++) {
      let reason = this.#stopBeforeBackoff(context, failed, attempt, error);
      let delayMs = 0;
      if (reason === undefined) {
        const backoffMs = settings.backoff.next({ attempt, previousDelayMs, random: settings.random });
        if (!(typeof backoffMs === 'number' && backoffMs >= 0)) {
          throw new RangeError(
            `retry: backoff.next() must return a number >= 0, received ${describeValue(backoffMs)}`,
            {
              cause: error,
            },
          );
        }
        previousDelayMs = backoffMs;
        const retryAfterMs = retryAfterOf(error);
        delayMs = Math.max(Math.min(backoffMs, settings.maxDelayMs), retryAfterMs ?? 0);
        reason = this.#stopBeforeWait(context, delayMs, retryAfterMs);
      }
      if (reason !== undefined) {
        this.#giveUp(failed, attempt, error, reason);
        throw error;
      }
      if (this.#onRetry.active) this.#onRetry.emit({ context: failed, attempt, delayMs, error });
      if (delayMs > 0 ? !(await abortableDelay(settings.clock, delayMs, context.signal)) : context.aborted) {
        const abortReason: unknown = context.signal.reason;
        this.#giveUp(failed, attempt, abortReason, 'aborted');
        throw abortReason;
      }
      failed = context.withAttempt(attempt + 1);
      try {
        return await callOperation(fn, failed);
      } catch (attemptError) {
        error = attemptError;
      }
    }
  }

  #stopBeforeBackoff(
    context: ExecutionContext,
    failed: ExecutionContext,
    attempt: number,
    error: unknown,
  ): GiveUpReason | undefined {
    if (context.aborted) return 'aborted';
    if (!shouldHandleError(this.#settings.shouldHandle, error, failed)) return 'not-handled';
    if (attempt >= this.#settings.maxAttempts) return 'attempts';
    return undefined;
  }

  /** Checked last, because a retry it allows is taken from the budget. */
  #stopBeforeWait(
    context: ExecutionContext,
    delayMs: number,
    retryAfterMs: number | undefined,
  ): GiveUpReason | undefined {
    const { maxRetryAfterMs, clock, budget } = this.#settings;
    if (retryAfterMs !== undefined && retryAfterMs > maxRetryAfterMs) return 'retry-after';
    if (context.deadline !== undefined && clock.now() + delayMs >= context.deadline) return 'deadline';
    if (budget !== undefined && !budget.tryWithdraw()) return 'budget';
    return undefined;
  }

  #giveUp(context: ExecutionContext, attempt: number, error: unknown, reason: GiveUpReason): void {
    if (this.#onGiveUp.active) this.#onGiveUp.emit({ context, attempt, error, reason });
  }
}

/** The wait a failure asks for: its `retryAfterMs` property, when that is a number >= 0. */
function retryAfterOf(error: unknown): number | undefined {
  if ((typeof error !== 'object' && typeof error !== 'function') || error === null) return undefined;
  const retryAfterMs = (error as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof retryAfterMs === 'number' && retryAfterMs >= 0 ? retryAfterMs : undefined;
}

const maxTimerDelayMs = 2_147_483_647;
/** Ten retries: more multiplies a failing service's load beyond reason (gRPC stops at 5 attempts). */
const maxSafeAttempts = 11;

/**
 * Retries failed calls with exponential backoff and full jitter by default, at most 3 attempts in all.
 *
 * @example
 * ```ts
 * const policy = retry({
 *   maxAttempts: 4,
 *   backoff: exponentialBackoff({ initialMs: 100, maxMs: 2_000 }),
 *   shouldHandle: ({ error }) => !(error instanceof TypeError),
 *   budget: retryBudget(),
 * });
 * const res = await policy.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function retry(options?: RetryOptions): RetryPolicy {
  const read = readOptions('retry', options, [
    'maxAttempts',
    'allowUnsafeRetries',
    'backoff',
    'shouldHandle',
    'budget',
    'maxDelayMs',
    'maxRetryAfterMs',
    'onRetry',
    'onGiveUp',
    'clock',
    'random',
  ]);
  const budget = budgetOption(read.budget);
  const allowUnsafeRetries = booleanOption('retry', 'allowUnsafeRetries', read.allowUnsafeRetries, false);
  const maxAttempts =
    read.maxAttempts === Number.POSITIVE_INFINITY
      ? Number.POSITIVE_INFINITY
      : integerOption('retry', 'maxAttempts', read.maxAttempts, 3, { min: 1 });
  if (maxAttempts > maxSafeAttempts && !allowUnsafeRetries) {
    throw new RangeError(
      `retry: maxAttempts must be at most ${maxSafeAttempts} (${maxSafeAttempts - 1} retries), received ${maxAttempts}; set allowUnsafeRetries: true if you mean it`,
    );
  }
  if (maxAttempts === Number.POSITIVE_INFINITY && budget === undefined) {
    throw new RangeError(
      'retry: maxAttempts Infinity needs a budget (e.g. retryBudget()), so that retries stay a bounded share of the traffic',
    );
  }
  const policy = new RetryPolicy({
    maxAttempts,
    backoff: backoffOption(read.backoff),
    shouldHandle: functionOption<ShouldHandle>('retry', 'shouldHandle', read.shouldHandle, handleAll),
    budget,
    maxDelayMs: durationOption('retry', 'maxDelayMs', read.maxDelayMs, 30_000, { max: maxTimerDelayMs }),
    maxRetryAfterMs: durationOption('retry', 'maxRetryAfterMs', read.maxRetryAfterMs, 60_000, {
      max: maxTimerDelayMs,
    }),
    clock: clockOption('retry', read.clock),
    random: functionOption<() => number>('retry', 'random', read.random, Math.random),
  });
  const onRetry = functionOption<(event: RetryEvent) => void>('retry', 'onRetry', read.onRetry);
  const onGiveUp = functionOption<(event: GiveUpEvent) => void>('retry', 'onGiveUp', read.onGiveUp);
  if (onRetry !== undefined) policy.onRetry(onRetry);
  if (onGiveUp !== undefined) policy.onGiveUp(onGiveUp);
  return policy;
}

function backoffOption(value: unknown): Backoff {
  if (value === undefined) return exponentialBackoff();
  if (typeof value === 'number') {
    return new ConstantBackoff(durationOption('retry', 'backoff', value, 0, { max: maxTimerDelayMs }));
  }
  if (typeof value !== 'object' || value === null || typeof (value as Partial<Backoff>).next !== 'function') {
    throw new TypeError(
      `retry: backoff must be a number of milliseconds or an object with a next() method such as exponentialBackoff(), received ${describeValue(value)}`,
    );
  }
  return value as Backoff;
}

function budgetOption(value: unknown): RetryBudget | undefined {
  if (value === undefined) return undefined;
  const budget = value as Partial<Record<keyof RetryBudget, unknown>> | null;
  if (
    typeof budget !== 'object' ||
    budget === null ||
    typeof budget.deposit !== 'function' ||
    typeof budget.tryWithdraw !== 'function'
  ) {
    throw new TypeError(
      `retry: budget must be a retry budget such as retryBudget(), with deposit() and tryWithdraw() methods, received ${describeValue(value)}`,
    );
  }
  return value as RetryBudget;
}
