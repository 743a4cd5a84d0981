import { durationOption } from '@breakwater/core';
import type { Backoff } from './backoff.js';

/** A {@link Backoff} that always waits the same time. */
export class ConstantBackoff implements Backoff {
  /** The delay, in milliseconds. */
  readonly delayMs: number;

  constructor(delayMs: number) {
    this.delayMs = delayMs;
    Object.freeze(this);
  }

  next(): number {
    return this.delayMs;
  }
}

/**
 * Waits `ms` milliseconds before every retry (a number >= 0 and <= 2147483647). Without jitter, clients that
 * failed together retry together: prefer {@link exponentialBackoff} for anything shared.
 */
export function constantBackoff(ms: number): ConstantBackoff {
  if (ms === undefined)
    throw new TypeError('constantBackoff: ms is required (a number of milliseconds >= 0)');
  return new ConstantBackoff(durationOption('constantBackoff', 'ms', ms, 0, { max: 2_147_483_647 }));
}
