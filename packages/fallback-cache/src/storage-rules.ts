import { CacheControl, deltaSeconds, maxParsedFieldLength, splitList } from './cache-control.js';
import type { CacheRequest } from './cache-request.js';
import { type FallbackCacheSettings, neverStoredHeaders } from './fallback-cache-options.js';
import type { ResponseHead } from './response-head.js';
import { entryOverheadBytes } from './response-store.js';

/** Who a request is made for, as far as storing and serving goes. */
export interface Scope {
  /** The principal's partition, from `principal(request)`; `undefined` for the shared part of the cache. */
  readonly partition: string | undefined;
  /**
   * Whether the request carries credentials without a partition in shared mode: its response is stored only
   * when the response allows a shared cache to (RFC 9111 §3.5).
   */
  readonly restricted: boolean;
}

/**
 * A request and who it is made for. `scope` may be a getter computed on first read (it calls the user's
 * `principal()`): {@link planStore} reads it only once the response passed the checks that need no scope.
 */
export interface ScopedRequest {
  readonly request: CacheRequest;
  readonly scope: Scope;
}

/** What the storage rules decided about a response, before its body is read. */
export interface StorePlan {
  readonly status: number;
  readonly statusText: string;
  /** The header fields to keep, in order. */
  readonly headers: readonly (readonly [string, string])[];
  /** Rough bytes of `headers`, counted in the entry's size. */
  readonly headerBytes: number;
  /** The largest body that still fits `maxEntrySize` beside these headers, in bytes (>= 0). */
  readonly bodyLimit: number;
  /** The request fields the response varies on (lower-case), sorted. */
  readonly varyNames: readonly string[];
  /** Clock time the response arrived. */
  readonly responseTime: number;
  /** The response's age when it arrived (its `Age`), in ms. */
  readonly initialAgeMs: number;
  /** Freshness lifetime, in ms. */
  readonly freshnessMs: number;
  /** How long after turning stale it may still be served on error, in ms (response directive or option). */
  readonly staleIfErrorMs: number;
  /** Whether it must not be served once stale (`must-revalidate` and friends, unless ignored). */
  readonly revalidate: boolean;
  /** How long after arriving it can still be served at all, in ms: when the store drops it. */
  readonly lifetimeMs: number;
}

const anonymous: Scope = Object.freeze({ partition: undefined, restricted: false });
const restricted: Scope = Object.freeze({ partition: undefined, restricted: true });

/**
 * Statuses a cache may store without explicit freshness (RFC 9110 §15.1, "heuristically cacheable"). 5xx
 * ones are left out on purpose: serving an old error in place of a new one helps nobody.
 */
const heuristicStatuses: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414]);
/** Heuristic freshness is 10% of the time since Last-Modified (RFC 9111 §4.2.2), at most this, in ms. */
const maxHeuristicFreshnessMs = 24 * 60 * 60 * 1000;

/** Decides the scope of a request: its principal's partition, or shared (possibly restricted). */
export function scopeOf(settings: FallbackCacheSettings, request: CacheRequest): Scope {
  const principal = settings.principal?.(request);
  if (principal !== undefined) {
    if (typeof principal !== 'string') {
      throw new TypeError(
        `${settings.name}: principal() must return a string or undefined, received ${typeof principal}`,
      );
    }
    return { partition: principal, restricted: false };
  }
  if (!settings.shared) return anonymous;
  const headers = request.headers;
  return headers.has('authorization') || headers.has('proxy-authorization') || headers.has('cookie')
    ? restricted
    : anonymous;
}

/**
 * RFC 9111 §3 storability, for a fallback cache: `undefined` when the response must not (or could never
 * usefully) be stored, else the plan to store it. `decoded` says the body will be stored decoded (fetch),
 * so the encoding fields no longer describe it.
 */
export function planStore(
  settings: FallbackCacheSettings,
  call: ScopedRequest,
  head: ResponseHead,
  responseTime: number,
  decoded: boolean,
): StorePlan | undefined {
  const status = head.status;
  // Final, understood, and not an error worth nothing as a fallback (206 needs range logic; 304 is a validation).
  if (status < 200 || status >= 500 || status === 206 || status === 304) return undefined;
  if (settings.failureStatuses[status] === 1) return undefined;
  const cc = CacheControl.parse(head.get('cache-control'));
  if (cc === undefined) return undefined;
  const request = call.request;
  const requestCc = CacheControl.parse(request.headers.get('cache-control')) ?? CacheControl.empty;
  if (cc.has('no-store') || requestCc.has('no-store')) return undefined;
  const shared = settings.shared;
  const ignoreRevalidation = settings.ignoreRevalidationDirectives;
  // An unqualified no-cache response may never be used without revalidation, which a fallback cannot do.
  if (cc.hasUnqualified('no-cache') && !ignoreRevalidation) return undefined;
  if (shared && cc.hasUnqualified('private')) return undefined;
  const vary = head.get('vary');
  let varyNames: string[] = [];
  if (vary !== null) {
    if (vary.length > maxParsedFieldLength) return undefined;
    varyNames = [...new Set(splitList(vary))].sort();
    if (varyNames.includes('*')) return undefined;
  }

  const sMaxAge = shared ? cc.seconds('s-maxage') : undefined;
  const maxAge = cc.seconds('max-age');
  const expires = head.get('expires');
  const explicit =
    sMaxAge !== undefined ||
    maxAge !== undefined ||
    expires !== null ||
    cc.has('public') ||
    (!shared && cc.has('private'));
  const staleIfErrorSeconds = cc.seconds('stale-if-error');
  const hasStaleIfError = staleIfErrorSeconds !== undefined && !Number.isNaN(staleIfErrorSeconds);
  if (!explicit && !hasStaleIfError && !heuristicStatuses.has(status)) return undefined;

  let freshnessMs: number;
  if (sMaxAge !== undefined) freshnessMs = Number.isNaN(sMaxAge) ? 0 : sMaxAge * 1000;
  else if (maxAge !== undefined) freshnessMs = Number.isNaN(maxAge) ? 0 : maxAge * 1000;
  else if (expires !== null) {
    // Both dates come from the origin, so no local clock is compared with its clock.
    const date = parseHttpDate(head.get('date')) ?? Date.now();
    const expiresAt = parseHttpDate(expires);
    freshnessMs = expiresAt === undefined ? 0 : Math.max(0, expiresAt - date);
  } else {
    const date = parseHttpDate(head.get('date'));
    const lastModified = parseHttpDate(head.get('last-modified'));
    freshnessMs =
      date !== undefined && lastModified !== undefined && date > lastModified
        ? Math.min((date - lastModified) / 10, maxHeuristicFreshnessMs)
        : 0;
  }
  // Of repeated Age lines the first counts; an invalid one is ignored (RFC 9111 §5.1).
  const ageSeconds = deltaSeconds(head.get('age')?.split(',', 1)[0]?.trim());
  const initialAgeMs = Number.isNaN(ageSeconds) ? 0 : ageSeconds * 1000;
  const freshForMs = freshnessMs - initialAgeMs;
  if (freshForMs <= 0 && !hasStaleIfError && !settings.storeWithoutFreshness) return undefined;

  const revalidate =
    !ignoreRevalidation &&
    (cc.has('must-revalidate') || (shared && (cc.has('proxy-revalidate') || sMaxAge !== undefined)));
  const staleIfErrorMs = hasStaleIfError
    ? Math.min(staleIfErrorSeconds * 1000, settings.maxStaleIfErrorMs)
    : settings.staleIfErrorMs;
  const lifetimeMs = Math.max(0, freshForMs) + (revalidate ? 0 : staleIfErrorMs);
  if (lifetimeMs <= 0) return undefined;

  // Last: the scope calls the user's principal(), which a response refused above never needs.
  const scope = call.scope;
  if (shared && scope.partition === undefined && head.get('set-cookie') !== null) return undefined;
  if (scope.restricted && !cc.has('public') && !cc.has('s-maxage') && !cc.has('must-revalidate')) {
    return undefined;
  }

  const { headers, headerBytes } = keptHeaders(settings, head, cc, decoded);
  const bodyLimit = settings.maxEntrySize - headerBytes - entryOverheadBytes;
  if (bodyLimit < 0) return undefined;
  return {
    status,
    statusText: head.statusText,
    headers,
    headerBytes,
    bodyLimit,
    varyNames,
    responseTime,
    initialAgeMs,
    freshnessMs,
    staleIfErrorMs,
    revalidate,
    lifetimeMs,
  };
}

/** The part of a stored response's state that decides whether it can still be served. */
export interface Servable {
  readonly responseTime: number;
  readonly initialAgeMs: number;
  readonly freshnessMs: number;
  readonly staleIfErrorMs: number;
  readonly revalidate: boolean;
}

/**
 * The current age (ms) of a stored response if it may be served in place of a failed call now, else
 * `undefined`: fresh, or stale within its stale-if-error window (the request's own `stale-if-error` wins,
 * both bounded by `maxStaleIfErrorMs`) and not forbidden to go stale.
 */
export function servableAge(
  settings: FallbackCacheSettings,
  entry: Servable,
  requestCc: CacheControl,
  now: number,
): number | undefined {
  const ageMs = entry.initialAgeMs + Math.max(0, now - entry.responseTime);
  if (ageMs < entry.freshnessMs) return ageMs;
  if (entry.revalidate) return undefined;
  const requested = requestCc.seconds('stale-if-error');
  const windowMs =
    requested !== undefined && !Number.isNaN(requested)
      ? Math.min(requested * 1000, settings.maxStaleIfErrorMs)
      : entry.staleIfErrorMs;
  return ageMs - entry.freshnessMs <= windowMs ? ageMs : undefined;
}

/**
 * Whether the request's own directives forbid answering it from the cache: an unqualified `no-cache` asks
 * for a validated response, unless the request also opts into `stale-if-error`.
 */
export function requestForbidsFallback(requestCc: CacheControl): boolean {
  return requestCc.hasUnqualified('no-cache') && !requestCc.has('stale-if-error');
}

function keptHeaders(
  settings: FallbackCacheSettings,
  head: ResponseHead,
  cc: CacheControl,
  decoded: boolean,
): { headers: (readonly [string, string])[]; headerBytes: number } {
  const allowed = settings.storeHeaders;
  const connection = head.get('connection');
  const dropped = new Set([
    ...cc.fieldNames('private'),
    ...cc.fieldNames('no-cache'),
    ...(connection === null ? [] : splitList(connection)),
  ]);
  if (decoded) {
    dropped.add('content-encoding');
    dropped.add('content-length');
  }
  const headers: (readonly [string, string])[] = [];
  let headerBytes = 0;
  for (const [name, value] of head.entries()) {
    if (neverStoredHeaders.has(name) || dropped.has(name)) continue;
    if (allowed !== undefined && !allowed.has(name)) continue;
    headers.push([name, value]);
    headerBytes += name.length + value.length + 4;
  }
  return { headers, headerBytes };
}

/** An HTTP-date (or any date `Date.parse` reads) in epoch ms, `undefined` when absent or invalid. */
function parseHttpDate(value: string | null): number | undefined {
  if (value === null || value.length > 64) return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}
