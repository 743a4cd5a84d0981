import type { Clock } from '@breakwater/core';

/** A {@link Clock} whose time moves only when a test says so. */
export interface VirtualClock extends Clock {
  /**
   * Moves time forward by `ms`, firing due timers in deadline order. Before each timer and at the end it lets
   * pending promise callbacks run, so policies awaiting a timer make progress as they would in real time.
   */
  advance(ms: number): Promise<void>;
  /** Moves time to the next pending timer and fires it; resolves `false` when there is none. */
  next(): Promise<boolean>;
  /** Lets pending promise callbacks run without moving time. */
  flush(): Promise<void>;
  /** How many timers are pending: the check that a policy left no timer behind. */
  readonly pending: number;
}

/** Options of {@link virtualClock}. */
export interface VirtualClockOptions {
  /** The clock's time at creation, in milliseconds. @default 0 */
  start?: number;
}

interface Timer {
  readonly id: number;
  readonly due: number;
  readonly callback: () => void;
}

/** A virtual clock for tests: time starts at `start` and moves only through `advance` and `next`. */
export function virtualClock(options: VirtualClockOptions = {}): VirtualClock {
  let now = options.start ?? 0;
  let nextId = 1;
  const timers = new Map<number, Timer>();

  const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  const earliest = (): Timer | undefined => {
    let first: Timer | undefined;
    for (const timer of timers.values()) {
      if (first === undefined || timer.due < first.due || (timer.due === first.due && timer.id < first.id)) {
        first = timer;
      }
    }
    return first;
  };

  const fire = (timer: Timer): void => {
    timers.delete(timer.id);
    now = Math.max(now, timer.due);
    timer.callback();
  };

  return {
    now: () => now,
    setTimeout(callback, delayMs) {
      const id = nextId++;
      timers.set(id, { id, due: now + Math.max(0, Number(delayMs) || 0), callback });
      return id;
    },
    clearTimeout(handle) {
      if (typeof handle === 'number') timers.delete(handle);
    },
    get pending() {
      return timers.size;
    },
    flush,
    async advance(ms) {
      if (!(ms >= 0) || !Number.isFinite(ms)) {
        throw new RangeError(`virtualClock: advance(ms) needs a finite number >= 0, received ${ms}`);
      }
      const target = now + ms;
      await flush();
      for (let timer = earliest(); timer !== undefined && timer.due <= target; timer = earliest()) {
        fire(timer);
        await flush();
      }
      now = target;
      await flush();
    },
    async next() {
      await flush();
      const timer = earliest();
      if (timer === undefined) return false;
      fire(timer);
      await flush();
      return true;
    },
  };
}
