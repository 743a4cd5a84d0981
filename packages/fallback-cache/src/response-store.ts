import { createHmac, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { type Clock, unrefTimer } from '@breakwater/core';
import type { HttpHeaderReader } from '@breakwater/http';
import { LRUCache } from 'lru-cache';
import type { Servable } from './storage-rules.js';

/** A stored response: what is replayed, and what decides whether it still may be. */
export interface StoredResponse extends Servable {
  /** The method it answered (`GET` for a HEAD served from it). */
  readonly method: string;
  readonly status: number;
  readonly statusText: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Uint8Array;
  /** The request fields it varies on. */
  readonly varyNames: readonly string[];
  /** Bytes it counts against `maxBytes`: body, header fields and a fixed overhead. */
  readonly size: number;
}

/** What a stored entry remembers of its URL, for invalidation and for the Vary lookup. */
interface UrlRecord {
  /** Entry keys under this URL (every method, partition and variant). */
  readonly keys: Set<string>;
  /** The Vary field names last stored for each method. */
  readonly vary: Map<string, readonly string[]>;
}

interface Entry {
  readonly response: StoredResponse;
  readonly urlKey: string;
}

/** Fixed bytes counted per entry besides body and headers, for the bookkeeping objects. */
export const entryOverheadBytes = 256;
/** How often stale-beyond-use entries are swept out, in ms. */
const sweepIntervalMs = 60_000;

/**
 * The bounded store behind a fallback cache: an LRU (lru-cache) bounded by entries and by bytes, keyed by
 * HMAC-SHA-256 digests under a per-instance random secret (so no URL, principal or header value is kept as
 * a key, and keys cannot be guessed or forged), with the Vary field values of the request folded into the
 * key. Entries leave at the end of their usefulness through lru-cache's TTL on the injected clock, swept
 * by one unref'd timer that only runs while something is stored.
 */
export class ResponseStore {
  readonly #entries: LRUCache<string, Entry> | undefined;
  readonly #urls = new Map<string, UrlRecord>();
  /** A KeyObject, not a Buffer: createHmac then skips importing the key, 28 µs down to 4 µs a digest. */
  readonly #secret: KeyObject = createSecretKey(randomBytes(32));
  readonly #clock: Clock;
  /** lru-cache takes a start time of 0 as "no TTL": its clock starts at 1. */
  readonly #origin: number;
  #sweepTimer: unknown;
  #reserved = 0;
  readonly #maxReserved: number;
  readonly maxEntrySize: number;

  constructor(maxEntries: number, maxBytes: number, maxEntrySize: number, clock: Clock) {
    this.#clock = clock;
    this.#origin = clock.now() - 1;
    this.#maxReserved = maxBytes;
    this.maxEntrySize = maxEntrySize;
    // A zero bound stores nothing (lru-cache would read 0 as "unbounded").
    this.#entries =
      maxEntries === 0 || maxBytes === 0 || maxEntrySize === 0
        ? undefined
        : new LRUCache<string, Entry>({
            max: maxEntries,
            maxSize: maxBytes,
            maxEntrySize,
            ttlResolution: 0,
            perf: { now: () => clock.now() - this.#origin },
            dispose: (entry, key) => this.#forget(entry.urlKey, key),
          });
  }

  /** How many responses are stored. */
  get size(): number {
    return this.#entries?.size ?? 0;
  }

  /** How many bytes the stored responses count. */
  get bytes(): number {
    return this.#entries?.calculatedSize ?? 0;
  }

  /** The key of a URL (fragment already removed). */
  urlKey(url: string): string {
    return createHmac('sha256', this.#secret).update(`u${url}`).digest('base64url');
  }

  /** The stored response for a URL, method and partition whose Vary fields match `headers`, if any. */
  get(
    urlKey: string,
    method: string,
    partition: string | undefined,
    headers: HttpHeaderReader,
  ): StoredResponse | undefined {
    const entries = this.#entries;
    if (entries === undefined) return undefined;
    const record = this.#urls.get(urlKey);
    const varyNames = record?.vary.get(method);
    if (varyNames === undefined) return undefined;
    return entries.get(this.#entryKey(urlKey, method, partition, varyNames, headers))?.response;
  }

  /**
   * Stores `response` (replacing the same variant), unless it is larger than `maxEntrySize`. `lifetimeMs`
   * is how long after `response.responseTime` it stays.
   */
  set(
    urlKey: string,
    partition: string | undefined,
    headers: HttpHeaderReader,
    response: StoredResponse,
    lifetimeMs: number,
  ): boolean {
    const entries = this.#entries;
    if (entries === undefined || response.size > this.maxEntrySize) return false;
    if (response.responseTime + lifetimeMs <= this.#clock.now()) return false; // useless already
    const key = this.#entryKey(urlKey, response.method, partition, response.varyNames, headers);
    // A slow body finishing late must not replace a newer response to the same request.
    const current = entries.peek(key);
    if (current !== undefined && current.response.responseTime > response.responseTime) return false;
    entries.set(
      key,
      { response, urlKey },
      {
        size: response.size,
        ttl: Math.max(1, Math.ceil(lifetimeMs)),
        start: response.responseTime - this.#origin,
      },
    );
    let record = this.#urls.get(urlKey);
    if (record === undefined) {
      record = { keys: new Set(), vary: new Map() };
      this.#urls.set(urlKey, record);
    }
    record.keys.add(key);
    record.vary.set(response.method, response.varyNames);
    this.#armSweep();
    return true;
  }

  /** Drops every stored response of a URL: all methods, partitions and variants (RFC 9111 §4.4). */
  invalidate(urlKey: string): void {
    const record = this.#urls.get(urlKey);
    if (record === undefined) return;
    for (const key of [...record.keys]) this.#entries!.delete(key);
  }

  /** Drops everything. */
  clear(): void {
    this.#entries?.clear();
    if (this.#sweepTimer !== undefined) {
      this.#clock.clearTimeout(this.#sweepTimer);
      this.#sweepTimer = undefined;
    }
  }

  /**
   * Reserves room for a body being read for storing. Bodies in flight share a budget of `maxBytes`, so a
   * burst of large responses cannot hold more than that while they stream.
   */
  reserve(bytes: number): boolean {
    if (this.#reserved + bytes > this.#maxReserved) return false;
    this.#reserved += bytes;
    return true;
  }

  /** Returns room reserved with {@link reserve}. */
  release(bytes: number): void {
    this.#reserved -= bytes;
  }

  /** Bytes reserved by bodies being read now. */
  get reserved(): number {
    return this.#reserved;
  }

  #entryKey(
    urlKey: string,
    method: string,
    partition: string | undefined,
    varyNames: readonly string[],
    headers: HttpHeaderReader,
  ): string {
    // Length-prefixed fields: no choice of values can make two different tuples hash alike.
    const hmac = createHmac('sha256', this.#secret);
    hmac.update(`${urlKey}|${method}|`);
    hmac.update(partition === undefined ? '-' : `p${partition.length}:${partition}`);
    for (const name of varyNames) {
      const value = headers.get(name);
      // Absent and empty differ (RFC 9111 §4.1); values are compared as sent, trimmed.
      hmac.update(value === null ? `|${name}-` : `|${name}=${value.trim().length}:${value.trim()}`);
    }
    return hmac.digest('base64url');
  }

  #forget(urlKey: string, key: string): void {
    const record = this.#urls.get(urlKey);
    if (record === undefined) return;
    record.keys.delete(key);
    if (record.keys.size === 0) this.#urls.delete(urlKey);
  }

  #armSweep(): void {
    if (this.#sweepTimer !== undefined) return;
    const handle = this.#clock.setTimeout(() => {
      this.#sweepTimer = undefined;
      this.#entries?.purgeStale();
      if (this.size > 0) this.#armSweep();
    }, sweepIntervalMs);
    unrefTimer(handle);
    this.#sweepTimer = handle;
  }
}
