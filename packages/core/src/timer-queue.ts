import { callIsolated } from './call-isolated.js';
import { type Clock, unrefTimer } from './clock.js';

/** A place in a {@link TimerQueue}, to cancel with `delete`. */
export interface TimerQueueEntry<T = unknown> {
  readonly deadline: number;
  /** What `onExpire` is called with. */
  readonly item: T;
}

interface Node<T> extends TimerQueueEntry<T> {
  prev: Node<T> | undefined;
  next: Node<T> | undefined;
  queued: boolean;
}

/**
 * Deadlines served by one timer. A policy with a fixed duration adds deadlines in order, so adding and
 * deleting are O(1) and no call arms or clears a timer of its own: the timer is armed for the earliest
 * deadline, and when it fires for an entry that was deleted meanwhile it re-arms for the next one. Real
 * timers are unref'd: pending deadlines never keep the process alive by themselves.
 */
export class TimerQueue<T> {
  readonly #clock: Clock;
  readonly #onExpire: (item: T) => void;
  #head: Node<T> | undefined;
  #tail: Node<T> | undefined;
  #size = 0;
  #timer: unknown;
  #timerDeadline = Number.POSITIVE_INFINITY;
  readonly #fire = (): void => this.#expire();

  constructor(clock: Clock, onExpire: (item: T) => void) {
    this.#clock = clock;
    this.#onExpire = onExpire;
  }

  /** How many deadlines are pending. */
  get size(): number {
    return this.#size;
  }

  /** Calls `onExpire(item)` at clock time `deadline` unless the entry is deleted first. */
  add(item: T, deadline: number): TimerQueueEntry<T> {
    const node: Node<T> = { item, deadline, prev: undefined, next: undefined, queued: true };
    let after = this.#tail;
    while (after !== undefined && after.deadline > deadline) after = after.prev;
    node.prev = after;
    node.next = after === undefined ? this.#head : after.next;
    if (node.next === undefined) this.#tail = node;
    else node.next.prev = node;
    if (after === undefined) this.#head = node;
    else after.next = node;
    this.#size++;
    if (deadline < this.#timerDeadline) this.#arm(deadline);
    return node;
  }

  /** Cancels an entry; deleting one that expired or was deleted already does nothing. */
  delete(entry: TimerQueueEntry): void {
    const node = entry as Node<T>;
    if (!node.queued) return;
    node.queued = false;
    if (node.prev === undefined) this.#head = node.next;
    else node.prev.next = node.next;
    if (node.next === undefined) this.#tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = node.next = undefined;
    this.#size--;
  }

  #arm(deadline: number): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timerDeadline = deadline;
    this.#timer = this.#clock.setTimeout(this.#fire, Math.max(0, deadline - this.#clock.now()));
    unrefTimer(this.#timer);
  }

  #expire(): void {
    this.#timer = undefined;
    this.#timerDeadline = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    let head = this.#head;
    while (head !== undefined && head.deadline <= now) {
      this.delete(head);
      callIsolated(this.#onExpire, head.item);
      head = this.#head;
    }
    if (head !== undefined && head.deadline < this.#timerDeadline) this.#arm(head.deadline);
  }
}
