import { describe, expect, it } from 'vitest';
import { CacheControl } from './cache-control.js';
import type { CacheRequest } from './cache-request.js';
import { type FallbackCacheOptions, readFallbackCacheOptions } from './fallback-cache-options.js';
import { DispatchResponseHead } from './response-head.js';
import { planStore, requestForbidsFallback, type Scope, scopeOf, servableAge } from './storage-rules.js';

const settings = (options: FallbackCacheOptions = {}) => readFallbackCacheOptions('test', options, true);
const request = (headers: Record<string, string> = {}, method = 'GET'): CacheRequest => ({
  method,
  url: 'https://api.example.com/items?page=2',
  headers: new Headers(headers),
});
const head = (status: number, headers: Record<string, string | string[]>) =>
  new DispatchResponseHead(status, 'X', headers);
const anonymous: Scope = { partition: undefined, restricted: false };
const plan = (
  headers: Record<string, string | string[]>,
  options: { status?: number; settings?: FallbackCacheOptions; request?: CacheRequest; scope?: Scope } = {},
) =>
  planStore(
    settings(options.settings),
    { request: options.request ?? request(), scope: options.scope ?? anonymous },
    head(options.status ?? 200, headers),
    1000,
    false,
  );

describe('scopeOf', () => {
  it('partitions by principal, else restricts credentialed requests in shared mode only', () => {
    const byUser = settings({ principal: (r) => r.headers.get('x-user') ?? undefined });
    expect(scopeOf(byUser, request({ 'x-user': 'alice' }))).toEqual({
      partition: 'alice',
      restricted: false,
    });
    expect(scopeOf(byUser, request({ authorization: 'Bearer t' }))).toEqual({
      partition: undefined,
      restricted: true,
    });
    for (const credential of ['authorization', 'proxy-authorization', 'cookie']) {
      expect(scopeOf(settings(), request({ [credential]: 'x' })).restricted).toBe(true);
      expect(scopeOf(settings({ mode: 'private' }), request({ [credential]: 'x' })).restricted).toBe(false);
    }
    expect(scopeOf(settings(), request()).restricted).toBe(false);
  });

  it('rejects a principal() that returns something other than a string', () => {
    const bad = settings({ principal: () => 42 as unknown as string });
    expect(() => scopeOf(bad, request())).toThrow(TypeError);
  });
});

describe('planStore: what may be stored (RFC 9111 §3)', () => {
  it('stores a fresh response with the freshness, stale window and lifetime it computed', () => {
    const p = plan({ 'cache-control': 'max-age=60, stale-if-error=120', 'content-type': 'text/plain' })!;
    expect(p.freshnessMs).toBe(60_000);
    expect(p.staleIfErrorMs).toBe(120_000);
    expect(p.lifetimeMs).toBe(180_000);
    expect(p.revalidate).toBe(false);
    expect(p.responseTime).toBe(1000);
    expect(p.headers).toEqual([
      ['cache-control', 'max-age=60, stale-if-error=120'],
      ['content-type', 'text/plain'],
    ]);
  });

  it('refuses no-store in the response or the request', () => {
    expect(plan({ 'cache-control': 'no-store, max-age=60' })).toBeUndefined();
    expect(
      plan({ 'cache-control': 'max-age=60' }, { request: request({ 'cache-control': 'no-store' }) }),
    ).toBe(undefined);
  });

  it('refuses unqualified private in shared mode only, and strips fields named by private="..."', () => {
    expect(plan({ 'cache-control': 'private, max-age=60' })).toBeUndefined();
    expect(plan({ 'cache-control': 'private, max-age=60' }, { settings: { mode: 'private' } })).toBeDefined();
    const p = plan(
      { 'cache-control': 'private="x-user", no-cache="etag", max-age=60', 'x-user': 'alice', etag: '"1"' },
      { settings: { storeHeaders: 'all' } },
    )!;
    expect(p.headers.map(([name]) => name)).toEqual(['cache-control']);
  });

  it('refuses unqualified no-cache unless revalidation directives are ignored', () => {
    expect(plan({ 'cache-control': 'no-cache, max-age=60' })).toBeUndefined();
    expect(
      plan({ 'cache-control': 'no-cache, max-age=60' }, { settings: { ignoreRevalidationDirectives: true } }),
    ).toBeDefined();
  });

  it('refuses Set-Cookie responses in shared mode unless partitioned, and never keeps Set-Cookie', () => {
    const headers = { 'cache-control': 'max-age=60', 'set-cookie': ['a=1', 'b=2'] };
    expect(plan(headers)).toBeUndefined();
    const partitioned = plan(headers, {
      scope: { partition: 'alice', restricted: false },
      settings: { storeHeaders: 'all' },
    })!;
    expect(partitioned.headers.map(([name]) => name)).toEqual(['cache-control']);
    expect(plan(headers, { settings: { mode: 'private', storeHeaders: 'all' } })!.headers).toHaveLength(1);
  });

  it('stores responses to credentialed requests only when public, s-maxage or must-revalidate', () => {
    const scope: Scope = { partition: undefined, restricted: true };
    expect(plan({ 'cache-control': 'max-age=60' }, { scope })).toBeUndefined();
    expect(plan({ 'cache-control': 'public, max-age=60' }, { scope })).toBeDefined();
    expect(plan({ 'cache-control': 's-maxage=60' }, { scope })).toBeDefined();
    expect(plan({ 'cache-control': 'must-revalidate, max-age=60' }, { scope })).toBeDefined();
  });

  it('never stores Vary: *, and keeps the Vary names sorted and deduplicated', () => {
    expect(plan({ 'cache-control': 'max-age=60', vary: 'Accept, *' })).toBeUndefined();
    expect(
      plan({ 'cache-control': 'max-age=60', vary: 'Accept-Language, accept, Accept' })!.varyNames,
    ).toEqual(['accept', 'accept-language']);
  });

  it('refuses non-final, partial, validation and server-error statuses and configured failure statuses', () => {
    for (const status of [101, 206, 304, 500, 503]) {
      expect(plan({ 'cache-control': 'max-age=60' }, { status })).toBeUndefined();
    }
    expect(plan({ 'cache-control': 'max-age=60' }, { status: 429 })).toBeDefined();
    expect(
      plan({ 'cache-control': 'max-age=60' }, { status: 429, settings: { failureStatuses: [429] } }),
    ).toBeUndefined();
  });

  it('needs explicit freshness, stale-if-error or a heuristically cacheable status', () => {
    expect(plan({ 'cache-control': 'max-age=60' }, { status: 403 })).toBeDefined();
    expect(plan({}, { status: 403, settings: { storeWithoutFreshness: true } })).toBeUndefined();
    expect(plan({}, { status: 200, settings: { storeWithoutFreshness: true } })).toBeDefined();
  });

  it('keeps responses without freshness only with stale-if-error or storeWithoutFreshness', () => {
    expect(plan({})).toBeUndefined();
    expect(plan({ 'cache-control': 'max-age=0' })).toBeUndefined();
    const withDirective = plan({ 'cache-control': 'max-age=0, stale-if-error=30' })!;
    expect(withDirective.freshnessMs).toBe(0);
    expect(withDirective.lifetimeMs).toBe(30_000);
    const outOfBand = plan({}, { settings: { storeWithoutFreshness: true, staleIfErrorMs: 7000 } })!;
    expect(outOfBand.freshnessMs).toBe(0);
    expect(outOfBand.lifetimeMs).toBe(7000);
  });

  it('takes s-maxage over max-age over Expires - Date over the Last-Modified heuristic', () => {
    expect(plan({ 'cache-control': 's-maxage=5, max-age=60' })!.freshnessMs).toBe(5000);
    expect(
      plan({ 'cache-control': 's-maxage=5, max-age=60' }, { settings: { mode: 'private' } })!.freshnessMs,
    ).toBe(60_000);
    const date = 'Tue, 01 Apr 2025 10:00:00 GMT';
    expect(plan({ date, expires: 'Tue, 01 Apr 2025 10:00:30 GMT' })!.freshnessMs).toBe(30_000);
    expect(plan({ date, expires: '0', 'cache-control': 'stale-if-error=10' })!.freshnessMs).toBe(0);
    expect(plan({ date, 'last-modified': 'Tue, 01 Apr 2025 09:00:00 GMT' })!.freshnessMs).toBe(360_000);
    expect(plan({ date, 'last-modified': 'Tue, 01 Jan 2019 00:00:00 GMT' })!.freshnessMs).toBe(86_400_000);
  });

  it('treats an invalid max-age as already stale', () => {
    expect(plan({ 'cache-control': 'max-age=soon' })).toBeUndefined();
  });

  it('counts the Age the response arrived with', () => {
    const p = plan({ 'cache-control': 'max-age=60', age: '15' })!;
    expect(p.initialAgeMs).toBe(15_000);
    expect(p.lifetimeMs).toBe(45_000 + 300_000);
    expect(plan({ 'cache-control': 'max-age=60', age: 'x' })!.initialAgeMs).toBe(0);
    expect(plan({ 'cache-control': 'max-age=60', age: '90' })).toBeUndefined();
  });

  it('marks must-revalidate, and in shared mode proxy-revalidate and s-maxage, as not servable stale', () => {
    expect(plan({ 'cache-control': 'max-age=60, must-revalidate' })!.revalidate).toBe(true);
    expect(plan({ 'cache-control': 'max-age=60, must-revalidate' })!.lifetimeMs).toBe(60_000);
    expect(plan({ 'cache-control': 'max-age=60, proxy-revalidate' })!.revalidate).toBe(true);
    expect(plan({ 'cache-control': 's-maxage=60' })!.revalidate).toBe(true);
    expect(
      plan({ 'cache-control': 'max-age=60, proxy-revalidate' }, { settings: { mode: 'private' } })!
        .revalidate,
    ).toBe(false);
    expect(
      plan(
        { 'cache-control': 'max-age=60, must-revalidate' },
        { settings: { ignoreRevalidationDirectives: true } },
      )!.revalidate,
    ).toBe(false);
  });

  it('bounds a response stale-if-error by maxStaleIfErrorMs', () => {
    const p = plan(
      { 'cache-control': 'max-age=1, stale-if-error=999999' },
      { settings: { maxStaleIfErrorMs: 60_000 } },
    )!;
    expect(p.staleIfErrorMs).toBe(60_000);
  });

  it('keeps the default header allow-list, or every field but hop-by-hop ones', () => {
    const headers = {
      'cache-control': 'max-age=60',
      'content-type': 'application/json',
      'x-request-id': 'r1',
      connection: 'keep-alive, x-hop',
      'x-hop': '1',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      age: '1',
    };
    expect(plan(headers)!.headers.map(([name]) => name)).toEqual(['cache-control', 'content-type']);
    expect(plan(headers, { settings: { storeHeaders: 'all' } })!.headers.map(([name]) => name)).toEqual([
      'cache-control',
      'content-type',
      'x-request-id',
    ]);
    expect(plan(headers, { settings: { storeHeaders: ['x-request-id'] } })!.headers).toEqual([
      ['x-request-id', 'r1'],
    ]);
  });

  it('drops the encoding fields of a body stored decoded', () => {
    const p = planStore(
      settings(),
      { request: request(), scope: anonymous },
      head(200, { 'cache-control': 'max-age=60', 'content-encoding': 'gzip', 'content-length': '10' }),
      0,
      true,
    )!;
    expect(p.headers.map(([name]) => name)).toEqual(['cache-control']);
  });
});

describe('planStore: what it costs', () => {
  it('reads the scope (principal) only for a response that passed the checks needing none', () => {
    let reads = 0;
    const counted = (headers: Record<string, string>) =>
      planStore(
        settings(),
        {
          request: request(),
          get scope() {
            reads++;
            return anonymous;
          },
        },
        head(200, headers),
        0,
        false,
      );
    for (const headers of [
      {},
      { 'cache-control': 'no-store, max-age=60' },
      { 'cache-control': 'no-cache, max-age=60' },
      { 'cache-control': 'private, max-age=60' },
      { 'cache-control': 'max-age=0' },
      { vary: '*', 'cache-control': 'max-age=60' },
    ]) {
      expect(counted(headers)).toBeUndefined();
    }
    expect(reads).toBe(0);
    expect(counted({ 'cache-control': 'max-age=60' })).toBeDefined();
    expect(reads).toBe(1);
  });

  it('gives the body room left by maxEntrySize beside the header fields, and refuses when none is left', () => {
    const headers = { 'cache-control': 'max-age=60' };
    // 'cache-control' + 'max-age=60' + 4 = 27 header bytes, 256 of entry overhead.
    expect(plan(headers, { settings: { maxEntrySize: 1000 } })!.bodyLimit).toBe(1000 - 27 - 256);
    expect(plan(headers, { settings: { maxEntrySize: 283 } })!.bodyLimit).toBe(0);
    expect(plan(headers, { settings: { maxEntrySize: 282 } })).toBeUndefined();
  });
});

describe('servableAge: when a stored response may answer a failure', () => {
  const entry = {
    responseTime: 1000,
    initialAgeMs: 5000,
    freshnessMs: 10_000,
    staleIfErrorMs: 20_000,
    revalidate: false,
  };
  const none = CacheControl.empty;

  it('serves while fresh and within the stale window, never after', () => {
    const s = settings();
    expect(servableAge(s, entry, none, 1000)).toBe(5000);
    expect(servableAge(s, entry, none, 6000)).toBe(10_000);
    expect(servableAge(s, entry, none, 26_000)).toBe(30_000);
    expect(servableAge(s, entry, none, 26_001)).toBeUndefined();
  });

  it('lets the request stale-if-error decide the window, within maxStaleIfErrorMs', () => {
    const s = settings({ maxStaleIfErrorMs: 40_000 });
    const asks = (value: string) => CacheControl.parse(`stale-if-error=${value}`)!;
    expect(servableAge(s, entry, asks('1'), 7000)).toBe(11_000);
    expect(servableAge(s, entry, asks('1'), 7001)).toBeUndefined();
    expect(servableAge(s, entry, asks('100'), 46_000)).toBe(50_000);
    expect(servableAge(s, entry, asks('100'), 46_001)).toBeUndefined();
  });

  it('never serves a must-revalidate response once stale', () => {
    expect(servableAge(settings(), { ...entry, revalidate: true }, none, 5999)).toBe(9999);
    expect(servableAge(settings(), { ...entry, revalidate: true }, none, 6000)).toBeUndefined();
  });

  it('lets a request no-cache forbid the fallback unless it also asks for stale-if-error', () => {
    expect(requestForbidsFallback(CacheControl.parse('no-cache')!)).toBe(true);
    expect(requestForbidsFallback(CacheControl.parse('no-cache, stale-if-error=60')!)).toBe(false);
    expect(requestForbidsFallback(CacheControl.empty)).toBe(false);
  });
});
