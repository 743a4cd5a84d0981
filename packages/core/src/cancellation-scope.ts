import { callIsolated } from './call-isolated.js';

/** A signal that never aborts: the signal of a call that passed none, shared so such calls allocate nothing. */
export const neverAbortedSignal: AbortSignal = new AbortController().signal;

/**
 * Told when a scope aborts: an object with `handleEvent`, like an `EventListenerObject`, so that it can also be
 * added to an `AbortSignal` as is.
 */
export interface AbortWatcher {
  handleEvent(): void;
}

/**
 * The cancellation of one part of an execution. A child scope follows its parent through the parent's watcher
 * list, not through its signal, and creates an AbortController only when somebody reads its signal: most
 * operations never look, and a controller plus a listener at every level is the largest cost on the success
 * path. Aborting a scope nobody watches or reads costs a flag.
 */
export class CancellationScope {
  readonly #parent: CancellationScope | undefined;
  /** A root's signal (the caller's), or a child's once read. */
  #signal: AbortSignal | undefined;
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;
  /** The first watcher, kept apart because a scope nearly always has one at most (a child, or an attempt). */
  #watcher: AbortWatcher | undefined;
  #moreWatchers: AbortWatcher[] | undefined;
  /** Whether this child is among its parent's watchers. */
  #linked = false;
  #released = false;

  private constructor(parent: CancellationScope | undefined, signal: AbortSignal | undefined) {
    this.#parent = parent;
    this.#signal = signal;
  }

  /**
   * The outermost scope of an execution: the caller's own signal, or one that never aborts. A root scope has no
   * state of its own (it cannot be aborted or released), so every call without a signal shares one.
   */
  static root(signal: AbortSignal | undefined): CancellationScope {
    return signal === undefined ? neverAbortedScope : new CancellationScope(undefined, signal);
  }

  /** A scope that aborts when this one does, and can also be aborted on its own. */
  child(): CancellationScope {
    return new CancellationScope(this, undefined);
  }

  get signal(): AbortSignal {
    return this.#signal ?? this.#createSignal();
  }

  /** Whether this scope is aborted, answered without creating a signal. */
  get aborted(): boolean {
    const parent = this.#parent;
    if (parent === undefined) return this.#signal!.aborted;
    return this.#aborted || parent.aborted;
  }

  /** Why this scope aborted (`undefined` while it has not), answered without creating a signal. */
  get reason(): unknown {
    const parent = this.#parent;
    if (parent === undefined) return this.#signal!.reason;
    return this.#aborted ? this.#reason : parent.reason;
  }

  /**
   * Calls `watcher.handleEvent()` once when this scope aborts, unless it is unwatched first. Not called for an
   * abort that already happened: check `aborted` first.
   */
  watch(watcher: AbortWatcher): void {
    if (this.#parent === undefined) {
      if (this.#signal !== neverAbortedSignal) this.#signal!.addEventListener('abort', watcher);
      return;
    }
    if (this.#watcher === undefined) this.#watcher = watcher;
    else if (this.#moreWatchers === undefined) this.#moreWatchers = [watcher];
    else this.#moreWatchers.push(watcher);
    this.#link();
  }

  unwatch(watcher: AbortWatcher): void {
    if (this.#parent === undefined) {
      if (this.#signal !== neverAbortedSignal) this.#signal!.removeEventListener('abort', watcher);
      return;
    }
    if (this.#watcher === watcher) {
      this.#watcher = undefined;
      return;
    }
    const more = this.#moreWatchers;
    const index = more === undefined ? -1 : more.indexOf(watcher);
    if (index >= 0) more!.splice(index, 1);
  }

  /** Aborts this scope (and its children) with `reason`; the parent is not affected. */
  abort(reason: unknown): void {
    if (this.#parent === undefined || this.aborted) return; // a root scope belongs to the caller
    this.#abort(reason);
  }

  /** Stops following the parent. Call it when the work of this scope has settled. */
  release(): void {
    if (this.#parent === undefined) return; // a root scope is the caller's, and may be shared
    this.#released = true;
    this.#unlink();
  }

  /** The parent aborted (this scope watches it). */
  handleEvent(): void {
    this.#unlink();
    if (!this.#aborted) this.#abort(this.#parent!.reason);
  }

  #abort(reason: unknown): void {
    this.#aborted = true;
    this.#reason = reason;
    this.#unlink();
    this.#controller?.abort(reason);
    const first = this.#watcher;
    const more = this.#moreWatchers;
    this.#watcher = undefined;
    this.#moreWatchers = undefined;
    if (first !== undefined) callIsolated(tell, first);
    if (more !== undefined) for (const watcher of more) callIsolated(tell, watcher);
  }

  #createSignal(): AbortSignal {
    const controller = new AbortController();
    this.#controller = controller;
    this.#signal = controller.signal;
    // A signal read late, even after release, still tells the truth about an abort that happened.
    if (this.aborted) controller.abort(this.reason);
    else this.#link();
    return controller.signal;
  }

  #link(): void {
    if (this.#linked || this.#released || this.#aborted) return;
    this.#linked = true;
    this.#parent!.watch(this);
  }

  #unlink(): void {
    if (!this.#linked) return;
    this.#linked = false;
    this.#parent!.unwatch(this);
  }
}

const neverAbortedScope = CancellationScope.root(neverAbortedSignal);

function tell(watcher: AbortWatcher): void {
  watcher.handleEvent();
}
