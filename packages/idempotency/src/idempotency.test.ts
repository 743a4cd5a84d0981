import { channel } from 'node:diagnostics_channel';
import { virtualClock } from '@breakwater/testing';
import { describe, expect, it } from 'vitest';
import { type IdempotencyOutcomeEvent, idempotency } from './idempotency.js';
import type { IdempotencyOptions } from './idempotency-options.js';
import { memoryStore } from './memory-store.js';
import type { IdempotencyStore } from './store.js';

interface Req {
  user: string;
}

const facts = {
  method: 'POST',
  route: '/pay',
  query: '',
  contentType: 'application/json',
  headers: [],
} as const;

function core(options: Partial<IdempotencyOptions<Req>> = {}) {
  const clock = virtualClock();
  return idempotency<Req>({ store: memoryStore({ clock }), scope: (req) => req.user, clock, ...options });
}

async function claim(idem: ReturnType<typeof core>, key: string, body = '{}', user = 'alice') {
  const sink = idem.sink(facts);
  sink.update(body);
  return idem.claim({ user }, key, facts, sink);
}

const failingStore: IdempotencyStore = {
  claim: () => Promise.reject(new Error('ECONNREFUSED')),
  renew: () => Promise.reject(new Error('ECONNREFUSED')),
  complete: () => Promise.reject(new Error('ECONNREFUSED')),
  release: () => Promise.reject(new Error('ECONNREFUSED')),
};

describe('idempotency core', () => {
  it('answers 503 with Retry-After when the store fails (onStoreError "fail"), and reports the error', async () => {
    const idem = core({ store: failingStore });
    const errors: unknown[] = [];
    idem.onStoreError((e) => errors.push(e.operation));
    const decision = await claim(idem, 'k');
    expect(decision.action).toBe('respond');
    if (decision.action !== 'respond') return;
    expect(decision.response.status).toBe(503);
    expect(decision.response.headers).toContainEqual(['retry-after', '1']);
    expect(JSON.parse(Buffer.from(decision.response.body).toString()).code).toBe(
      'idempotency-store-unavailable',
    );
    expect(errors).toEqual(['claim']);
  });

  it('runs without idempotency when the store fails and onStoreError is "bypass"', async () => {
    const idem = core({ store: failingStore, onStoreError: 'bypass' });
    expect(await claim(idem, 'k')).toEqual({ action: 'proceed', session: undefined });
  });

  it('emits outcomes with a short key hash, never the key, on its event and diagnostics channel', async () => {
    const idem = core();
    const seen: IdempotencyOutcomeEvent[] = [];
    const published: unknown[] = [];
    const onPublish = (message: unknown): void => {
      published.push(message);
    };
    channel('breakwater:idempotency:outcome').subscribe(onPublish);
    using _ = idem.onOutcome((e) => seen.push(e));
    const first = await claim(idem, 'secret-key-123');
    if (first.action === 'proceed')
      await first.session!.finish({ status: 201, headers: [], body: Buffer.from('x') });
    await claim(idem, 'secret-key-123');
    await claim(idem, 'secret-key-123', '{"other":1}');
    channel('breakwater:idempotency:outcome').unsubscribe(onPublish);
    expect(seen.map((e) => e.outcome)).toEqual(['claimed', 'replayed', 'mismatch']);
    expect(published).toEqual(seen);
    for (const e of seen) {
      expect(e.keyHash).toMatch(/^[0-9a-f]{12}$/);
      expect(JSON.stringify(e)).not.toContain('secret-key');
      expect(e).toMatchObject({ method: 'POST', route: '/pay' });
    }
  });

  it('routes a scope that returns no principal to the caller as a TypeError', async () => {
    const idem = core({ scope: () => '' });
    await expect(claim(idem, 'k')).rejects.toThrow(
      'idempotency: scope(request) must return a non-empty string',
    );
  });

  it('fingerprints through a custom fingerprint function when given one', async () => {
    const idem = core({ fingerprint: (req) => `${req.user}:fixed` });
    const first = await claim(idem, 'k', '{"a":1}');
    if (first.action === 'proceed')
      await first.session!.finish({ status: 200, headers: [], body: Buffer.from('ok') });
    const other = await claim(idem, 'k', '{"a":2}');
    expect(other.action === 'respond' && other.response.status).toBe(200);
  });

  it('ignores key order and whitespace of JSON bodies with canonicalJson', async () => {
    const idem = core({ canonicalJson: true });
    const first = await claim(idem, 'k', '{"a":1,"b":[1,2]}');
    if (first.action === 'proceed')
      await first.session!.finish({ status: 200, headers: [], body: Buffer.from('ok') });
    const same = await claim(idem, 'k', ' { "b" : [1,2], "a" : 1 } ');
    expect(same.action === 'respond' && same.response.status).toBe(200);
    const different = await claim(idem, 'k', '{"a":1,"b":[2,1]}');
    expect(different.action === 'respond' && different.response.status).toBe(422);
  });

  it('keeps answering 409 for an orphaned claim with onOrphan "reject"', async () => {
    const clock = virtualClock();
    const idem = idempotency<Req>({
      store: memoryStore({ clock }),
      scope: (r) => r.user,
      clock,
      lockTtlMs: 100,
      retentionMs: 10_000,
      renewLease: false,
      onOrphan: 'reject',
    });
    expect((await claim(idem, 'k')).action).toBe('proceed');
    await clock.advance(5000);
    const later = await claim(idem, 'k');
    expect(later.action === 'respond' && later.response.status).toBe(409);
    await clock.advance(5001);
    expect((await claim(idem, 'k')).action).toBe('proceed');
  });
});

describe('idempotency options', () => {
  const store = memoryStore();
  const base = { store, scope: (r: Req) => r.user };
  const cases: [Record<string, unknown>, ErrorConstructor, string][] = [
    [{ scope: undefined }, TypeError, 'idempotency: scope is required; return a tenant/principal id'],
    [{ store: undefined }, TypeError, 'idempotency: store is required'],
    [
      { store: { claim() {} } as never },
      TypeError,
      'idempotency: store must implement claim, renew, complete, release; missing renew, complete, release',
    ],
    [{ scope: 'user' as never }, TypeError, 'idempotency: scope must be a function, received "user"'],
    [
      { lockTtlMs: 0 },
      RangeError,
      'idempotency: lockTtlMs must be an integer >= 1 and <= 2147483647, received 0',
    ],
    [{ lockTtlMs: Number.NaN }, RangeError, 'idempotency: lockTtlMs must be an integer'],
    [{ lockTtlMs: '60000' as never }, TypeError, 'idempotency: lockTtlMs must be an integer'],
    [{ lockTtlMs: 2 ** 31 }, RangeError, 'idempotency: lockTtlMs must be an integer >= 1 and <= 2147483647'],
    [
      { lockTtlMs: 5000, retentionMs: 5000 },
      RangeError,
      'idempotency: lockTtlMs must be < retentionMs, received lockTtlMs 5000 and retentionMs 5000',
    ],
    [{ retentionMs: 1.5 }, RangeError, 'idempotency: retentionMs must be an integer'],
    [
      { header: 'Idempotency Key' },
      TypeError,
      'idempotency: header must be a field name (an RFC 9110 token)',
    ],
    [
      { methods: ['post'] },
      TypeError,
      'idempotency: methods must contain upper-case method names such as "POST", received "post"',
    ],
    [{ methods: [] }, TypeError, 'idempotency: methods must be a non-empty array'],
    [{ minKeyLength: 40, maxKeyLength: 36 }, RangeError, 'idempotency: minKeyLength must be <= maxKeyLength'],
    [{ maxKeyLength: -1 }, RangeError, 'idempotency: maxKeyLength must be an integer >= 1'],
    [
      { keyPattern: '^[a-z]+$' as never },
      TypeError,
      'idempotency: keyPattern must be a RegExp, received "^[a-z]+$"',
    ],
    [{ keyPattern: /a/g }, TypeError, 'idempotency: keyPattern must not have the g or y flag'],
    [
      { onOrphan: 'retry' as never },
      RangeError,
      'idempotency: onOrphan must be one of "takeover", "reject", received "retry"',
    ],
    [
      { onFailure: 'drop' as never },
      RangeError,
      'idempotency: onFailure must be one of "release", "store", "keep-locked"',
    ],
    [
      { onStoreError: true as never },
      TypeError,
      'idempotency: onStoreError must be one of "fail", "bypass", received true',
    ],
    [
      { maxStoredResponseBytes: -5 },
      RangeError,
      'idempotency: maxStoredResponseBytes must be an integer >= 0',
    ],
    [
      { responseHeaders: ['content type'] },
      TypeError,
      'idempotency: responseHeaders must contain header names',
    ],
    [{ required: 'yes' as never }, TypeError, 'idempotency: required must be a boolean, received "yes"'],
    [
      { clock: Date as never },
      TypeError,
      'idempotency: clock must be an object with now(), setTimeout() and clearTimeout()',
    ],
    [{ lockTTL: 5 }, TypeError, 'idempotency: unknown option "lockTTL"'],
  ];

  it.each(cases)('rejects %o at construction', (overrides, ErrorType, message) => {
    const build = () => idempotency({ ...base, ...overrides } as IdempotencyOptions<Req>);
    expect(build).toThrow(ErrorType);
    expect(build).toThrow(message);
  });

  it('suggests the option meant, and never mutates the options it was given', () => {
    expect(() => idempotency({ ...base, lockTtl: 5 } as never)).toThrow('(did you mean "lockTtlMs"?)');
    const options = Object.freeze({ ...base, methods: Object.freeze(['POST']) });
    const idem = idempotency(options);
    expect(Object.isFrozen(idem.config)).toBe(true);
    expect(idem.config.lockTtlMs).toBe(60_000);
    expect(idem.config.retentionMs).toBe(86_400_000);
    expect(idem.config.onFailure).toBe('release');
    expect(idem.config.onOrphan).toBe('takeover');
    expect([...idem.config.methods]).toEqual(['POST']);
  });

  it('validates route overrides when an adapter is built', () => {
    const idem = idempotency(base);
    expect(() => idem.route('expressIdempotency', { required: 1 as never })).toThrow(
      'expressIdempotency: required must be a boolean, received 1',
    );
    expect(() => idem.route('expressIdempotency', { method: ['POST'] } as never)).toThrow(
      'expressIdempotency: unknown option "method" (did you mean "methods"?)',
    );
  });
});
