import {
  booleanOption,
  type Clock,
  clockOption,
  describeValue,
  functionOption,
  integerOption,
  oneOfOption,
  readOptions,
} from '@breakwater/core';
import { DEFAULT_MAX_KEY_LENGTH, DEFAULT_MIN_KEY_LENGTH, IDEMPOTENCY_KEY_HEADER } from './key.js';
import { assertStore, type IdempotencyStore } from './store.js';

/** Options of {@link idempotency}, the framework-agnostic server core that the adapters share. */
export interface IdempotencyOptions<Req> {
  /** Where records live: `memoryStore()` for one process, `redisStore()` from `@breakwater/redis` for many. */
  store: IdempotencyStore;
  /**
   * Returns the principal (tenant, account, user id) the request acts for. Required: keys are scoped by it so
   * that two principals using the same key never see each other's responses. Run the middleware after
   * authentication. Return `"anonymous"` explicitly for unauthenticated routes if you accept the risk.
   */
  scope: (request: Req) => string | PromiseLike<string>;
  /** The request header that carries the key. @default "Idempotency-Key" */
  header?: string;
  /** Methods the key is enforced for; other methods pass through. @default ["POST", "PATCH"] */
  methods?: readonly string[];
  /** Whether a request without a key is rejected with 400 (otherwise it passes through). @default false */
  required?: boolean;
  /** Shortest accepted key, in characters; raise it (e.g. 16-36) for public APIs. @default 1 */
  minKeyLength?: number;
  /** Longest accepted key, in characters. @default 255 */
  maxKeyLength?: number;
  /** A format keys must match, e.g. a UUID. Trusted configuration: keep it linear-time (no nested quantifiers). */
  keyPattern?: RegExp;
  /** Also accept a bare, unquoted key (Stripe style), normalised to the same key as its quoted form. @default true */
  acceptUnquoted?: boolean;
  /**
   * How long a claim holds without renewal, in milliseconds. Must be at least the route's own timeout, and less
   * than `retentionMs`. After a crash the key is free again (or rejected, see `onOrphan`) once it expires.
   * @default 60000
   */
  lockTtlMs?: number;
  /** How long a completed request's response is kept and replayed, in milliseconds. Publish it. @default 86400000 (24 h) */
  retentionMs?: number;
  /** Whether the claim is renewed every `lockTtlMs / 3` while the handler runs. @default true */
  renewLease?: boolean;
  /**
   * What a retry finds when the first request's lease expired without completion (a crash): `'takeover'` runs
   * the handler again (with `recovered: true`), `'reject'` answers 409 until the record's retention ends.
   * Takeover can re-run a partially applied handler unless it is transactional or uses recovery points.
   * @default "takeover"
   */
  onOrphan?: 'takeover' | 'reject';
  /**
   * What a 5xx response (or a thrown error) does to the key: `'release'` frees it so a retry runs again (only
   * safe if the handler rolled its side effects back), `'store'` keeps and replays the error (Stripe),
   * `'keep-locked'` answers 409 to retries until the record's retention ends.
   * @default "release"
   */
  onFailure?: 'release' | 'store' | 'keep-locked';
  /**
   * Which final statuses are stored and replayed. Others (and 5xx, see `onFailure`) release the key.
   * @default 2xx, 3xx and 4xx except 408, 409, 425 and 429
   */
  storeStatus?: (status: number) => boolean;
  /**
   * What happens when the store fails: `'fail'` answers 503 with `Retry-After` (a retry is safe), `'bypass'`
   * runs the handler without idempotency (risks duplicates). @default "fail"
   */
  onStoreError?: 'fail' | 'bypass';
  /** Largest response body kept for replay, in bytes; past it the key completes but replays answer 409. @default 1048576 */
  maxStoredResponseBytes?: number;
  /** Largest request body fingerprinted, in bytes; past it the request is answered 413. @default 1048576 */
  maxFingerprintBodyBytes?: number;
  /**
   * Response headers stored and replayed (lower case). Add `set-cookie` only if replaying cookies is intended.
   * @default ["content-type", "content-language", "location", "etag", "last-modified", "cache-control", "retry-after", "link"]
   */
  responseHeaders?: readonly string[];
  /** Request headers that are part of the fingerprint besides `content-type` (lower case). @default [] */
  fingerprintHeaders?: readonly string[];
  /** Whether JSON bodies are fingerprinted by their canonical form (sorted keys), so key order does not matter. @default false */
  canonicalJson?: boolean;
  /**
   * Replaces the request fingerprint (which then still covers method and route). For bodies you compare by a
   * few fields, or for frameworks whose raw body is not available.
   */
  fingerprint?: (request: Req) => string | PromiseLike<string>;
  /**
   * `'auto'` claims the key before the handler runs. `'manual'` leaves it to the handler, which calls
   * `idempotencyOf(request).begin()` once its own validation passed, so rejected requests record nothing.
   * @default "auto"
   */
  begin?: 'auto' | 'manual';
  /** The route identity in the key and fingerprint. @default the framework's route template, else the path */
  route?: (request: Req) => string;
  /** `Retry-After` of a 409 for a request in progress, in milliseconds (sent rounded up to seconds). @default 1000 */
  conflictRetryAfterMs?: number;
  /** Prefix of the problem `type` URIs; the problem code is appended. @default the README of this package, with `#` */
  problemTypeBase?: string;
  /** Time source of lease renewals. @default systemClock */
  clock?: Clock;
}

/** Overrides for one route or adapter instance. */
export interface RouteOptions {
  /** Whether a request without a key is rejected with 400. @default the core's `required` */
  required?: boolean;
  /** Methods the key is enforced for. @default the core's `methods` */
  methods?: readonly string[];
}

/** The validated, frozen form of {@link IdempotencyOptions}. */
export interface IdempotencyConfig<Req> {
  readonly store: IdempotencyStore;
  readonly scope: (request: Req) => string | PromiseLike<string>;
  readonly header: string;
  readonly methods: ReadonlySet<string>;
  readonly required: boolean;
  readonly minKeyLength: number;
  readonly maxKeyLength: number;
  readonly keyPattern: RegExp | undefined;
  readonly acceptUnquoted: boolean;
  readonly lockTtlMs: number;
  readonly retentionMs: number;
  readonly renewLease: boolean;
  readonly onOrphan: 'takeover' | 'reject';
  readonly onFailure: 'release' | 'store' | 'keep-locked';
  readonly storeStatus: (status: number) => boolean;
  readonly onStoreError: 'fail' | 'bypass';
  readonly maxStoredResponseBytes: number;
  readonly maxFingerprintBodyBytes: number;
  readonly responseHeaders: ReadonlySet<string>;
  readonly fingerprintHeaders: readonly string[];
  readonly canonicalJson: boolean;
  readonly fingerprint: ((request: Req) => string | PromiseLike<string>) | undefined;
  readonly begin: 'auto' | 'manual';
  readonly route: ((request: Req) => string) | undefined;
  readonly conflictRetryAfterMs: number;
  readonly problemTypeBase: string;
  readonly clock: Clock;
}

/** The default of `storeStatus`: final 2xx, 3xx and 4xx except the transient 408, 409, 425 and 429. */
export function defaultStoreStatus(status: number): boolean {
  return (
    status >= 200 && status < 500 && status !== 408 && status !== 409 && status !== 425 && status !== 429
  );
}

const DEFAULT_RESPONSE_HEADERS = [
  'content-type',
  'content-language',
  'location',
  'etag',
  'last-modified',
  'cache-control',
  'retry-after',
  'link',
];

const MAX_TIMER_MS = 2_147_483_647;
const OWNER = 'idempotency';
const KNOWN = [
  'store',
  'scope',
  'header',
  'methods',
  'required',
  'minKeyLength',
  'maxKeyLength',
  'keyPattern',
  'acceptUnquoted',
  'lockTtlMs',
  'retentionMs',
  'renewLease',
  'onOrphan',
  'onFailure',
  'storeStatus',
  'onStoreError',
  'maxStoredResponseBytes',
  'maxFingerprintBodyBytes',
  'responseHeaders',
  'fingerprintHeaders',
  'canonicalJson',
  'fingerprint',
  'begin',
  'route',
  'conflictRetryAfterMs',
  'problemTypeBase',
  'clock',
] as const;

/** A field name: an RFC 9110 token. */
export const TOKEN: RegExp = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** An HTTP method: an upper-case token (methods are case-sensitive; lower case is almost always a mistake). */
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Z]+$/;

/** Validates the options of {@link idempotency}; throws a TypeError or RangeError naming the option. */
export function normalizeOptions<Req>(options: IdempotencyOptions<Req>): IdempotencyConfig<Req> {
  const o = readOptions(OWNER, options, KNOWN);
  if (o.store === undefined)
    throw new TypeError(`${OWNER}: store is required; pass memoryStore() or redisStore({ client })`);
  const store = assertStore(OWNER, o.store);
  if (o.scope === undefined) {
    throw new TypeError(
      `${OWNER}: scope is required; return a tenant/principal id, e.g. scope: (req) => req.user.id`,
    );
  }
  const scope = functionOption<(request: Req) => string | PromiseLike<string>>(OWNER, 'scope', o.scope)!;
  const header = stringOption('header', o.header, IDEMPOTENCY_KEY_HEADER);
  if (!TOKEN.test(header)) {
    throw new TypeError(
      `${OWNER}: header must be a field name (an RFC 9110 token), received ${describeValue(header)}`,
    );
  }
  const methods = methodsOption('methods', o.methods, ['POST', 'PATCH']);
  const maxKeyLength = integerOption(OWNER, 'maxKeyLength', o.maxKeyLength, DEFAULT_MAX_KEY_LENGTH, {
    min: 1,
    max: 4096,
  });
  const minKeyLength = integerOption(OWNER, 'minKeyLength', o.minKeyLength, DEFAULT_MIN_KEY_LENGTH, {
    min: 1,
  });
  if (minKeyLength > maxKeyLength) {
    throw new RangeError(
      `${OWNER}: minKeyLength must be <= maxKeyLength, received minKeyLength ${minKeyLength} and maxKeyLength ${maxKeyLength}`,
    );
  }
  const keyPattern = o.keyPattern;
  if (keyPattern !== undefined && !(keyPattern instanceof RegExp)) {
    throw new TypeError(`${OWNER}: keyPattern must be a RegExp, received ${describeValue(keyPattern)}`);
  }
  if (keyPattern?.global || keyPattern?.sticky) {
    throw new TypeError(
      `${OWNER}: keyPattern must not have the g or y flag (it would keep state between requests)`,
    );
  }
  const lockTtlMs = integerOption(OWNER, 'lockTtlMs', o.lockTtlMs, 60_000, { min: 1, max: MAX_TIMER_MS });
  const retentionMs = integerOption(OWNER, 'retentionMs', o.retentionMs, 86_400_000, { min: 1 });
  if (lockTtlMs >= retentionMs) {
    throw new RangeError(
      `${OWNER}: lockTtlMs must be < retentionMs, received lockTtlMs ${lockTtlMs} and retentionMs ${retentionMs}`,
    );
  }
  const responseHeaders = headerListOption('responseHeaders', o.responseHeaders, DEFAULT_RESPONSE_HEADERS);
  const fingerprintHeaders = headerListOption('fingerprintHeaders', o.fingerprintHeaders, []);
  const problemTypeBase = stringOption(
    'problemTypeBase',
    o.problemTypeBase,
    'https://github.com/breakwater-js/breakwater/tree/main/packages/idempotency#',
  );
  return Object.freeze({
    store,
    scope,
    header,
    methods,
    required: booleanOption(OWNER, 'required', o.required, false),
    minKeyLength,
    maxKeyLength,
    keyPattern,
    acceptUnquoted: booleanOption(OWNER, 'acceptUnquoted', o.acceptUnquoted, true),
    lockTtlMs,
    retentionMs,
    renewLease: booleanOption(OWNER, 'renewLease', o.renewLease, true),
    onOrphan: oneOfOption(OWNER, 'onOrphan', o.onOrphan, ['takeover', 'reject'], 'takeover'),
    onFailure: oneOfOption(OWNER, 'onFailure', o.onFailure, ['release', 'store', 'keep-locked'], 'release'),
    storeStatus: functionOption(OWNER, 'storeStatus', o.storeStatus, defaultStoreStatus),
    onStoreError: oneOfOption(OWNER, 'onStoreError', o.onStoreError, ['fail', 'bypass'], 'fail'),
    maxStoredResponseBytes: integerOption(
      OWNER,
      'maxStoredResponseBytes',
      o.maxStoredResponseBytes,
      1_048_576,
      { min: 0 },
    ),
    maxFingerprintBodyBytes: integerOption(
      OWNER,
      'maxFingerprintBodyBytes',
      o.maxFingerprintBodyBytes,
      1_048_576,
      {
        min: 0,
      },
    ),
    responseHeaders: new Set(responseHeaders),
    fingerprintHeaders,
    canonicalJson: booleanOption(OWNER, 'canonicalJson', o.canonicalJson, false),
    fingerprint: functionOption<(request: Req) => string | PromiseLike<string>>(
      OWNER,
      'fingerprint',
      o.fingerprint,
    ),
    begin: oneOfOption(OWNER, 'begin', o.begin, ['auto', 'manual'], 'auto'),
    route: functionOption<(request: Req) => string>(OWNER, 'route', o.route),
    conflictRetryAfterMs: integerOption(OWNER, 'conflictRetryAfterMs', o.conflictRetryAfterMs, 1000, {
      min: 0,
      max: MAX_TIMER_MS,
    }),
    problemTypeBase,
    clock: clockOption(OWNER, o.clock),
  });
}

/** Validates route overrides against the core's defaults. */
export function normalizeRouteOptions(
  owner: string,
  options: RouteOptions | undefined,
  defaults: { readonly required: boolean; readonly methods: ReadonlySet<string> },
): { readonly required: boolean; readonly methods: ReadonlySet<string> } {
  const o = readOptions(owner, options, ['required', 'methods']);
  return Object.freeze({
    required: booleanOption(owner, 'required', o.required, defaults.required),
    methods: o.methods === undefined ? defaults.methods : methodsOption('methods', o.methods, [], owner),
  });
}

function stringOption(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${OWNER}: ${name} must be a non-empty string, received ${describeValue(value)}`);
  }
  return value;
}

export function methodsOption(
  name: string,
  value: unknown,
  fallback: readonly string[],
  owner: string = OWNER,
): ReadonlySet<string> {
  if (value === undefined) return new Set(fallback);
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(
      `${owner}: ${name} must be a non-empty array of upper-case methods, received ${describeValue(value)}`,
    );
  }
  for (const method of value) {
    if (typeof method !== 'string' || !METHOD.test(method)) {
      throw new TypeError(
        `${owner}: ${name} must contain upper-case method names such as "POST", received ${describeValue(method)}`,
      );
    }
  }
  return new Set(value as string[]);
}

function headerListOption(name: string, value: unknown, fallback: readonly string[]): readonly string[] {
  if (value === undefined) return Object.freeze([...fallback]);
  if (!Array.isArray(value)) {
    throw new TypeError(
      `${OWNER}: ${name} must be an array of header names, received ${describeValue(value)}`,
    );
  }
  return Object.freeze(
    value.map((header: unknown) => {
      if (typeof header !== 'string' || !TOKEN.test(header)) {
        throw new TypeError(
          `${OWNER}: ${name} must contain header names (RFC 9110 tokens), received ${describeValue(header)}`,
        );
      }
      return header.toLowerCase();
    }),
  );
}
