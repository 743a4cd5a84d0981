import {
  type Clock,
  clockOption,
  durationOption,
  integerOption,
  readOptions,
  unrefTimer,
} from '@breakwater/core';
import { LRUCache } from 'lru-cache';
import type { ClaimRequest, ClaimResult, IdempotencyStore, StoredResponse } from './store.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /** Most completed records kept; past it the least recently used is evicted (and its key can run again). @default 10000 */
  maxEntries?: number;
  /** Most bytes of completed records kept (bodies, headers and bookkeeping), evicting as for `maxEntries`. @default 67108864 (64 MiB) */
  maxBytes?: number;
  /** Most in-progress records; a claim past it fails (the server answers 503). They are never evicted. @default 10000 */
  maxInProgress?: number;
  /** How often expired records are swept, in milliseconds; the timer is unref'd. @default 60000 */
  sweepIntervalMs?: number;
  /** Time source for leases and retention. @default systemClock */
  clock?: Clock;
}

/** The store {@link memoryStore} returns. */
export interface MemoryIdempotencyStore extends IdempotencyStore {
  /** How many records (in progress and completed) are held. */
  readonly size: number;
  /** Stops the sweep timer. */
  close(): void;
}

/** Thrown by a memory store's `claim` when `maxInProgress` records are in progress. */
export class MemoryStoreFullError extends Error {
  override name = 'MemoryStoreFullError';
}

interface InProgress {
  owner: string;
  readonly fingerprint: string;
  leaseExpiresAt: number;
  expiresAt: number;
  attempt: number;
}

interface Completed {
  readonly fingerprint: string;
  readonly response: StoredResponse;
  readonly expiresAt: number;
}

const DEFAULTS = {
  maxEntries: 10_000,
  maxBytes: 64 * 1024 * 1024,
  maxInProgress: 10_000,
  sweepIntervalMs: 60_000,
};
const RECORD_OVERHEAD_BYTES = 128;

/**
 * An idempotency store in this process's memory, bounded by entries and bytes (completed records on
 * `lru-cache`; in-progress ones are never evicted). Single process only: two processes or machines need a
 * shared store such as `redisStore()` from `@breakwater/redis`.
 */
export function memoryStore(options?: MemoryStoreOptions): MemoryIdempotencyStore {
  const o = readOptions('memoryStore', options, [
    'maxEntries',
    'maxBytes',
    'maxInProgress',
    'sweepIntervalMs',
    'clock',
  ]);
  const maxEntries = integerOption('memoryStore', 'maxEntries', o.maxEntries, DEFAULTS.maxEntries, {
    min: 1,
  });
  const maxBytes = integerOption('memoryStore', 'maxBytes', o.maxBytes, DEFAULTS.maxBytes, { min: 1024 });
  const maxInProgress = integerOption(
    'memoryStore',
    'maxInProgress',
    o.maxInProgress,
    DEFAULTS.maxInProgress,
    { min: 1 },
  );
  const sweepIntervalMs = durationOption(
    'memoryStore',
    'sweepIntervalMs',
    o.sweepIntervalMs,
    DEFAULTS.sweepIntervalMs,
    {
      min: 1,
      max: 2_147_483_647,
    },
  );
  const clock = clockOption('memoryStore', o.clock);
  return new MemoryStore(maxEntries, maxBytes, maxInProgress, sweepIntervalMs, clock);
}

class MemoryStore implements MemoryIdempotencyStore {
  readonly #inProgress = new Map<string, InProgress>();
  readonly #completed: LRUCache<string, Completed>;
  readonly #maxInProgress: number;
  readonly #maxBytes: number;
  readonly #clock: Clock;
  readonly #sweepIntervalMs: number;
  #timer: unknown;

  constructor(
    maxEntries: number,
    maxBytes: number,
    maxInProgress: number,
    sweepIntervalMs: number,
    clock: Clock,
  ) {
    this.#completed = new LRUCache({ max: maxEntries, maxSize: maxBytes, sizeCalculation: sizeOf });
    this.#maxInProgress = maxInProgress;
    this.#maxBytes = maxBytes;
    this.#clock = clock;
    this.#sweepIntervalMs = sweepIntervalMs;
    this.#arm();
  }

  /** How many records (in progress and completed) are held. */
  get size(): number {
    return this.#inProgress.size + this.#completed.size;
  }

  claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
    const now = this.#clock.now();
    const completed = this.#liveCompleted(key, now);
    if (completed !== undefined) {
      return Promise.resolve({
        status: 'completed',
        fingerprint: completed.fingerprint,
        response: completed.response,
      });
    }
    const held = this.#liveInProgress(key, now);
    if (held === undefined) {
      if (this.#inProgress.size >= this.#maxInProgress) {
        return Promise.reject(
          new MemoryStoreFullError(`memoryStore: ${this.#maxInProgress} requests are in progress`),
        );
      }
      this.#inProgress.set(key, {
        owner: request.owner,
        fingerprint: request.fingerprint,
        leaseExpiresAt: now + request.leaseMs,
        expiresAt: now + request.retentionMs,
        attempt: 1,
      });
      return Promise.resolve({ status: 'claimed', attempt: 1 });
    }
    if (held.leaseExpiresAt <= now && request.takeover && held.fingerprint === request.fingerprint) {
      held.owner = request.owner;
      held.attempt++;
      held.leaseExpiresAt = now + request.leaseMs;
      held.expiresAt = Math.max(held.expiresAt, now + request.leaseMs);
      return Promise.resolve({ status: 'claimed', attempt: held.attempt });
    }
    return Promise.resolve({
      status: 'in_progress',
      fingerprint: held.fingerprint,
      leaseRemainingMs: held.leaseExpiresAt - now,
    });
  }

  renew(key: string, owner: string, leaseMs: number): Promise<boolean> {
    const now = this.#clock.now();
    const held = this.#liveInProgress(key, now);
    if (held?.owner !== owner) return Promise.resolve(false);
    held.leaseExpiresAt = now + leaseMs;
    held.expiresAt = Math.max(held.expiresAt, now + leaseMs);
    return Promise.resolve(true);
  }

  complete(key: string, owner: string, response: StoredResponse, retentionMs: number): Promise<boolean> {
    const now = this.#clock.now();
    const held = this.#liveInProgress(key, now);
    if (held?.owner !== owner) return Promise.resolve(false);
    this.#inProgress.delete(key);
    const record: Completed = { fingerprint: held.fingerprint, response, expiresAt: now + retentionMs };
    // A response too large for the whole store is kept without its body: the key stays completed (never
    // runs twice) and replays answer "not replayable".
    const fits = sizeOf(record) <= this.#maxBytes;
    this.#completed.set(key, fits ? record : { ...record, response: { ...response, body: null } });
    return Promise.resolve(true);
  }

  release(key: string, owner: string): Promise<boolean> {
    const held = this.#liveInProgress(key, this.#clock.now());
    if (held?.owner !== owner) return Promise.resolve(false);
    this.#inProgress.delete(key);
    return Promise.resolve(true);
  }

  close(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #liveInProgress(key: string, now: number): InProgress | undefined {
    const held = this.#inProgress.get(key);
    if (held !== undefined && held.expiresAt <= now) {
      this.#inProgress.delete(key);
      return undefined;
    }
    return held;
  }

  #liveCompleted(key: string, now: number): Completed | undefined {
    const record = this.#completed.get(key);
    if (record !== undefined && record.expiresAt <= now) {
      this.#completed.delete(key);
      return undefined;
    }
    return record;
  }

  #arm(): void {
    this.#timer = this.#clock.setTimeout(() => this.#sweep(), this.#sweepIntervalMs);
    unrefTimer(this.#timer);
  }

  #sweep(): void {
    const now = this.#clock.now();
    for (const [key, held] of this.#inProgress) if (held.expiresAt <= now) this.#inProgress.delete(key);
    const expired: string[] = [];
    for (const [key, record] of this.#completed.entries()) if (record.expiresAt <= now) expired.push(key);
    for (const key of expired) this.#completed.delete(key);
    this.#arm();
  }
}

function sizeOf(record: Completed): number {
  let size = RECORD_OVERHEAD_BYTES + (record.response.body?.byteLength ?? 0);
  for (const [name, value] of record.response.headers) size += name.length + value.length;
  return size;
}
