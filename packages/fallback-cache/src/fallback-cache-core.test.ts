import { virtualClock } from '@breakwater/testing';
import { describe, expect, it, vi } from 'vitest';
import type { CacheRequest } from './cache-request.js';
import { FallbackCacheCore } from './fallback-cache-core.js';
import { DispatchResponseHead } from './response-head.js';

const origin = 'https://api.example.com';
const request = (path: string, method = 'GET', headers: Record<string, string> = {}): CacheRequest => ({
  method,
  url: `${origin}${path}`,
  headers: new Headers(headers),
});
const head = (status: number, headers: Record<string, string>) =>
  new DispatchResponseHead(status, 'X', headers);

/** A core whose principal counts its calls. */
function setup() {
  const principal = vi.fn((req: CacheRequest) => req.headers.get('x-user') ?? undefined);
  const core = new FallbackCacheCore('test', { clock: virtualClock(), principal }, true);
  /** Stores `body` for `req` as the response to it; `false` when it was not storable. */
  const store = (req: CacheRequest, headers: Record<string, string>, body = 'body'): boolean => {
    const call = core.begin(req)!;
    const plan = core.plan(call, head(200, headers), false);
    if (plan === undefined) return false;
    core.commit(call, plan, new TextEncoder().encode(body), undefined);
    return true;
  };
  return { core, principal, store };
}

describe('FallbackCacheCore: per-request work', () => {
  it('warns once per policy when principal() fails, and stores nothing for such requests', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const core = new FallbackCacheCore(
      'test',
      { clock: virtualClock(), principal: () => 42 as unknown as string },
      true,
    );
    for (let i = 0; i < 3; i++) {
      const call = core.begin(request('/a'))!;
      expect(() => core.plan(call, head(200, { 'cache-control': 'max-age=60' }), false)).toThrow(
        'test: principal() must return a string or undefined, received number',
      );
    }
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith(
      'test: principal() failed, so nothing is stored or served for such requests: test: principal() must return a string or undefined, received number',
      { code: 'BREAKWATER_FALLBACK_PRINCIPAL_FAILED' },
    );
    expect(core.store.size).toBe(0);
  });

  it('asks principal() nothing for a response that can never be stored, nor for a lookup in an empty store', () => {
    const { core, principal, store } = setup();
    expect(core.begin(request('/a'))).toBeDefined();
    for (const headers of [
      {},
      { 'content-type': 'text/plain' },
      { 'cache-control': 'no-store, max-age=60' },
      { 'cache-control': 'no-cache, max-age=60' },
      { 'cache-control': 'private, max-age=60' },
    ]) {
      expect(store(request('/a'), headers)).toBe(false);
    }
    expect(core.lookup(core.begin(request('/a'))!)).toBeUndefined();
    expect(principal).not.toHaveBeenCalled();
  });

  it('asks principal() once per call, however many times storing and serving need the scope', () => {
    const { core, principal, store } = setup();
    const alice = request('/a', 'GET', { 'x-user': 'alice' });
    const call = core.begin(alice)!;
    const plan = core.plan(call, head(200, { 'cache-control': 'max-age=60' }), false)!;
    core.commit(call, plan, new TextEncoder().encode('hers'), undefined);
    expect(core.lookup(call)?.entry.status).toBe(200);
    expect(principal).toHaveBeenCalledTimes(1);
    expect(principal).toHaveBeenCalledWith(alice);

    expect(core.lookup(core.begin(request('/a', 'GET', { 'x-user': 'bob' }))!)).toBeUndefined();
    expect(principal).toHaveBeenCalledTimes(2);
    expect(store(request('/b'), { 'cache-control': 'no-store' })).toBe(false);
    expect(principal).toHaveBeenCalledTimes(2);
  });

  it('computes no key for an unsafe request while nothing is stored, and one per same-origin target after', () => {
    const { core, store } = setup();
    const urlKey = vi.spyOn(core.store, 'urlKey');
    core.invalidate(request('/a', 'POST'), 201, '/a', '/b');
    expect(urlKey).not.toHaveBeenCalled();

    expect(store(request('/a'), { 'cache-control': 'max-age=60' })).toBe(true);
    expect(store(request('/b'), { 'cache-control': 'max-age=60' })).toBe(true);
    expect(store(request('/c'), { 'cache-control': 'max-age=60' })).toBe(true);
    urlKey.mockClear();
    core.invalidate(request('/list#top', 'POST'), 201, '/a#x', 'https://elsewhere.example/c');
    expect(urlKey.mock.calls).toEqual([[`${origin}/list`], [`${origin}/a`]]);
    expect(core.store.size).toBe(2);
    core.invalidate(request('/other', 'PUT'), 204, null, `${origin}/b`);
    expect(core.store.size).toBe(1);
    expect(core.lookup(core.begin(request('/c'))!)?.entry.status).toBe(200);
  });
});
