import { describeValue } from '@breakwater/core';

/**
 * A response as an idempotency store keeps it: the status, the allow-listed headers and the body. `body` is
 * `null` when the response was too large to keep; such a record is completed but cannot be replayed.
 */
export interface StoredResponse {
  readonly status: number;
  /** Header name (lower case) and value pairs, in order; a name may repeat. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Uint8Array | null;
}

/** What `claim` asks for. */
export interface ClaimRequest {
  /** Random token of this claim; renew, complete and release succeed only for the current owner. */
  readonly owner: string;
  /** SHA-256 hex of the request (method, route, query, content type, body). */
  readonly fingerprint: string;
  /** How long the claim holds without renewal, in milliseconds. */
  readonly leaseMs: number;
  /** How long the record is kept, in milliseconds (also bounds an abandoned claim). */
  readonly retentionMs: number;
  /**
   * Whether a claim whose lease expired, with the same fingerprint, may be taken over by this one (orphan
   * policy `takeover`). Takeover is atomic: of concurrent claimers exactly one gets it.
   */
  readonly takeover: boolean;
}

/** The outcome of `claim`. The store never compares fingerprints for a verdict: the caller does, in constant time. */
export type ClaimResult =
  | {
      /** This request owns the key now. */
      readonly status: 'claimed';
      /** 1 for a fresh claim; n > 1 when this claim took over an abandoned one (the n-th execution). */
      readonly attempt: number;
    }
  | {
      /** Another request holds the key (its lease may have expired if takeover was not possible). */
      readonly status: 'in_progress';
      readonly fingerprint: string;
      /** Milliseconds until the holder's lease expires; 0 or less when it already has. */
      readonly leaseRemainingMs: number;
    }
  | {
      /** The key's request completed; here is its response. */
      readonly status: 'completed';
      readonly fingerprint: string;
      readonly response: StoredResponse;
    };

/**
 * Where idempotency records live. Every method is atomic and the mutating ones are conditional on the owner
 * token, so that a request whose lease expired and was taken over can no longer change the record. Keys reach
 * a store already scoped and hashed (base64url SHA-256); stores add their own namespace.
 *
 * Implementations must pass `describeStoreConformance` from `@breakwater/idempotency/testing`.
 */
export interface IdempotencyStore {
  /** Creates an in-progress record for `key` unless one exists; otherwise reports the existing one. */
  claim(key: string, request: ClaimRequest): Promise<ClaimResult>;
  /** Extends the lease of `owner`'s in-progress record to `leaseMs` from now; false when `owner` lost it. */
  renew(key: string, owner: string, leaseMs: number): Promise<boolean>;
  /** Turns `owner`'s in-progress record into a completed one kept for `retentionMs`; false when `owner` lost it. */
  complete(key: string, owner: string, response: StoredResponse, retentionMs: number): Promise<boolean>;
  /** Deletes `owner`'s in-progress record so the key can be claimed again; false when `owner` lost it. */
  release(key: string, owner: string): Promise<boolean>;
  /** Optional: frees the store's own resources (timers). Stores built on an injected client leave it open. */
  close?(): Promise<void> | void;
}

const required = ['claim', 'renew', 'complete', 'release'] as const;

/** Checks that `store` implements {@link IdempotencyStore}, with a message naming what is missing. */
export function assertStore(owner: string, store: unknown): IdempotencyStore {
  if (typeof store !== 'object' || store === null) {
    throw new TypeError(
      `${owner}: store must be an idempotency store object, received ${describeValue(store)}`,
    );
  }
  const missing = required.filter((name) => typeof (store as Record<string, unknown>)[name] !== 'function');
  if (missing.length > 0) {
    throw new TypeError(
      `${owner}: store must implement ${required.join(', ')}; missing ${missing.join(', ')} (received ${describeValue(store)})`,
    );
  }
  return store as IdempotencyStore;
}
