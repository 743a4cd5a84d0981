import { type Context, diagnosticsChannelName, type Event, EventEmitter } from '@breakwater/core';
import { CacheControl } from './cache-control.js';
import type { CacheRequest } from './cache-request.js';
import {
  type FallbackCacheSettings,
  readFallbackCacheOptions,
  safeMethods,
} from './fallback-cache-options.js';
import type { FallbackReason } from './fallback-reason.js';
import type { ResponseHead } from './response-head.js';
import { entryOverheadBytes, ResponseStore, type StoredResponse } from './response-store.js';
import {
  planStore,
  requestForbidsFallback,
  type Scope,
  type ScopedRequest,
  type StorePlan,
  scopeOf,
  servableAge,
} from './storage-rules.js';

/** Payload of `onFallbackServed`. */
export interface FallbackServedEvent {
  /** The context of the call (`resilientFetch`); `undefined` from the undici interceptor. */
  readonly context: Context | undefined;
  readonly method: string;
  /** The request URL, unredacted: redact it before logging it. */
  readonly url: string;
  /** The status of the stored response served. */
  readonly status: number;
  /** Its `Age`, in seconds. */
  readonly ageSeconds: number;
  /** Whether it was past its freshness lifetime. */
  readonly stale: boolean;
  readonly reason: FallbackReason;
  /** The failure it stands in for. */
  readonly error: unknown;
}

/** Payload of `onStore`. */
export interface StoreEvent {
  /** The context of the call (`resilientFetch`); `undefined` from the undici interceptor. */
  readonly context: Context | undefined;
  readonly method: string;
  /** The request URL, unredacted: redact it before logging it. */
  readonly url: string;
  readonly status: number;
  /** What the entry counts against `maxBytes`. */
  readonly bytes: number;
}

/** What the caller of {@link FallbackCacheCore.lookup} needs to replay a stored response. */
export interface Hit {
  readonly entry: StoredResponse;
  readonly ageMs: number;
  /** The `Age` sent, in seconds. */
  readonly ageSeconds: number;
  readonly stale: boolean;
  /** Header fields to send: the stored ones plus `Age` and `Cache-Status`. */
  readonly headers: readonly (readonly [string, string])[];
  /** Whether to send no body (a HEAD request). */
  readonly headOnly: boolean;
}

const warnedPrincipal = new WeakSet<FallbackCacheSettings>();

/**
 * Storing and serving fail open, so a `principal()` that throws or returns a non-string would only quietly
 * turn the cache off: say so, once per policy.
 */
function warnPrincipalFailed(settings: FallbackCacheSettings, error: unknown): void {
  if (warnedPrincipal.has(settings)) return;
  warnedPrincipal.add(settings);
  process.emitWarning(
    `${settings.name}: principal() failed, so nothing is stored or served for such requests: ${error instanceof Error ? error.message : String(error)}`,
    { code: 'BREAKWATER_FALLBACK_PRINCIPAL_FAILED' },
  );
}

/** The fallback cache's own entry in `Cache-Status` (RFC 9211). */
export const cacheStatusName = 'breakwater';

/** The request side of one cacheable call: what storing and serving both need, computed once. */
export class CacheCall implements ScopedRequest {
  readonly request: CacheRequest;
  readonly #settings: FallbackCacheSettings;
  /**
   * `undefined` until first needed: it calls the user's `principal()` and reads request headers (which
   * `resilientFetch` builds lazily), and most responses are never stored nor replaced.
   */
  #scope: Scope | undefined;
  /** `null` until first needed: most responses are never stored nor replaced, and parsing a URL costs. */
  #url: string | undefined | null = null;
  #urlKey: string | undefined;

  constructor(request: CacheRequest, settings: FallbackCacheSettings) {
    this.request = request;
    this.#settings = settings;
  }

  /** Who the request is made for: its principal's partition, or shared. */
  get scope(): Scope {
    if (this.#scope === undefined) {
      try {
        this.#scope = scopeOf(this.#settings, this.request);
      } catch (error) {
        warnPrincipalFailed(this.#settings, error);
        throw error;
      }
    }
    return this.#scope;
  }

  /** The URL without its fragment, or `undefined` when it does not parse (never stored then). */
  get url(): string | undefined {
    if (this.#url === null) this.#url = parseUrl(this.request.url)?.href;
    return this.#url;
  }

  urlKey(store: ResponseStore): string {
    if (this.#urlKey === undefined) this.#urlKey = store.urlKey(this.url!);
    return this.#urlKey;
  }
}

/**
 * Everything the `fallbackCache` policy and the `fallbackCacheInterceptor` share: settings, store,
 * scoping, storability, freshness and the events.
 */
export class FallbackCacheCore {
  readonly settings: FallbackCacheSettings;
  readonly store: ResponseStore;
  readonly onFallbackServed: Event<FallbackServedEvent>;
  readonly onStore: Event<StoreEvent>;
  readonly #served = new EventEmitter<FallbackServedEvent>(
    diagnosticsChannelName('fallback-cache', 'fallback-served'),
  );
  readonly #stored = new EventEmitter<StoreEvent>(diagnosticsChannelName('fallback-cache', 'store'));

  constructor(name: string, options: unknown, withShouldHandle: boolean) {
    const settings = readFallbackCacheOptions(name, options, withShouldHandle);
    this.settings = settings;
    this.store = new ResponseStore(
      settings.maxEntries,
      settings.maxBytes,
      settings.maxEntrySize,
      settings.clock,
    );
    this.onFallbackServed = this.#served.event;
    this.onStore = this.#stored.event;
  }

  /** Starts a call: `undefined` when its method is not cached (the call then passes through). */
  begin(request: CacheRequest): CacheCall | undefined {
    if (!this.settings.methods.has(request.method)) return undefined;
    return new CacheCall(request, this.settings);
  }

  /** The plan to store a response to `call`, or `undefined` when it must not be stored. */
  plan(call: CacheCall, head: ResponseHead, decoded: boolean): StorePlan | undefined {
    const plan = planStore(this.settings, call, head, this.settings.clock.now(), decoded);
    return plan === undefined || call.url === undefined ? undefined : plan;
  }

  /** Stores a response whose body was read completely. */
  commit(call: CacheCall, plan: StorePlan, body: Uint8Array, context: Context | undefined): void {
    const size = body.byteLength + plan.headerBytes + entryOverheadBytes;
    const entry: StoredResponse = {
      method: call.request.method,
      status: plan.status,
      statusText: plan.statusText,
      headers: plan.headers,
      body,
      varyNames: plan.varyNames,
      size,
      responseTime: plan.responseTime,
      initialAgeMs: plan.initialAgeMs,
      freshnessMs: plan.freshnessMs,
      staleIfErrorMs: plan.staleIfErrorMs,
      revalidate: plan.revalidate,
    };
    const store = this.store;
    if (!store.set(call.urlKey(store), call.scope.partition, call.request.headers, entry, plan.lifetimeMs))
      return;
    if (this.#stored.active) {
      this.#stored.emit({
        context,
        method: entry.method,
        url: call.request.url,
        status: entry.status,
        bytes: size,
      });
    }
  }

  /** A stored response that may answer `call` now, or `undefined`. */
  lookup(call: CacheCall): Hit | undefined {
    const store = this.store;
    if (store.size === 0 || call.url === undefined) return undefined;
    const request = call.request;
    const requestCc = CacheControl.parse(request.headers.get('cache-control')) ?? CacheControl.empty;
    if (requestForbidsFallback(requestCc)) return undefined;
    const urlKey = call.urlKey(store);
    const partition = call.scope.partition;
    let entry = store.get(urlKey, request.method, partition, request.headers);
    if (entry === undefined && request.method === 'HEAD') {
      entry = store.get(urlKey, 'GET', partition, request.headers);
    }
    if (entry === undefined) return undefined;
    const ageMs = servableAge(this.settings, entry, requestCc, this.settings.clock.now());
    if (ageMs === undefined) return undefined;
    const stale = ageMs >= entry.freshnessMs;
    const seconds = ageSeconds(ageMs, stale);
    return {
      entry,
      ageMs,
      ageSeconds: seconds,
      stale,
      headers: replayHeaders(entry, ageMs, seconds),
      headOnly: request.method === 'HEAD',
    };
  }

  /**
   * RFC 9111 §4.4: a non-error response to an unsafe request invalidates what is stored for its URL and for
   * same-origin `Location` and `Content-Location` targets (never another origin's).
   */
  invalidate(
    request: CacheRequest,
    status: number,
    location: string | null,
    contentLocation: string | null,
  ): void {
    const store = this.store;
    // Nothing stored, nothing to drop: no URL to parse, no key to digest.
    if (status < 200 || status >= 400 || safeMethods.has(request.method) || store.size === 0) return;
    const target = parseUrl(request.url);
    if (target === undefined) return;
    store.invalidate(store.urlKey(target.href));
    if (location !== null) this.#invalidateReference(location, target);
    if (contentLocation !== null) this.#invalidateReference(contentLocation, target);
  }

  /** Drops what is stored for `reference` resolved against `target`, when it has `target`'s origin. */
  #invalidateReference(reference: string, target: URL): void {
    const resolved = parseUrl(reference, target);
    if (resolved !== undefined && resolved.origin === target.origin) {
      this.store.invalidate(this.store.urlKey(resolved.href));
    }
  }

  /**
   * Whether anyone listens to `onFallbackServed` (or its channel): the interceptor builds the error that
   * payload carries only then.
   */
  get reportsServed(): boolean {
    return this.#served.active;
  }

  /** Tells listeners a stored response was served. */
  served(
    call: CacheCall,
    hit: Hit,
    reason: FallbackReason,
    error: unknown,
    context: Context | undefined,
  ): void {
    if (!this.#served.active) return;
    this.#served.emit({
      context,
      method: call.request.method,
      url: call.request.url,
      status: hit.entry.status,
      ageSeconds: hit.ageSeconds,
      stale: hit.stale,
      reason,
      error,
    });
  }
}

/**
 * The header fields of a served response: the stored ones, `Age` (replacing any, RFC 9111 §5.1) and our
 * member of `Cache-Status` (RFC 9211) after any an upstream cache set: `hit` with the remaining freshness as
 * `ttl` (negative when stale) and `detail=stale-if-error`. Both values are built from integers and
 * constants, so no CR, LF or NUL can get in.
 */
function replayHeaders(entry: StoredResponse, ageMs: number, age: number): (readonly [string, string])[] {
  const headers: (readonly [string, string])[] = [];
  let upstreamStatus: string | undefined;
  for (const field of entry.headers) {
    if (field[0] === 'cache-status')
      upstreamStatus = upstreamStatus === undefined ? field[1] : `${upstreamStatus}, ${field[1]}`;
    else headers.push(field);
  }
  const ttl = Math.floor((entry.freshnessMs - ageMs) / 1000);
  const ours = `${cacheStatusName}; hit; ttl=${ttl}; detail=stale-if-error`;
  headers.push(['age', String(age)]);
  headers.push(['cache-status', upstreamStatus === undefined ? ours : `${upstreamStatus}, ${ours}`]);
  return headers;
}

/** `Age` in seconds; a stale response never claims 0 (RFC 5861 §4: visibly stale). */
function ageSeconds(ageMs: number, stale: boolean): number {
  const seconds = Math.floor(ageMs / 1000);
  return stale && seconds === 0 ? 1 : seconds;
}

/** Whether a method is unsafe, so that its success invalidates stored responses. */
export function isUnsafeMethod(method: string): boolean {
  return !safeMethods.has(method);
}

/** `url` (resolved against `base`) without its fragment, or `undefined` when it does not parse. */
function parseUrl(url: string, base?: URL): URL | undefined {
  try {
    const parsed = new URL(url, base);
    parsed.hash = '';
    return parsed;
  } catch {
    return undefined;
  }
}
