import type { Clock } from '@breakwater/core';

/**
 * A virtual clock for simulations with thousands of pending timers: the same behaviour as `virtualClock()`
 * from `@breakwater/testing` (timers fire in deadline order, then creation order; pending promise callbacks
 * run after each timer), but it finds the next timer in a binary heap instead of scanning every timer, which
 * a retry storm with ~10,000 waiting retries needs.
 */
export interface HeapClock extends Clock {
  /** Fires every timer due up to `untilMs`, in order, letting promise callbacks run after each. */
  run(untilMs: number): Promise<void>;
}

interface Timer {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const before = (a: Timer, b: Timer): boolean => a.due < b.due || (a.due === b.due && a.seq < b.seq);

export function heapClock(): HeapClock {
  let now = 0;
  let seq = 0;
  const heap: Timer[] = [];

  const push = (timer: Timer): void => {
    let i = heap.push(timer) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  };
  const pop = (): Timer => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
        if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
        i = smallest;
      }
    }
    return top;
  };

  return {
    now: () => now,
    setTimeout(callback, delayMs) {
      const timer: Timer = {
        due: now + Math.max(0, Number(delayMs) || 0),
        seq: seq++,
        callback,
        cancelled: false,
      };
      push(timer);
      return timer;
    },
    clearTimeout(handle) {
      if (typeof handle === 'object' && handle !== null && 'cancelled' in handle)
        (handle as Timer).cancelled = true;
    },
    async run(untilMs) {
      await flush();
      while (heap.length > 0 && heap[0]!.due <= untilMs) {
        const timer = pop();
        if (timer.cancelled) continue;
        now = Math.max(now, timer.due);
        timer.callback();
        await flush();
      }
    },
  };
}
