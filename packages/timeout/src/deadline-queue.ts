import { type Clock, callIsolated, unrefTimer } from '@breakwater/core';

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
 * A call in a {@link DeadlineQueue}. Its deadline is fixed lazily: by the queue's next timer turn, or when
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
 * deadline, so `add` does not read it. A call's start is taken from the next clock reading instead: the queue's
 * next timer turn (a zero-delay timer, armed once for every call added before it fires) reads the clock once
 * and fixes the deadline of every call added since, at that reading plus `durationMs`. A deadline is therefore
 * never early, and late by at most the time from `add` to that turn: the rest of the current event-loop turn
 * plus about a millisecond. On a virtual clock the turn comes before time moves, so deadlines are exact.
 * Calls are added in time order, so every list operation is O(1); timers are unref'd.
 */
export class DeadlineQueue<T> {
  readonly #clock: Clock;
  readonly #durationMs: number;
  readonly #onExpire: (item: T) => void;
  #head: DeadlineEntry<T> | undefined;
  #tail: DeadlineEntry<T> | undefined;
  /** The calls added since the last clock reading, if any. */
  #open: Batch | undefined;
  #size = 0;
  /** Armed while some entry has no deadline: its turn fixes them. */
  #turnTimer: unknown;
  /** Armed for the earliest fixed deadline, `#expiryAt`. */
  #expiryTimer: unknown;
  #expiryAt = Number.POSITIVE_INFINITY;
  readonly #onTurn = (): void => {
    this.#turnTimer = undefined;
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

  /** How many calls are pending. */
  get size(): number {
    return this.#size;
  }

  /** Calls `onExpire(entry.item)` `durationMs` after now (see the class), unless the entry is deleted first. */
  add(item: T): DeadlineEntry<T> {
    let batch = this.#open;
    if (batch === undefined) {
      batch = this.#open = new Batch(this);
      if (this.#turnTimer === undefined) this.#turnTimer = this.#arm(this.#onTurn, 0);
    }
    const entry = new DeadlineEntry(batch, item);
    const tail = this.#tail;
    entry.prev = tail;
    if (tail === undefined) this.#head = entry;
    else tail.next = entry;
    this.#tail = entry;
    this.#size++;
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
    this.#size--;
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
    this.#expiryTimer = this.#arm(this.#onExpiryTimer, Math.max(0, deadline - now));
  }

  #arm(callback: () => void, delayMs: number): unknown {
    const timer = this.#clock.setTimeout(callback, delayMs);
    unrefTimer(timer);
    return timer;
  }
}
