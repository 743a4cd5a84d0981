import type { TimerQueue, TimerQueueEntry } from '@breakwater/core';
import type { IdempotencyConfig } from './idempotency-options.js';
import type { StoredResponse } from './store.js';

/** What sessions share with the core that created them. */
export interface SessionRuntime {
  readonly config: IdempotencyConfig<never>;
  readonly queue: TimerQueue<IdempotencySession>;
  storeError(operation: 'claim' | 'renew' | 'complete' | 'release', error: unknown, keyHash: string): void;
  late(operation: 'renew' | 'complete' | 'release', keyHash: string): void;
}

/** A response as the adapter captured it. `body` is null when it was larger than `maxStoredResponseBytes`. */
export interface CapturedResponse {
  readonly status: number;
  /** Every response header, any case; the session keeps only the allow-listed ones. */
  readonly headers: Iterable<readonly [string, string | number | readonly string[] | undefined]>;
  readonly body: Uint8Array | null;
}

/** How a session ended. */
export type SessionEnd = 'completed' | 'released' | 'kept-locked' | 'lost';

/**
 * One claimed key while its handler runs: renews the lease (one shared timer per core), then completes or
 * releases the record according to the response. Every store write is conditional on this session's owner
 * token, so a session that lost its claim to a takeover changes nothing.
 */
export class IdempotencySession {
  /** 1 for the first execution; n > 1 when this request took over an abandoned claim. */
  readonly attempt: number;
  /** Short hash of the client key, for logs and events. */
  readonly keyHash: string;
  readonly #runtime: SessionRuntime;
  readonly #key: string;
  readonly #owner: string;
  #entry: TimerQueueEntry | undefined;
  #end: SessionEnd | undefined;
  #stopped = false;

  constructor(runtime: SessionRuntime, key: string, owner: string, keyHash: string, attempt: number) {
    this.#runtime = runtime;
    this.#key = key;
    this.#owner = owner;
    this.keyHash = keyHash;
    this.attempt = attempt;
    if (runtime.config.renewLease) this.#schedule();
  }

  /** Whether this request took over a claim abandoned by a crashed or timed-out request. */
  get recovered(): boolean {
    return this.attempt > 1;
  }

  /** How the session ended, once it has. */
  get end(): SessionEnd | undefined {
    return this.#end;
  }

  /** The handler produced `response`: store it, or release the key, as the options say. Never rejects. */
  async finish(response: CapturedResponse): Promise<SessionEnd> {
    if (this.#end !== undefined) return this.#end;
    this.#stop();
    const config = this.#runtime.config;
    const status = response.status;
    if (config.storeStatus(status) || (status >= 500 && config.onFailure === 'store')) {
      return this.#settle('complete', 'completed', () =>
        config.store.complete(this.#key, this.#owner, this.#toStored(response), config.retentionMs),
      );
    }
    if (status >= 500 && config.onFailure === 'keep-locked') {
      // The record stays in progress (409 for retries) until its retention ends.
      return this.#settle('renew', 'kept-locked', () =>
        config.store.renew(this.#key, this.#owner, config.retentionMs),
      );
    }
    return this.#settle('release', 'released', () => config.store.release(this.#key, this.#owner));
  }

  /**
   * The connection closed and no response will come (or the adapter could not capture it). Renewal stops, so
   * the claim lapses after `lockTtlMs` and the orphan policy applies; a late `finish` still completes the
   * record if nobody took it over meanwhile.
   */
  abandon(): void {
    this.#stop();
  }

  /** Renews the lease; called by the core's shared timer queue. */
  beat(): void {
    this.#entry = undefined;
    if (this.#stopped) return;
    const config = this.#runtime.config;
    config.store.renew(this.#key, this.#owner, config.lockTtlMs).then(
      (renewed) => {
        if (!renewed) {
          this.#stopped = true;
          this.#runtime.late('renew', this.keyHash);
          return;
        }
        this.#schedule();
      },
      (error: unknown) => {
        this.#runtime.storeError('renew', error, this.keyHash);
        this.#schedule();
      },
    );
  }

  async #settle(
    operation: 'complete' | 'renew' | 'release',
    end: SessionEnd,
    write: () => Promise<boolean>,
  ): Promise<SessionEnd> {
    this.#end = end;
    try {
      if (await write()) return end;
      this.#runtime.late(operation, this.keyHash);
      this.#end = 'lost';
    } catch (error) {
      this.#runtime.storeError(operation, error, this.keyHash);
    }
    return this.#end;
  }

  #schedule(): void {
    if (this.#stopped) return;
    const config = this.#runtime.config;
    this.#entry = this.#runtime.queue.add(
      this,
      config.clock.now() + Math.max(1, Math.floor(config.lockTtlMs / 3)),
    );
  }

  #stop(): void {
    this.#stopped = true;
    if (this.#entry !== undefined) this.#runtime.queue.delete(this.#entry);
    this.#entry = undefined;
  }

  #toStored(response: CapturedResponse): StoredResponse {
    const allowed = this.#runtime.config.responseHeaders;
    const headers: [string, string][] = [];
    for (const [rawName, value] of response.headers) {
      const name = rawName.toLowerCase();
      if (value === undefined || !allowed.has(name)) continue;
      if (typeof value === 'object') for (const item of value) headers.push([name, String(item)]);
      else headers.push([name, String(value)]);
    }
    return { status: response.status, headers, body: response.body };
  }
}
