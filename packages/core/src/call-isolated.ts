/**
 * Calls `listener(value)`. If it throws, the error is rethrown in a microtask, where it surfaces as an uncaught
 * exception, instead of stopping the caller: as `EventTarget` and `AbortSignal` do with a failing listener, so
 * that one bad listener cannot keep an event, a timeout or an abort from the others.
 */
export function callIsolated<T>(listener: (value: T) => void, value: T): void {
  try {
    listener(value);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}
