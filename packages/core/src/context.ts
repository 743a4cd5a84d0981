import { type AbortWatcher, CancellationScope } from './cancellation-scope.js';
import type { ContextKey } from './context-key.js';
import type { ExecuteOptions } from './policy.js';

/** What an operation and every policy around it know about the current attempt. */
export interface Context {
  /** Aborts when the caller aborts or an enclosing timeout fires. Its reason says which. */
  readonly signal: AbortSignal;
  /** 1 for the first try, 2 for the first retry, ... */
  readonly attempt: number;
  /** The partition key given to `execute`, e.g. an HTTP origin. */
  readonly key: string | undefined;
  /** Clock time (ms) by which the whole operation must end, set by the innermost enclosing timeout. */
  readonly deadline: number | undefined;
  /** Reads data shared by the policies of this logical execution. */
  get<T>(key: ContextKey<T>): T | undefined;
  /** Stores data for the rest of this logical execution (every later attempt sees it). */
  set<T>(key: ContextKey<T>, value: T): void;
}

const brand = Symbol.for('breakwater.context');

/**
 * A deadline that is worked out only when somebody asks, such as a timeout's call whose start is taken from a
 * later clock reading: most calls end before anybody looks, and then the clock need not be read for them.
 */
export interface DeadlineSource {
  /** Clock time (ms); the same value every time it is read. */
  readonly deadline: number;
}

/**
 * The {@link Context} implementation, with the derivations that policy authors need. An operation only sees
 * it as a `Context`; a policy receives it as the `options` of `execute` when it runs inside a pipeline.
 */
export class ExecutionContext implements Context {
  readonly attempt: number;
  readonly key: string | undefined;
  /** The deadline this context's own timeout set, if any: a time, or where to find it once asked. */
  readonly #ownDeadline: number | DeadlineSource | undefined;
  /**
   * A fork's cancellation is made the first time somebody needs it (reads the signal, watches, aborts): on the
   * success path nobody does, and then a fork costs one object. Until then it is `undefined`.
   */
  #scope: CancellationScope | undefined;
  /** The context this one was forked from: its cancellation this one's follows, and its deadline applies too. */
  readonly #parent: ExecutionContext | undefined;
  /**
   * The context `create` made for this execution. It alone holds the execution's shared state, so that a new
   * execution costs one object: the caller's signal and the data map are read through it.
   */
  readonly #root: ExecutionContext;
  /** On the root: the scope of the caller's cancellation, if the caller can cancel. */
  readonly #callerScope: CancellationScope | undefined;
  /**
   * On the root: the first key stored and its value, apart, because an execution nearly always stores one at
   * most (the HTTP adapters store the request), and a Map costs more than the rest of the context.
   */
  #firstKey: ContextKey<unknown> | undefined;
  #firstValue: unknown;
  /** On the root: every other key stored. */
  #data: Map<ContextKey<unknown>, unknown> | undefined;

  private constructor(
    root: ExecutionContext | undefined,
    scope: CancellationScope | undefined,
    parent: ExecutionContext | undefined,
    attempt: number,
    key: string | undefined,
    ownDeadline: number | DeadlineSource | undefined,
    callerScope: CancellationScope | undefined,
  ) {
    this.#root = root ?? this;
    this.#scope = scope;
    this.#parent = parent;
    this.attempt = attempt;
    this.key = key;
    this.#ownDeadline = ownDeadline;
    this.#callerScope = callerScope;
    this.#firstKey = undefined;
    this.#firstValue = undefined;
    this.#data = undefined;
  }

  /** The context of a new logical execution. */
  static create(options?: ExecuteOptions): ExecutionContext {
    if (options === undefined) {
      return new ExecutionContext(
        undefined,
        CancellationScope.root(undefined),
        undefined,
        1,
        undefined,
        undefined,
        undefined,
      );
    }
    const signal = options.signal;
    const scope = CancellationScope.root(signal);
    return new ExecutionContext(
      undefined,
      scope,
      undefined,
      1,
      options.key,
      undefined,
      signal === undefined ? undefined : scope,
    );
  }

  /**
   * The context of a new logical execution that its creator cancels with `abort(reason)`, as a caller would
   * with a signal: the abort counts as the caller's (`callerSignal` reports it), but costs no AbortController
   * unless somebody reads a signal. For adapters such as an undici interceptor, whose caller cancels through
   * a method rather than a signal.
   */
  static createCancellable(key?: string): ExecutionContext {
    const scope = CancellationScope.root(undefined).child();
    return new ExecutionContext(undefined, scope, undefined, 1, key, undefined, scope);
  }

  /** Whether `value` is an ExecutionContext, from this or any other copy of this package. */
  static is(value: unknown): value is ExecutionContext {
    return typeof value === 'object' && value !== null && (value as { [brand]?: true })[brand] === true;
  }

  get #cancellation(): CancellationScope {
    if (this.#scope === undefined) this.#scope = this.#parent!.#cancellation.child();
    return this.#scope;
  }

  /** Clock time (ms) by which the whole operation must end: the earliest deadline of the enclosing timeouts. */
  get deadline(): number | undefined {
    const own = this.#ownDeadline;
    const mine = typeof own === 'object' ? own.deadline : own;
    const outer = this.#parent?.deadline;
    return outer === undefined || (mine !== undefined && mine < outer) ? mine : outer;
  }

  get signal(): AbortSignal {
    return this.#cancellation.signal;
  }

  /** Whether this context is aborted, answered without creating a signal. */
  get aborted(): boolean {
    return this.#cancellation.aborted;
  }

  /** Why this context aborted (`undefined` while it has not), answered without creating a signal. */
  get abortReason(): unknown {
    return this.#cancellation.reason;
  }

  /**
   * Calls `watcher.handleEvent()` once when this context aborts, unless `unwatchAbort` comes first. Unlike a
   * listener on `signal`, it makes no AbortController anywhere. Not called for an abort that already happened:
   * check `aborted` first.
   */
  watchAbort(watcher: AbortWatcher): void {
    this.#cancellation.watch(watcher);
  }

  /** Stops `watcher` from being told of an abort. */
  unwatchAbort(watcher: AbortWatcher): void {
    this.#cancellation.unwatch(watcher);
  }

  /** The signal the caller passed to `execute` (or of a `createCancellable` context), if any. */
  get callerSignal(): AbortSignal | undefined {
    return this.#root.#callerScope?.signal;
  }

  get<T>(key: ContextKey<T>): T | undefined {
    const root = this.#root;
    if (root.#firstKey === key) return root.#firstValue as T;
    return root.#data?.get(key) as T | undefined;
  }

  set<T>(key: ContextKey<T>, value: T): void {
    const root = this.#root;
    if (root.#firstKey === undefined || root.#firstKey === key) {
      root.#firstKey = key;
      root.#firstValue = value;
      return;
    }
    if (root.#data === undefined) root.#data = new Map();
    root.#data.set(key, value);
  }

  /** The same execution at another attempt number. */
  withAttempt(attempt: number): ExecutionContext {
    if (attempt === this.attempt) return this;
    return new ExecutionContext(
      this.#root,
      this.#cancellation,
      this.#parent,
      attempt,
      this.key,
      this.#ownDeadline,
      undefined,
    );
  }

  /**
   * A context with its own cancellation, which also follows this one, and a deadline no later than this one's.
   * The policy that forks it owns it: it may `abort()` it and must `release()` it once the work inside settled.
   * `deadline` may be a {@link DeadlineSource}, read only when somebody reads the fork's `deadline`.
   */
  fork(deadline?: number | DeadlineSource): ExecutionContext {
    return new ExecutionContext(this.#root, undefined, this, this.attempt, this.key, deadline, undefined);
  }

  /**
   * Aborts this context with `reason`. Only for the policy that forked it, or the creator of a
   * `createCancellable` context; the parent is unaffected.
   */
  abort(reason: unknown): void {
    this.#cancellation.abort(reason);
  }

  /** Stops following the parent's signal, removing the listener that followed it, if any. */
  release(): void {
    // A cancellation never made follows nothing.
    this.#scope?.release();
  }
}

Object.defineProperty(ExecutionContext.prototype, brand, { value: true });
