import { type Clock, neverAbortedSignal } from '@breakwater/core';

/**
 * Waits `delayMs` on `clock` unless `signal` aborts first. Resolves true when the time has passed and false as
 * soon as the signal aborts; either way the timer and the listener are gone when it settles.
 */
export function abortableDelay(clock: Clock, delayMs: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    if (signal === neverAbortedSignal) {
      clock.setTimeout(() => resolve(true), delayMs);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      resolve(false);
    };
    const timer = clock.setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, delayMs);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
