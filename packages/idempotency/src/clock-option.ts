import { type Clock, describeValue, systemClock } from '@breakwater/core';

/** Validates a `clock` option: `undefined` yields the system clock, anything else must look like a {@link Clock}. */
export function clockOption(owner: string, value: unknown): Clock {
  if (value === undefined) return systemClock;
  const clock = value as Partial<Record<keyof Clock, unknown>> | null;
  if (
    typeof clock !== 'object' ||
    clock === null ||
    typeof clock.now !== 'function' ||
    typeof clock.setTimeout !== 'function' ||
    typeof clock.clearTimeout !== 'function'
  ) {
    throw new TypeError(
      `${owner}: clock must be an object with now(), setTimeout() and clearTimeout() methods, received ${describeValue(value)}`,
    );
  }
  return value as Clock;
}
