import { randomUUID } from 'node:crypto';
import { diagnosticsChannelName, type Event, EventEmitter, TimerQueue } from '@breakwater/core';
import {
  canonicalJson,
  Fingerprinter,
  type FingerprintParts,
  keyHash,
  lookupKey,
  sameFingerprint,
} from './hashing.js';
import {
  type IdempotencyConfig,
  type IdempotencyOptions,
  normalizeOptions,
  normalizeRouteOptions,
  type RouteOptions,
} from './idempotency-options.js';
import { IDEMPOTENT_REPLAYED_HEADER, parseIdempotencyKey } from './key.js';
import { type IdempotencyResponse, problemResponse } from './problem.js';
import { IdempotencySession, type SessionRuntime } from './session.js';
import type { ClaimResult } from './store.js';

/** What happened to a request that came with (or without) a key; `keyHash` is a short hash, never the key. */
export interface IdempotencyOutcomeEvent {
  readonly outcome:
    | 'claimed'
    | 'orphan_takeover'
    | 'replayed'
    | 'conflict'
    | 'mismatch'
    | 'not_replayable'
    | 'missing'
    | 'invalid'
    | 'too_large'
    | 'bypassed'
    | 'store_unavailable';
  readonly method: string;
  readonly route: string | undefined;
  readonly keyHash: string | undefined;
}

/** A store operation failed. */
export interface IdempotencyStoreErrorEvent {
  readonly operation: 'claim' | 'renew' | 'complete' | 'release';
  readonly error: unknown;
  readonly keyHash: string;
}

/** A request lost its claim (its lease expired and another request took over); its late write was dropped. */
export interface IdempotencyLateCompletionEvent {
  readonly operation: 'renew' | 'complete' | 'release';
  readonly keyHash: string;
}

/** The first step of a request: skip it, answer it (missing or malformed key), or enforce its key. */
export type KeyCheck =
  | { readonly action: 'skip' }
  | { readonly action: 'respond'; readonly response: IdempotencyResponse }
  | { readonly action: 'enforce'; readonly key: string };

/** What an adapter knows about a request besides its body. */
export interface RequestFacts extends FingerprintParts {}

/** The outcome of claiming a key: answer with a response (replay or error), or run the handler. */
export type Decision =
  | { readonly action: 'respond'; readonly response: IdempotencyResponse }
  | {
      readonly action: 'proceed';
      /** Undefined when the store failed and `onStoreError` is `'bypass'`: run without idempotency. */
      readonly session: IdempotencySession | undefined;
    };

/** Route-level settings resolved by {@link Idempotency.route}. */
export interface ResolvedRoute {
  readonly required: boolean;
  readonly methods: ReadonlySet<string>;
}

/** Collects a request body for its fingerprint, bounded by `maxFingerprintBodyBytes`. */
export interface FingerprintSink {
  /** Adds body bytes; returns false once the body is over the limit (then answer {@link Idempotency.tooLarge}). */
  update(chunk: Uint8Array | string): boolean;
  readonly overflow: boolean;
}

class Sink implements FingerprintSink {
  readonly fingerprinter: Fingerprinter;
  readonly chunks: Buffer[] | undefined;
  readonly #max: number;
  #bytes = 0;
  overflow = false;

  constructor(parts: FingerprintParts, max: number, buffer: boolean) {
    this.fingerprinter = new Fingerprinter(parts);
    this.chunks = buffer ? [] : undefined;
    this.#max = max;
  }

  update(chunk: Uint8Array | string): boolean {
    if (this.overflow) return false;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    this.#bytes += bytes.byteLength;
    if (this.#bytes > this.#max) {
      this.overflow = true;
      return false;
    }
    if (this.chunks) this.chunks.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    else this.fingerprinter.update(bytes);
    return true;
  }
}

/**
 * The framework-agnostic server core of the idempotency middleware, shared by the adapters
 * (`nodeIdempotency`, `expressIdempotency` from `/express`, `fastifyIdempotency` from `/fastify`). It follows
 * draft-ietf-httpapi-idempotency-key-header: a malformed or missing (when required) key is a 400, a key reused
 * with another payload a 422, a duplicate while the first request runs a 409 with `Retry-After`, and a
 * completed key replays the stored response with `Idempotent-Replayed: true`.
 *
 * Create one per service (or per route group) and hand it to the adapters.
 */
export class Idempotency<Req> {
  /** The validated options. */
  readonly config: IdempotencyConfig<Req>;
  readonly #outcome = new EventEmitter<IdempotencyOutcomeEvent>(
    diagnosticsChannelName('idempotency', 'outcome'),
  );
  readonly #storeError = new EventEmitter<IdempotencyStoreErrorEvent>(
    diagnosticsChannelName('idempotency', 'store-error'),
  );
  readonly #late = new EventEmitter<IdempotencyLateCompletionEvent>(
    diagnosticsChannelName('idempotency', 'late-completion'),
  );
  /** Every request decision (`claimed`, `replayed`, `conflict`, `mismatch`, ...). Channel `breakwater:idempotency:outcome`. */
  readonly onOutcome: Event<IdempotencyOutcomeEvent> = this.#outcome.event;
  /** Store failures. Channel `breakwater:idempotency:store-error`. */
  readonly onStoreError: Event<IdempotencyStoreErrorEvent> = this.#storeError.event;
  /** Writes dropped because the claim was lost. Channel `breakwater:idempotency:late-completion`. */
  readonly onLateCompletion: Event<IdempotencyLateCompletionEvent> = this.#late.event;
  readonly #runtime: SessionRuntime;
  readonly #defaults: ResolvedRoute;

  constructor(options: IdempotencyOptions<Req>) {
    this.config = normalizeOptions(options);
    this.#defaults = Object.freeze({ required: this.config.required, methods: this.config.methods });
    const queue = new TimerQueue<IdempotencySession>(this.config.clock, (session) => session.beat());
    this.#runtime = {
      config: this.config,
      queue,
      storeError: (operation, error, hash) => {
        if (this.#storeError.active) this.#storeError.emit({ operation, error, keyHash: hash });
      },
      late: (operation, hash) => {
        if (this.#late.active) this.#late.emit({ operation, keyHash: hash });
      },
    };
  }

  /** Resolves route overrides (validated once, when the adapter is created). */
  route(owner: string, options: RouteOptions | undefined): ResolvedRoute {
    return options === undefined ? this.#defaults : normalizeRouteOptions(owner, options, this.#defaults);
  }

  /** Step 1: is the key enforced for this method, and is it present and well-formed? */
  check(method: string, fieldLines: readonly string[], route: ResolvedRoute = this.#defaults): KeyCheck {
    if (!route.methods.has(method)) return { action: 'skip' };
    if (fieldLines.length === 0) {
      if (!route.required) return { action: 'skip' };
      this.#emit('missing', method, undefined, undefined);
      return { action: 'respond', response: this.#problem('idempotency-key-missing') };
    }
    const config = this.config;
    const parsed = parseIdempotencyKey(fieldLines, config);
    if (!parsed.ok) {
      this.#emit('invalid', method, undefined, undefined);
      return {
        action: 'respond',
        response: this.#problem('idempotency-key-invalid', `${config.header}: ${parsed.detail}.`),
      };
    }
    return { action: 'enforce', key: parsed.key };
  }

  /** Step 2: a sink for the request body (hashes it incrementally, or buffers it for `canonicalJson`). */
  sink(facts: RequestFacts): FingerprintSink {
    return new Sink(
      facts,
      this.config.maxFingerprintBodyBytes,
      this.config.canonicalJson && isJson(facts.contentType),
    );
  }

  /** The 413 answer for a body over `maxFingerprintBodyBytes`. */
  tooLarge(method: string, route: string): IdempotencyResponse {
    this.#emit('too_large', method, route, undefined);
    return this.#problem(
      'idempotency-request-too-large',
      `Idempotent requests may carry at most ${this.config.maxFingerprintBodyBytes} bytes.`,
    );
  }

  /** Step 3: computes the fingerprint and claims the key (or finds the replay, conflict or mismatch). */
  async claim(request: Req, key: string, facts: RequestFacts, sink: FingerprintSink): Promise<Decision> {
    const config = this.config;
    const scope = await config.scope(request);
    if (typeof scope !== 'string' || scope.length === 0) {
      throw new TypeError(
        `idempotency: scope(request) must return a non-empty string, received ${typeof scope}`,
      );
    }
    const fingerprint = await this.#fingerprint(request, facts, sink as Sink);
    const storeKey = lookupKey(scope, facts.method, facts.route, key);
    const hash = keyHash(key);
    const owner = randomUUID();
    let result: ClaimResult;
    try {
      result = await config.store.claim(storeKey, {
        owner,
        fingerprint,
        leaseMs: config.lockTtlMs,
        retentionMs: config.retentionMs,
        takeover: config.onOrphan === 'takeover',
      });
    } catch (error) {
      this.#runtime.storeError('claim', error, hash);
      if (config.onStoreError === 'bypass') {
        this.#emit('bypassed', facts.method, facts.route, hash);
        return { action: 'proceed', session: undefined };
      }
      this.#emit('store_unavailable', facts.method, facts.route, hash);
      return {
        action: 'respond',
        response: this.#problem('idempotency-store-unavailable', undefined, [['retry-after', '1']]),
      };
    }
    if (result.status === 'claimed') {
      this.#emit(result.attempt > 1 ? 'orphan_takeover' : 'claimed', facts.method, facts.route, hash);
      return {
        action: 'proceed',
        session: new IdempotencySession(this.#runtime, storeKey, owner, hash, result.attempt),
      };
    }
    if (!sameFingerprint(result.fingerprint, fingerprint)) {
      this.#emit('mismatch', facts.method, facts.route, hash);
      return { action: 'respond', response: this.#problem('idempotency-key-reused') };
    }
    if (result.status === 'in_progress') {
      this.#emit('conflict', facts.method, facts.route, hash);
      const retryAfter = String(Math.ceil(config.conflictRetryAfterMs / 1000));
      return {
        action: 'respond',
        response: this.#problem('idempotency-request-in-progress', undefined, [['retry-after', retryAfter]]),
      };
    }
    const stored = result.response;
    if (stored.body === null) {
      this.#emit('not_replayable', facts.method, facts.route, hash);
      return { action: 'respond', response: this.#problem('idempotency-response-not-replayable') };
    }
    this.#emit('replayed', facts.method, facts.route, hash);
    return {
      action: 'respond',
      response: {
        status: stored.status,
        headers: [...stored.headers, [IDEMPOTENT_REPLAYED_HEADER.toLowerCase(), 'true']],
        body: stored.body,
      },
    };
  }

  async #fingerprint(request: Req, facts: RequestFacts, sink: Sink): Promise<string> {
    const config = this.config;
    if (config.fingerprint !== undefined) {
      const custom = await config.fingerprint(request);
      if (typeof custom !== 'string') {
        throw new TypeError(
          `idempotency: fingerprint(request) must return a string, received ${typeof custom}`,
        );
      }
      const fingerprinter = new Fingerprinter({ ...facts, query: '', contentType: '', headers: [] });
      fingerprinter.update(custom);
      return fingerprinter.digest();
    }
    if (sink.chunks !== undefined) {
      const body = Buffer.concat(sink.chunks);
      let canonical: string | undefined;
      try {
        canonical = canonicalJson(JSON.parse(body.toString('utf8')));
      } catch {
        // Not JSON after all: fingerprint the bytes as they are.
      }
      sink.fingerprinter.update(canonical ?? body);
    }
    return sink.fingerprinter.digest();
  }

  #problem(
    code: Parameters<typeof problemResponse>[1],
    detail?: string,
    headers?: readonly (readonly [string, string])[],
  ): IdempotencyResponse {
    return problemResponse(this.config.problemTypeBase, code, detail, headers);
  }

  #emit(
    outcome: IdempotencyOutcomeEvent['outcome'],
    method: string,
    route: string | undefined,
    hash: string | undefined,
  ): void {
    if (this.#outcome.active) this.#outcome.emit({ outcome, method, route, keyHash: hash });
  }
}

/**
 * Creates the server core. Validates every option now and throws a TypeError or RangeError naming the one
 * that is wrong.
 *
 * @example
 * const idem = idempotency({ store: memoryStore(), scope: (req) => req.user.id });
 * http.createServer(nodeIdempotency(idem, async (req, res, { body }) => { ... }));
 */
export function idempotency<Req>(options: IdempotencyOptions<Req>): Idempotency<Req> {
  return new Idempotency(options);
}

function isJson(contentType: string): boolean {
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}
