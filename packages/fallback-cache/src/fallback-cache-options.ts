import {
  booleanOption,
  type Clock,
  clockOption,
  describeValue,
  functionOption,
  handleAll,
  integerOption,
  oneOfOption,
  readOptions,
  type ShouldHandle,
} from '@breakwater/core';
import type { CacheRequest } from './cache-request.js';

/** Options shared by {@link fallbackCache} and {@link fallbackCacheInterceptor}. */
export interface FallbackCacheBaseOptions {
  /**
   * `'shared'`: one process serves many users, so the cache is shared in RFC 9111 terms (`private`
   * responses and responses to requests with credentials are not stored unless `principal` partitions
   * them). `'private'` only when every request through this instance is made for one single principal.
   * @default 'shared'
   */
  mode?: 'shared' | 'private' | undefined;
  /**
   * The methods whose responses are stored and served: safe methods without a request body only (`GET`,
   * `HEAD`, `OPTIONS`, `TRACE`; not `QUERY`, whose response depends on the body), upper-case. A HEAD request
   * may be served from a stored GET response.
   * @default ['GET', 'HEAD']
   */
  methods?: readonly string[] | undefined;
  /**
   * The principal (user, tenant, API key id) a request is made for. When it returns a string, that
   * request's responses are stored in, and served from, a partition of their own, which no other principal
   * reads; the value is only ever kept as an HMAC. When it returns `undefined`, a request carrying
   * `Authorization`, `Proxy-Authorization` or `Cookie` has its response stored (shared) only if the response
   * says `public`, `s-maxage` or `must-revalidate` (RFC 9111 §3.5). Called at most once per request with a
   * cacheable method, and only when its response may be stored or a stored one may answer its failure (never
   * for a `no-store` response, say); it must be synchronous and cheap. If it throws or returns a non-string,
   * that request is neither stored nor served, and a process warning says so once.
   * @default none: no partitions
   */
  principal?: ((request: CacheRequest) => string | undefined) | undefined;
  /**
   * Response statuses that count as a failed live call and are answered from the cache: integers from 400
   * to 599. Other statuses (a 404, a 429 unless listed) pass through untouched.
   * @default [500, 502, 503, 504]
   */
  failureStatuses?: readonly number[] | undefined;
  /**
   * Whether a full bulkhead (`BulkheadRejectedError`) is answered from the cache, like network errors,
   * timeouts and an open circuit are.
   * @default true
   */
  serveOnBulkheadRejection?: boolean | undefined;
  /**
   * How long after it became stale a stored response may still be served on error, in milliseconds, when
   * neither the response nor the request carries `stale-if-error`. An integer from 0 to 2147483647.
   * @default 300000 (5 minutes), or `maxStaleIfErrorMs` when smaller
   */
  staleIfErrorMs?: number | undefined;
  /**
   * The upper bound of the stale window, whatever `stale-if-error` a response or request asks for, in
   * milliseconds. An integer from 0 to 2147483647, at least `staleIfErrorMs`.
   * @default 86400000 (24 hours)
   */
  maxStaleIfErrorMs?: number | undefined;
  /**
   * Whether responses that are storable but have no freshness (`max-age=0`, or no `max-age`, `Expires` or
   * `Last-Modified` at all) are kept anyway, purely for error fallback: an out-of-band contract with an
   * origin that says nothing. `no-store`, `private` and the credential rules still apply.
   * @default false (such a response is stored only when it carries `stale-if-error`)
   */
  storeWithoutFreshness?: boolean | undefined;
  /**
   * Whether a stale response is served on error despite `must-revalidate`, `proxy-revalidate`, `s-maxage`
   * (shared mode) or an unqualified `no-cache`, which forbid it (RFC 9111 §4.2.4): an out-of-band contract.
   * @default false
   */
  ignoreRevalidationDirectives?: boolean | undefined;
  /**
   * How many responses are stored at most; the least recently used goes first. An integer from 0 (store
   * nothing) to 16777216.
   * @default 1024
   */
  maxEntries?: number | undefined;
  /**
   * How many bytes the stored responses (bodies plus header fields) take at most. The same amount bounds
   * the bodies being read for storing at any moment. An integer from 0 (store nothing) to 2^53 - 1.
   * @default 104857600 (100 MiB)
   */
  maxBytes?: number | undefined;
  /**
   * The largest single stored response (body plus header fields), in bytes: a larger body is delivered
   * untouched and not stored, and reading it for storing stops at this bound. An integer from 0 to
   * `maxBytes`.
   * @default 5242880 (5 MiB), or `maxBytes` when smaller
   */
  maxEntrySize?: number | undefined;
  /**
   * The response header fields kept with a stored response (lower-case names), or `'all'` for every field
   * except hop-by-hop ones. `Set-Cookie`, `Age`, hop-by-hop fields and the fields named by
   * `private="..."`/`no-cache="..."` are never kept.
   * @default the representation and caching fields: cache-control, content-disposition, content-encoding,
   * content-language, content-length, content-location, content-type, date, etag, expires, last-modified,
   * link, location, vary, allow, accept-ranges
   */
  storeHeaders?: readonly string[] | 'all' | undefined;
  /** The clock that ages stored responses. @default systemClock */
  clock?: Clock | undefined;
}

/** Options of {@link fallbackCache}. */
export interface FallbackCacheOptions extends FallbackCacheBaseOptions {
  /**
   * Narrows which failures are answered from the cache, among those it answers at all (failure statuses,
   * network errors, timeouts, open circuit, full bulkhead). The caller's own abort never is.
   * @default every one of them
   */
  shouldHandle?: ShouldHandle | undefined;
}

/** Options of {@link fallbackCacheInterceptor}: the shared options (there is no context to hand `shouldHandle`). */
export type FallbackCacheInterceptorOptions = FallbackCacheBaseOptions;

/** Validated, frozen settings. */
export interface FallbackCacheSettings {
  readonly shared: boolean;
  readonly methods: ReadonlySet<string>;
  readonly principal: ((request: CacheRequest) => string | undefined) | undefined;
  /** Indexed by status: 1 where the status is a failure the cache answers. */
  readonly failureStatuses: Uint8Array;
  readonly serveOnBulkheadRejection: boolean;
  readonly staleIfErrorMs: number;
  readonly maxStaleIfErrorMs: number;
  readonly storeWithoutFreshness: boolean;
  readonly ignoreRevalidationDirectives: boolean;
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly maxEntrySize: number;
  /** `undefined`: every field but the never-kept ones. */
  readonly storeHeaders: ReadonlySet<string> | undefined;
  readonly clock: Clock;
  readonly shouldHandle: ShouldHandle;
  /** The factory's name, for messages. */
  readonly name: string;
}

/** The safe methods (RFC 9110 §9.2.1, plus QUERY): their success never invalidates stored responses. */
export const safeMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'QUERY']);
/**
 * The methods `methods` may list: the safe ones but QUERY. A QUERY response depends on the request body,
 * which this cache does not key on, so storing it would answer one query with another's result.
 */
const cacheableMethods: ReadonlySet<string> = new Set(
  [...safeMethods].filter((method) => method !== 'QUERY'),
);
const defaultMethods = ['GET', 'HEAD'] as const;
const defaultFailureStatuses = [500, 502, 503, 504] as const;
const maxTimerMs = 2_147_483_647;
const mebibyte = 1024 * 1024;

/** The default of `storeHeaders`. */
export const defaultStoredHeaders: readonly string[] = Object.freeze([
  'accept-ranges',
  'allow',
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-type',
  'date',
  'etag',
  'expires',
  'last-modified',
  'link',
  'location',
  'vary',
]);

/** Fields a stored response never keeps, whatever `storeHeaders` says. */
export const neverStoredHeaders: ReadonlySet<string> = new Set([
  'age',
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authentication-info',
  'proxy-authorization',
  'proxy-connection',
  'set-cookie',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const baseOptionNames = [
  'mode',
  'methods',
  'principal',
  'failureStatuses',
  'serveOnBulkheadRejection',
  'staleIfErrorMs',
  'maxStaleIfErrorMs',
  'storeWithoutFreshness',
  'ignoreRevalidationDirectives',
  'maxEntries',
  'maxBytes',
  'maxEntrySize',
  'storeHeaders',
  'clock',
] as const;

/**
 * Validates fallback cache options the way `fallbackCache()` does (for config read from the environment at
 * boot), throwing the same `TypeError`/`RangeError`; returns nothing.
 */
export function validateFallbackCacheOptions(options: unknown): void {
  readFallbackCacheOptions('fallbackCache', options, true);
}

/** Reads and validates the options of `fallbackCache` (with `shouldHandle`) or the interceptor (without). */
export function readFallbackCacheOptions(
  name: string,
  options: unknown,
  withShouldHandle: boolean,
): FallbackCacheSettings {
  const read = readOptions(
    name,
    options,
    withShouldHandle ? [...baseOptionNames, 'shouldHandle'] : baseOptionNames,
  ) as { readonly [key: string]: unknown };
  const maxStaleIfErrorMs = integerOption(name, 'maxStaleIfErrorMs', read.maxStaleIfErrorMs, 86_400_000, {
    min: 0,
    max: maxTimerMs,
  });
  const staleIfErrorMs = integerOption(
    name,
    'staleIfErrorMs',
    read.staleIfErrorMs,
    Math.min(300_000, maxStaleIfErrorMs),
    { min: 0, max: maxTimerMs },
  );
  if (staleIfErrorMs > maxStaleIfErrorMs) {
    throw new RangeError(
      `${name}: staleIfErrorMs (${staleIfErrorMs}) must not exceed maxStaleIfErrorMs (${maxStaleIfErrorMs})`,
    );
  }
  const maxEntries = integerOption(name, 'maxEntries', read.maxEntries, 1024, { min: 0, max: 16_777_216 });
  const maxBytes = integerOption(name, 'maxBytes', read.maxBytes, 100 * mebibyte, {
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
  });
  const maxEntrySize = integerOption(
    name,
    'maxEntrySize',
    read.maxEntrySize,
    Math.min(5 * mebibyte, maxBytes),
    { min: 0, max: Number.MAX_SAFE_INTEGER },
  );
  if (maxEntrySize > maxBytes) {
    throw new RangeError(`${name}: maxEntrySize (${maxEntrySize}) must not exceed maxBytes (${maxBytes})`);
  }
  return Object.freeze({
    name,
    shared: oneOfOption(name, 'mode', read.mode, ['shared', 'private'], 'shared') === 'shared',
    methods: methodsOption(name, read.methods),
    principal: functionOption<(request: CacheRequest) => string | undefined>(
      name,
      'principal',
      read.principal,
    ),
    failureStatuses: statusesOption(name, read.failureStatuses),
    serveOnBulkheadRejection: booleanOption(
      name,
      'serveOnBulkheadRejection',
      read.serveOnBulkheadRejection,
      true,
    ),
    staleIfErrorMs,
    maxStaleIfErrorMs,
    storeWithoutFreshness: booleanOption(name, 'storeWithoutFreshness', read.storeWithoutFreshness, false),
    ignoreRevalidationDirectives: booleanOption(
      name,
      'ignoreRevalidationDirectives',
      read.ignoreRevalidationDirectives,
      false,
    ),
    maxEntries,
    maxBytes,
    maxEntrySize,
    storeHeaders: storeHeadersOption(name, read.storeHeaders),
    clock: clockOption(name, read.clock),
    shouldHandle: functionOption<ShouldHandle>(name, 'shouldHandle', read.shouldHandle, handleAll),
  });
}

function methodsOption(name: string, value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set(defaultMethods);
  if (!Array.isArray(value)) {
    throw new TypeError(`${name}: methods must be an array of methods, received ${describeValue(value)}`);
  }
  for (const method of value as unknown[]) {
    if (typeof method !== 'string' || !cacheableMethods.has(method)) {
      throw new TypeError(
        `${name}: methods may only hold the safe methods ${[...cacheableMethods].join(', ')} (upper-case), received ${describeValue(method)}`,
      );
    }
  }
  return new Set(value as string[]);
}

function statusesOption(name: string, value: unknown): Uint8Array {
  const statuses = new Uint8Array(600);
  const list = value ?? defaultFailureStatuses;
  if (!Array.isArray(list)) {
    throw new TypeError(
      `${name}: failureStatuses must be an array of status codes, received ${describeValue(list)}`,
    );
  }
  for (const status of list as unknown[]) {
    if (typeof status !== 'number') {
      throw new TypeError(
        `${name}: failureStatuses must hold integers from 400 to 599, received ${describeValue(status)}`,
      );
    }
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(
        `${name}: failureStatuses must hold integers from 400 to 599, received ${describeValue(status)}`,
      );
    }
    statuses[status] = 1;
  }
  return statuses;
}

const fieldName = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

function storeHeadersOption(name: string, value: unknown): ReadonlySet<string> | undefined {
  if (value === 'all') return undefined;
  if (value === undefined) return new Set(defaultStoredHeaders);
  if (!Array.isArray(value)) {
    throw new TypeError(
      `${name}: storeHeaders must be 'all' or an array of header names, received ${describeValue(value)}`,
    );
  }
  for (const header of value as unknown[]) {
    if (typeof header !== 'string') {
      throw new TypeError(
        `${name}: storeHeaders must hold lower-case header names, received ${describeValue(header)}`,
      );
    }
    if (!fieldName.test(header)) {
      throw new RangeError(
        `${name}: storeHeaders must hold lower-case header names, received ${describeValue(header)}`,
      );
    }
    if (neverStoredHeaders.has(header)) {
      throw new RangeError(`${name}: storeHeaders cannot keep ${JSON.stringify(header)}; it is never stored`);
    }
  }
  return new Set(value as string[]);
}
