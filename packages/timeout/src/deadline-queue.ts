import { type Clock, callIsolated, systemClock, unrefTimer } from '@breakwater/core';

/** The calls added between two clock readings of a queue: they share the deadline the later reading fixes. */
class Batch {
  /** `NaN` until fixed. */
  deadline: number = Number.NaN;
  readonly queue: { fixDeadlines(): void };

  constructor(queue: { fixDeadlines(): void }) {
    this.queue = queue;
  }
}

/**
 * A call in a {@link DeadlineQueue}. Its deadline is fixed lazily: at the end of the event-loop turn, or when
 * somebody reads `deadline`, whichever comes first.
 */
export class DeadlineEntry<T> {
  /**
   * What `onExpire` is called with. Set it right after `add`, in the same synchronous run: a timeout adds the
   * entry first, because the forked context it holds takes the entry as its deadline.
   */
  item: T;
  readonly batch: Batch;
  prev: DeadlineEntry<T> | undefined = undefined;
  next: DeadlineEntry<T> | undefined = undefined;
  queued = true;

  constructor(batch: Batch, item: T) {
    this.batch = batch;
    this.item = item;
  }

  /** The clock time at which the entry expires. Reading it fixes the deadline of every entry added so far. */
  get deadline(): number {
    const batch = this.batch;
    if (Number.isNaN(batch.deadline)) batch.queue.fixDeadlines();
    return batch.deadline;
  }
}

/**
 * The deadlines of one timeout: calls that each may run `durationMs`, served by one timer.
 *
 * Reading the clock costs as much as a bare async call on some machines, and most calls end long before their
 * deadline, so `add` does not read it. A call's start is taken from the next clock reading instead: at the end of
 * the current event-loop turn (once for all the calls added in that turn; see `#atTurnEnd`), the queue reads the
 * clock once and fixes the deadline of every call added since, at that reading plus `durationMs`. A deadline is
 * therefore never early, and late by at most the rest of the turn the call started in. Reading an entry's
 * `deadline` fixes it at once. On a virtual clock the turn ends before time moves, so deadlines are exact.
 * Calls are added in time order, so every list operation is O(1); the expiry timer is unref'd.
 */
export class DeadlineQueue<T> {
  readonly #clock: Clock;
  readonly #durationMs: number;
  readonly #onExpire: (item: T) => void;
  #head: DeadlineEntry<T> | undefined;
  #tail: DeadlineEntry<T> | undefined;
  /** The calls added since the last clock reading, if any. */
  #open: Batch | undefined;
  /** Whether the end of the current event-loop turn will fix the deadlines of the calls added in it. */
  #turnEndPending = false;
  /** Armed for the earliest fixed deadline, `#expiryAt`. */
  #expiryTimer: unknown;
  #expiryAt = Number.POSITIVE_INFINITY;
  readonly #onTurnEnd = (): void => {
    this.#turnEndPending = false;
    this.#expire();
  };
  readonly #onExpiryTimer = (): void => {
    this.#expiryTimer = undefined;
    this.#expiryAt = Number.POSITIVE_INFINITY;
    this.#expire();
  };

  constructor(clock: Clock, durationMs: number, onExpire: (item: T) => void) {
    this.#clock = clock;
    this.#durationMs = durationMs;
    this.#onExpire = onExpire;
  }

  /** Calls `onExpire(entry.item)` `durationMs` after now (see the class), unless the entry is deleted first. */
  add(item: T): DeadlineEntry<T> {
    let batch = this.#open;
    if (batch === undefined) {
      batch = this.#open = new Batch(this);
      if (!this.#turnEndPending) {
        this.#turnEndPending = true;
        this.#atTurnEnd();
      }
    }
    const entry = new DeadlineEntry(batch, item);
    const tail = this.#tail;
    entry.prev = tail;
    if (tail === undefined) this.#head = entry;
    else tail.next = entry;
    this.#tail = entry;
    return entry;
  }

  /** Cancels an entry; deleting one that expired or was deleted already does nothing. */
  delete(entry: DeadlineEntry<T>): void {
    if (!entry.queued) return;
    entry.queued = false;
    const { prev, next } = entry;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next === undefined) this.#tail = prev;
    else next.prev = prev;
    entry.prev = entry.next = undefined;
  }

  /**
   * Calls `#onTurnEnd` once the current event-loop turn ends. On the system clock that is an immediate, which
   * runs before the loop waits again; a zero-delay timer would instead wake the loop every millisecond for as
   * long as calls keep starting.
   * On any other clock it is a zero-delay timer of that clock: a virtual clock fires it before it moves time, so
   * deadlines stay exact even for calls that start while the clock advances.
   */
  #atTurnEnd(): void {
    if (this.#clock === systemClock) setImmediate(this.#onTurnEnd);
    else unrefTimer(this.#clock.setTimeout(this.#onTurnEnd, 0));
  }

  /** Fixes the deadline of every entry that has none, from a clock reading taken now. */
  fixDeadlines(): void {
    const now = this.#clock.now();
    this.#fix(now);
    this.#armExpiry(now);
  }

  #fix(now: number): void {
    const open = this.#open;
    if (open === undefined) return;
    open.deadline = now + this.#durationMs;
    this.#open = undefined;
  }

  #expire(): void {
    const now = this.#clock.now();
    this.#fix(now);
    let head = this.#head;
    while (head !== undefined && head.batch.deadline <= now) {
      this.delete(head);
      callIsolated(this.#onExpire, head.item);
      head = this.#head;
    }
    this.#armExpiry(now);
  }

  /** Arms the expiry timer for the earliest fixed deadline, unless it is armed for that time or earlier. */
  #armExpiry(now: number): void {
    const head = this.#head;
    if (head === undefined) return;
    const deadline = head.batch.deadline;
    if (deadline >= this.#expiryAt) return;
    if (this.#expiryTimer !== undefined) this.#clock.clearTimeout(this.#expiryTimer);
    this.#expiryAt = deadline;
    const timer = this.#clock.setTimeout(this.#onExpiryTimer, Math.max(0, deadline - now));
    unrefTimer(timer);
    this.#expiryTimer = timer;
  }
}
