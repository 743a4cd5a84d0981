import {
  BasePolicy,
  BrokenCircuitError,
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
  IsolatedCircuitError,
  integerOption,
  isCallerAbort,
  neverAbortedSignal,
  type Operation,
  readOptions,
  type ShouldHandle,
  shouldHandleError,
} from '@breakwater/core';
import type { BreakBackoff } from './break-backoff.js';
import type { Breaker, BreakerCounter } from './breaker.js';
import { failureRate } from './failure-rate.js';
import { type CircuitBreakerSnapshot, type CircuitState, readSnapshot } from './snapshot.js';

/** Options of {@link circuitBreaker}. */
export interface CircuitBreakerOptions {
  /**
   * When the circuit opens, judged from the calls made while it is closed: `consecutiveFailures(n)`,
   * `failureRate({...})`, or your own {@link Breaker}.
   * @default failureRate() (50% of at least 20 calls in 10 s)
   */
  breaker?: Breaker | undefined;
  /**
   * How long the circuit stays open before it lets probe calls through, in milliseconds: a number > 0, or a
   * backoff (e.g. `exponentialBackoff(...)` from `@breakwater/retry`) whose `attempt` is the number of breaks in
   * a row, so that a circuit whose probes keep failing waits longer each time. Closing starts over.
   * @default 30_000
   */
  breakMs?: number | BreakBackoff | undefined;
  /**
   * How many probe calls the half-open circuit lets through; every other call is rejected meanwhile. All of
   * them must succeed to close the circuit; any failure opens it again. An integer >= 1.
   * @default 1
   */
  halfOpenProbes?: number | undefined;
  /**
   * Which failures count. The caller's own abort never counts, nor does a `BrokenCircuitError` from an inner
   * circuit breaker. An error this returns `false` for counts as a success: the service did answer.
   * @default handleAll
   */
  shouldHandle?: ShouldHandle | undefined;
  /** State to start from, as returned by `toJSON()` (possibly in another process). @default a closed circuit */
  initialState?: CircuitBreakerSnapshot | undefined;
  /** The clock of breaks and of time-based breakers. @default systemClock */
  clock?: Clock | undefined;
  /** The random source in [0, 1) given to a jittered `breakMs` backoff. @default Math.random */
  random?: (() => number) | undefined;
}

/** Payload of {@link CircuitBreakerPolicy.onStateChange}. */
export interface CircuitStateChangeEvent {
  /** The call whose outcome or arrival changed the state; `undefined` when a method or getter did. */
  readonly context: Context | undefined;
  readonly from: CircuitState;
  readonly to: CircuitState;
}

/** Payload of {@link CircuitBreakerPolicy.onBreak}. */
export interface CircuitBreakEvent {
  /** The call that opened the circuit. */
  readonly context: Context;
  /** Its error; `undefined` when a slow success opened the circuit. */
  readonly error: unknown;
  /** How long this break lasts, in milliseconds. */
  readonly breakMs: number;
  /** How many times in a row the circuit has opened, this time included. */
  readonly breaks: number;
}

/** Payload of {@link CircuitBreakerPolicy.onReset} and {@link CircuitBreakerPolicy.onHalfOpen}. */
export interface CircuitTransitionEvent {
  /** The call that caused the transition; `undefined` when a method or getter did. */
  readonly context: Context | undefined;
}

/** Payload of {@link CircuitBreakerPolicy.onReject}. */
export interface CircuitRejectEvent {
  /** The rejected call. */
  readonly context: Context;
  /** The state that rejected it. */
  readonly state: Exclude<CircuitState, 'closed'>;
  /** The error the call is rejected with. */
  readonly error: BrokenCircuitError;
}

/** A handle that keeps a circuit isolated until it (and every other handle) is disposed. */
export interface IsolationHandle {
  dispose(): void;
  [Symbol.dispose](): void;
}

/** How an outcome counts. */
const success = 0;
const failure = 1;
const ignored = 2;
type Verdict = typeof success | typeof failure | typeof ignored;

/** A closed call whose duration counts: when it started, and its context in case it opens the circuit. */
class TimedCall {
  readonly generation: number;
  readonly start: number;
  readonly context: ExecutionContext;

  constructor(generation: number, start: number, context: ExecutionContext) {
    this.generation = generation;
    this.start = start;
    this.context = context;
  }
}

const policyName = 'circuitBreaker';
const channel = (event: string): string => diagnosticsChannelName('circuit-breaker', event);

/**
 * A circuit breaker. Closed, it runs calls and feeds their outcomes to its breaker; when the breaker says so it
 * opens and rejects every call with a `BrokenCircuitError` for a break; then it is half-open and lets
 * `halfOpenProbes` calls through: if all succeed it closes, if one fails it opens again, for a longer break
 * when `breakMs` is a backoff.
 *
 * No timer runs: the end of a break is noticed by the first call or `state` read after it. Only outcomes of
 * calls admitted in the current state count, so a slow call started before the circuit opened cannot close or
 * reopen it later.
 */
export class CircuitBreakerPolicy extends BasePolicy {
  readonly #breakMs: number | BreakBackoff;
  readonly #halfOpenProbes: number;
  readonly #shouldHandle: ShouldHandle;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #measure: Breaker['measure'];
  readonly #counter: BreakerCounter;
  #state: CircuitState = 'closed';
  /** Bumped by every transition and reset: outcomes of calls admitted under an older value are ignored. */
  #generation = 0;
  #openUntil = 0;
  #breaks = 0;
  #lastBreakMs: number | undefined;
  #probesLeft = 0;
  #probeSuccesses = 0;
  #isolations = 0;
  /** Bumped by `reset()`, which voids the isolation handles given out before it. */
  #isolationEpoch = 0;
  #closedSuccess: (value: unknown) => unknown = this.#successCallback(0);

  readonly #stateChange = new EventEmitter<CircuitStateChangeEvent>(channel('state-change'));
  readonly #break = new EventEmitter<CircuitBreakEvent>(channel('break'));
  readonly #reset = new EventEmitter<CircuitTransitionEvent>(channel('reset'));
  readonly #halfOpen = new EventEmitter<CircuitTransitionEvent>(channel('half-open'));
  readonly #reject = new EventEmitter<CircuitRejectEvent>(channel('reject'));

  /** Any state change, before the specific event. Channel `breakwater:circuit-breaker:state-change`. */
  readonly onStateChange: Event<CircuitStateChangeEvent> = this.#stateChange.event;
  /** The circuit opened (not by `isolate()`). Channel `breakwater:circuit-breaker:break`. */
  readonly onBreak: Event<CircuitBreakEvent> = this.#break.event;
  /** The circuit closed: probes succeeded, the last isolation ended, or `reset()`. Channel `...:reset`. */
  readonly onReset: Event<CircuitTransitionEvent> = this.#reset.event;
  /**
   * The circuit became half-open. Transitions are lazy, so this fires when the end of the break is noticed:
   * by the first call, `state` read or `toJSON()` after it, not at the moment it ends. Channel `...:half-open`.
   */
  readonly onHalfOpen: Event<CircuitTransitionEvent> = this.#halfOpen.event;
  /** A call was rejected without running. Channel `breakwater:circuit-breaker:reject`. */
  readonly onReject: Event<CircuitRejectEvent> = this.#reject.event;

  /**
   * Admits calls while the circuit is closed; a call in any other state goes through `run`. A ticket is the
   * generation the call was admitted in, or a {@link TimedCall} when durations count.
   */
  override readonly fastPath: FastPath<number | TimedCall>;

  constructor(
    breaker: Breaker,
    breakMs: number | BreakBackoff,
    halfOpenProbes: number,
    shouldHandle: ShouldHandle,
    clock: Clock,
    random: () => number,
    initialState: CircuitBreakerSnapshot | undefined,
  ) {
    super();
    this.#breakMs = breakMs;
    this.#halfOpenProbes = halfOpenProbes;
    this.#shouldHandle = shouldHandle;
    this.#clock = clock;
    this.#random = random;
    this.#measure = breaker.measure;
    const now = clock.now();
    this.#counter = breaker.create(now, initialState?.breaker);
    if (initialState !== undefined) {
      this.#state = initialState.state;
      this.#breaks = initialState.breaks;
      this.#lastBreakMs = initialState.lastBreakMs;
      this.#openUntil = now + (initialState.remainingBreakMs ?? 0);
      this.#probeSuccesses = initialState.probeSuccesses ?? 0;
      this.#probesLeft = halfOpenProbes - this.#probeSuccesses;
    }
    this.fastPath = {
      clock: breaker.measure === 'duration' ? clock : undefined,
      enter: (context, now) => (this.#state === 'closed' ? this.#admit(context, now) : undefined),
      succeeded: (ticket) => this.#closedSucceeded(ticket),
      failed: (ticket, context, error) => this.#closedFailed(ticket, context, error),
    };
  }

  /**
   * The current state. Reading it after a break has ended moves the circuit to `'half-open'` (and emits
   * `onHalfOpen`), so that a circuit nobody calls does not look open forever.
   */
  get state(): CircuitState {
    if (this.#state === 'open') this.#observeBreakEnd(undefined);
    return this.#state;
  }

  /**
   * Holds the circuit open: every call is rejected with an `IsolatedCircuitError` until every handle returned
   * so far is disposed; then the circuit closes. `reset()` ends the isolation at once (and voids the handles).
   */
  isolate(): IsolationHandle {
    if (this.#state !== 'isolated') {
      this.#isolations = 0;
      this.#breaks = 0;
      this.#lastBreakMs = undefined;
      this.#transition('isolated', undefined);
    }
    this.#isolations++;
    const epoch = this.#isolationEpoch;
    let held = true;
    const dispose = (): void => {
      if (!held) return;
      held = false;
      if (epoch === this.#isolationEpoch && --this.#isolations === 0) this.#close(undefined);
    };
    return { dispose, [Symbol.dispose]: dispose };
  }

  /** Closes the circuit and forgets everything: breaker counts, break backoff, isolation. */
  reset(): void {
    this.#isolationEpoch++;
    this.#isolations = 0;
    this.#close(undefined);
  }

  /** The full state, for `initialState`; see {@link CircuitBreakerSnapshot}. */
  toJSON(): CircuitBreakerSnapshot {
    const state = this.state;
    const now = this.#clock.now();
    const lastBreakMs = this.#lastBreakMs;
    return {
      state,
      ...(state === 'open' && { remainingBreakMs: this.#openUntil - now }),
      ...(state === 'half-open' && { probeSuccesses: this.#probeSuccesses }),
      breaks: this.#breaks,
      ...(lastBreakMs !== undefined && { lastBreakMs }),
      breaker: this.#counter.snapshot(now),
    };
  }

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    if (this.#state === 'closed') return this.#runClosed(fn, context);
    if (this.#state === 'open') this.#observeBreakEnd(context);
    // A listener of the transition above may have changed the state again.
    switch (this.#state as CircuitState) {
      case 'closed':
        return this.#runClosed(fn, context);
      case 'half-open':
        if (this.#probesLeft === 0) break;
        // A call whose time is already up would be judged by that, not by the service: it gets no slot.
        return context.aborted ? Promise.reject(context.abortReason) : this.#runProbe(fn, context);
    }
    return Promise.reject(this.#rejection(context));
  }

  #runClosed<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    const ticket = this.#admit(context, Number.NaN);
    const onFulfilled =
      typeof ticket === 'number'
        ? (this.#closedSuccess as (value: T) => T)
        : (value: T): T => {
            this.#closedSucceeded(ticket);
            return value;
          };
    return callOperation(fn, context).then(onFulfilled, (error: unknown) =>
      this.#closedFailed(ticket, context, error),
    );
  }

  /**
   * Admits a call while closed, at clock time `now` (`NaN`: not read yet). Its ticket is the generation it was
   * admitted in, or a {@link TimedCall} when durations count.
   */
  #admit(context: ExecutionContext, now: number): number | TimedCall {
    if (this.#measure !== 'duration') return this.#generation;
    return new TimedCall(this.#generation, Number.isNaN(now) ? this.#clock.now() : now, context);
  }

  /** A call admitted while closed succeeded; it counts only if the circuit has not changed since. */
  #closedSucceeded(ticket: number | TimedCall): void {
    if (typeof ticket !== 'number') {
      if (ticket.generation === this.#generation)
        this.#record(success, undefined, ticket.context, ticket.start);
    } else if (ticket === this.#generation) {
      // An untimed success can never open the circuit, so it needs no context.
      this.#counter.success(this.#measure === 'time' ? this.#clock.now() : 0, 0);
    }
  }

  /** A call admitted while closed failed: counted if the circuit has not changed since, and rethrown. */
  #closedFailed(ticket: number | TimedCall, context: ExecutionContext, error: unknown): never {
    const timed = typeof ticket !== 'number';
    if ((timed ? ticket.generation : ticket) === this.#generation) {
      this.#record(this.#classify(error, context), error, context, timed ? ticket.start : 0);
    }
    throw error;
  }

  /**
   * The success callback of every untimed call admitted in the current closed period, made once per period, so
   * that a successful call allocates no closure of its own (a capturing closure costs ~300 bytes per call).
   */
  #successCallback(generation: number): (value: unknown) => unknown {
    return (value) => {
      this.#closedSucceeded(generation);
      return value;
    };
  }

  /** Feeds the outcome of a call admitted in this closed period to the breaker. */
  #record(verdict: Verdict, error: unknown, context: ExecutionContext, start: number): void {
    if (verdict === ignored) return;
    const measure = this.#measure;
    const now = measure === 'none' ? 0 : this.#clock.now();
    const durationMs = measure === 'duration' ? now - start : 0;
    const counter = this.#counter;
    let opens: boolean;
    if (verdict === failure) opens = counter.failure(now, durationMs);
    else opens = counter.success(now, durationMs) && measure === 'duration';
    if (opens) this.#open(error, context);
  }

  /**
   * Runs a half-open probe. It decides the circuit's fate as soon as its outcome is known, and also when its
   * signal aborts before that, so that a probe whose operation ignores the abort cannot hold its slot forever:
   * the caller's abort frees the slot without a verdict, any other abort (an enclosing timeout) is judged like
   * the error it carries.
   */
  #runProbe<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    this.#probesLeft--;
    const generation = this.#generation;
    const signal = context.signal;
    let pending = true;
    const settle = (verdict: Verdict, error: unknown): void => {
      if (!pending) return;
      pending = false;
      signal.removeEventListener('abort', onAbort);
      if (generation === this.#generation) this.#judgeProbe(verdict, error, context);
    };
    const onAbort = (): void => settle(this.#classify(signal.reason, context), signal.reason);
    if (signal !== neverAbortedSignal) signal.addEventListener('abort', onAbort);
    return callOperation(fn, context).then(
      (value) => {
        settle(success, undefined);
        return value;
      },
      (error: unknown) => {
        settle(this.#classify(error, context), error);
        throw error;
      },
    );
  }

  #judgeProbe(verdict: Verdict, error: unknown, context: ExecutionContext): void {
    if (verdict === ignored) this.#probesLeft++;
    else if (verdict === failure) this.#open(error, context);
    else if (++this.#probeSuccesses === this.#halfOpenProbes) this.#close(context);
  }

  #classify(error: unknown, context: ExecutionContext): Verdict {
    if (error instanceof BrokenCircuitError || isCallerAbort(error, context)) return ignored;
    return shouldHandleError(this.#shouldHandle, error, context) ? failure : success;
  }

  #rejection(context: ExecutionContext): BrokenCircuitError {
    const state = this.#state as Exclude<CircuitState, 'closed'>;
    const error =
      state === 'isolated'
        ? new IsolatedCircuitError()
        : state === 'open'
          ? new BrokenCircuitError(this.#openUntil - this.#clock.now())
          : new BrokenCircuitError(
              0,
              'circuit is half-open and its probe calls are in flight; retry after 0 ms',
            );
    if (this.#reject.active) this.#reject.emit({ context, state, error });
    return error;
  }

  #observeBreakEnd(context: ExecutionContext | undefined): void {
    if (this.#clock.now() < this.#openUntil) return;
    this.#probesLeft = this.#halfOpenProbes;
    this.#probeSuccesses = 0;
    this.#transition('half-open', context);
    if (this.#halfOpen.active) this.#halfOpen.emit({ context });
  }

  #open(error: unknown, context: ExecutionContext): void {
    const breaks = this.#breaks + 1;
    const breakMs = this.#nextBreakMs(breaks);
    this.#breaks = breaks;
    this.#lastBreakMs = breakMs;
    this.#openUntil = this.#clock.now() + breakMs;
    this.#transition('open', context);
    if (this.#break.active) this.#break.emit({ context, error, breakMs, breaks });
  }

  #close(context: ExecutionContext | undefined): void {
    this.#breaks = 0;
    this.#lastBreakMs = undefined;
    this.#counter.reset(this.#clock.now());
    const from = this.#state;
    this.#transition('closed', context);
    if (from !== 'closed' && this.#reset.active) this.#reset.emit({ context });
  }

  #transition(to: CircuitState, context: ExecutionContext | undefined): void {
    const from = this.#state;
    this.#state = to;
    this.#generation++;
    if (to === 'closed') this.#closedSuccess = this.#successCallback(this.#generation);
    if (from !== to && this.#stateChange.active) this.#stateChange.emit({ context, from, to });
  }

  #nextBreakMs(attempt: number): number {
    const breakMs = this.#breakMs;
    if (typeof breakMs === 'number') return breakMs;
    const delay = breakMs.next({ attempt, previousDelayMs: this.#lastBreakMs, random: this.#random });
    if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
      throw new TypeError(
        `${policyName}: the breakMs backoff returned ${describeValue(delay)} for break ${attempt}; it must return a finite number >= 0`,
      );
    }
    return delay;
  }
}

/**
 * A circuit breaker: stops calling a failing service for a while, then probes it before trusting it again.
 *
 * @example
 * ```ts
 * const breaker = circuitBreaker({
 *   breaker: failureRate({ threshold: 0.5, windowMs: 30_000, minThroughput: 20 }),
 *   breakMs: exponentialBackoff({ initialMs: 5_000, maxMs: 120_000 }), // from @breakwater/retry
 *   halfOpenProbes: 3,
 * });
 * const response = await breaker.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function circuitBreaker(options?: CircuitBreakerOptions): CircuitBreakerPolicy {
  const read = readOptions(policyName, options, [
    'breaker',
    'breakMs',
    'halfOpenProbes',
    'shouldHandle',
    'initialState',
    'clock',
    'random',
  ]);
  const breaker = breakerOption(read.breaker);
  const breakMs =
    typeof read.breakMs === 'object' && read.breakMs !== null
      ? backoffOption(read.breakMs)
      : durationOption(policyName, 'breakMs', read.breakMs, 30_000, { minExclusive: true });
  const halfOpenProbes = integerOption(policyName, 'halfOpenProbes', read.halfOpenProbes, 1, { min: 1 });
  const shouldHandle = functionOption<ShouldHandle>(policyName, 'shouldHandle', read.shouldHandle, handleAll);
  const clock = clockOption(policyName, read.clock);
  const random = functionOption<() => number>(policyName, 'random', read.random, Math.random);
  const initialState =
    read.initialState === undefined ? undefined : readSnapshot(read.initialState, halfOpenProbes);
  return new CircuitBreakerPolicy(
    breaker,
    breakMs,
    halfOpenProbes,
    shouldHandle,
    clock,
    random,
    initialState,
  );
}

function breakerOption(value: unknown): Breaker {
  if (value === undefined) return failureRate();
  const breaker = value as Partial<Record<keyof Breaker, unknown>> | null;
  if (
    typeof breaker !== 'object' ||
    breaker === null ||
    typeof breaker.create !== 'function' ||
    (breaker.measure !== 'none' && breaker.measure !== 'time' && breaker.measure !== 'duration')
  ) {
    throw new TypeError(
      `${policyName}: breaker must be a Breaker (e.g. consecutiveFailures(5) or failureRate()), received ${describeValue(value)}`,
    );
  }
  return value as Breaker;
}

function backoffOption(value: object): BreakBackoff {
  if (typeof (value as Partial<BreakBackoff>).next !== 'function') {
    throw new TypeError(
      `${policyName}: breakMs must be a number > 0 or a backoff (an object with a next() method), received ${describeValue(value)}`,
    );
  }
  return value as BreakBackoff;
}
