/** Time as policies see it: injectable, so tests run on a virtual clock instead of sleeping. */
export interface Clock {
  /** Monotonic milliseconds; only differences between readings mean anything. */
  now(): number;
  /** Calls `callback` after `delayMs` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(callback: () => void, delayMs: number): unknown;
  /** Cancels a timer made by this clock's `setTimeout`. Unknown or fired handles are ignored. */
  clearTimeout(handle: unknown): void;
}

/**
 * The real clock: `performance.now()` and the global timers, looked up at each call so that fake timers and
 * spies installed later still apply.
 */
export const systemClock: Clock = Object.freeze({
  now: (): number => performance.now(),
  setTimeout: (callback: () => void, delayMs: number): unknown => setTimeout(callback, delayMs),
  clearTimeout: (handle: unknown): void => clearTimeout(handle as ReturnType<typeof setTimeout>),
});

/** Lets a timer not keep the process alive, when the clock's handles support it (Node timers do). */
export function unrefTimer(handle: unknown): void {
  if (
    typeof handle === 'object' &&
    handle !== null &&
    'unref' in handle &&
    typeof handle.unref === 'function'
  ) {
    handle.unref();
  }
}
