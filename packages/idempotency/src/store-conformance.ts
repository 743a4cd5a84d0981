import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClaimRequest, ClaimResult, IdempotencyStore, StoredResponse } from './store.js';

/** A store under test, with a way to let time pass. */
export interface StoreHarness {
  readonly store: IdempotencyStore;
  /** Lets `ms` milliseconds pass for the store: advance a virtual clock, or really wait for a networked store. */
  advance(ms: number): Promise<void>;
  /** Frees the harness (closes the store, disconnects clients). */
  close?(): Promise<void> | void;
}

/** Options of {@link describeStoreConformance}. */
export interface StoreConformanceOptions {
  /** Lease used by the tests, in milliseconds; keep it short for stores that wait in real time. @default 1000 */
  leaseMs?: number;
  /** Retention used by the expiry tests, in milliseconds (> leaseMs). @default 4 * leaseMs */
  retentionMs?: number;
  /** Runs of the random operation-sequence property. @default 100 */
  numRuns?: number;
  /** Timeout of each test, in milliseconds (the property test gets 6 times as much). @default 10000 */
  timeoutMs?: number;
}

const FP_A = 'a'.repeat(64);
const FP_B = 'b'.repeat(64);
const LONG = 86_400_000;

/**
 * The behaviour every {@link IdempotencyStore} must have, as a vitest suite: atomic claims (exactly one of
 * many concurrent claimers wins, also for takeovers), owner-conditional renew/complete/release, lease
 * expiry separate from retention, byte-exact responses, and a fast-check property that no sequence of
 * operations ever lets two owners hold a key at once.
 *
 * @example
 * describeStoreConformance('memoryStore', () => {
 *   const clock = virtualClock();
 *   const store = memoryStore({ clock });
 *   return { store, advance: (ms) => clock.advance(ms), close: () => store.close() };
 * });
 */
export function describeStoreConformance(
  name: string,
  makeHarness: () => StoreHarness | Promise<StoreHarness>,
  options: StoreConformanceOptions = {},
): void {
  const leaseMs = options.leaseMs ?? 1000;
  const retentionMs = options.retentionMs ?? 4 * leaseMs;
  const numRuns = options.numRuns ?? 100;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const past = leaseMs + Math.max(50, Math.ceil(leaseMs / 2));

  describe(`${name}: idempotency store conformance`, () => {
    let h: StoreHarness;
    let store: IdempotencyStore;
    beforeEach(async () => {
      h = await makeHarness();
      store = h.store;
    });
    afterEach(async () => {
      await h.close?.();
    });

    const key = (): string => randomUUID();
    const claimOf = (owner: string, extra: Partial<ClaimRequest> = {}): ClaimRequest => ({
      owner,
      fingerprint: FP_A,
      leaseMs,
      retentionMs: LONG,
      takeover: true,
      ...extra,
    });
    const response = (body: Uint8Array | null = Buffer.from('{"id":1}')): StoredResponse => ({
      status: 201,
      headers: [
        ['content-type', 'application/json'],
        ['link', '</a>; rel="a"'],
        ['link', '</b>; rel="b"'],
      ],
      body,
    });

    it(
      'claims a free key as the first execution',
      async () => {
        expect(await store.claim(key(), claimOf('o1'))).toEqual({ status: 'claimed', attempt: 1 });
      },
      timeoutMs,
    );

    it(
      'reports a live claim to a second claimer, with its fingerprint and remaining lease',
      async () => {
        const k = key();
        await store.claim(k, claimOf('o1'));
        const second = await store.claim(k, claimOf('o2'));
        expect(second.status).toBe('in_progress');
        if (second.status !== 'in_progress') return;
        expect(second.fingerprint).toBe(FP_A);
        expect(second.leaseRemainingMs).toBeGreaterThan(0);
        expect(second.leaseRemainingMs).toBeLessThanOrEqual(leaseMs);
      },
      timeoutMs,
    );

    it(
      'reports the first request fingerprint to a claimer with another one, without changing the record',
      async () => {
        const k = key();
        await store.claim(k, claimOf('o1'));
        const other = await store.claim(k, claimOf('o2', { fingerprint: FP_B }));
        expect(other).toMatchObject({ status: 'in_progress', fingerprint: FP_A });
        expect(await store.complete(k, 'o1', response(), LONG)).toBe(true);
        expect(await store.claim(k, claimOf('o3', { fingerprint: FP_B }))).toMatchObject({
          status: 'completed',
          fingerprint: FP_A,
        });
      },
      timeoutMs,
    );

    it(
      'completes for the owner and returns status, headers (order and repeats) and body bytes exactly',
      async () => {
        const k = key();
        await store.claim(k, claimOf('o1'));
        const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
        expect(await store.complete(k, 'o1', response(bytes), LONG)).toBe(true);
        const replay = await store.claim(k, claimOf('o2'));
        expect(replay.status).toBe('completed');
        if (replay.status !== 'completed') return;
        expect(replay.fingerprint).toBe(FP_A);
        expect(replay.response.status).toBe(201);
        expect(replay.response.headers).toEqual(response().headers);
        expect(Buffer.from(replay.response.body!).equals(Buffer.from(bytes))).toBe(true);
      },
      timeoutMs,
    );

    it(
      'keeps an empty body and a missing body (not replayable) apart',
      async () => {
        const empty = key();
        const missing = key();
        await store.claim(empty, claimOf('o1'));
        await store.claim(missing, claimOf('o1'));
        await store.complete(empty, 'o1', { status: 204, headers: [], body: new Uint8Array(0) }, LONG);
        await store.complete(missing, 'o1', response(null), LONG);
        const a = await store.claim(empty, claimOf('o2'));
        const b = await store.claim(missing, claimOf('o2'));
        expect(a.status === 'completed' && a.response.body?.byteLength).toBe(0);
        expect(b.status === 'completed' && b.response.body).toBeNull();
      },
      timeoutMs,
    );

    it(
      'refuses renew, complete and release from anybody but the owner, and leaves the record as it was',
      async () => {
        const k = key();
        await store.claim(k, claimOf('o1'));
        expect(await store.renew(k, 'intruder', leaseMs)).toBe(false);
        expect(await store.complete(k, 'intruder', response(), LONG)).toBe(false);
        expect(await store.release(k, 'intruder')).toBe(false);
        expect((await store.claim(k, claimOf('o2'))).status).toBe('in_progress');
        expect(await store.complete(k, 'o1', response(), LONG)).toBe(true);
      },
      timeoutMs,
    );

    it(
      'refuses every write on a key nobody claimed, and on a completed record',
      async () => {
        const k = key();
        expect(await store.renew(k, 'o1', leaseMs)).toBe(false);
        expect(await store.complete(k, 'o1', response(), LONG)).toBe(false);
        expect(await store.release(k, 'o1')).toBe(false);
        expect(await store.claim(k, claimOf('o1'))).toEqual({ status: 'claimed', attempt: 1 });
        await store.complete(k, 'o1', response(), LONG);
        expect(await store.renew(k, 'o1', leaseMs)).toBe(false);
        expect(await store.complete(k, 'o1', response(Buffer.from('other')), LONG)).toBe(false);
        expect(await store.release(k, 'o1')).toBe(false);
        const replay = await store.claim(k, claimOf('o2'));
        expect(replay.status === 'completed' && Buffer.from(replay.response.body!).toString()).toBe(
          '{"id":1}',
        );
      },
      timeoutMs,
    );

    it(
      'frees the key on release, for a fresh first execution',
      async () => {
        const k = key();
        await store.claim(k, claimOf('o1'));
        expect(await store.release(k, 'o1')).toBe(true);
        expect(await store.claim(k, claimOf('o2', { fingerprint: FP_B }))).toEqual({
          status: 'claimed',
          attempt: 1,
        });
        expect(await store.release(k, 'o1')).toBe(false);
      },
      timeoutMs,
    );

    it(
      'extends the owner lease on renew, so nobody takes over a live request',
      async () => {
        const k = key();
        await store.claim(k, claimOf('o1'));
        await h.advance(Math.floor(leaseMs * 0.6));
        expect(await store.renew(k, 'o1', leaseMs)).toBe(true);
        await h.advance(Math.floor(leaseMs * 0.6));
        expect((await store.claim(k, claimOf('o2'))).status).toBe('in_progress');
      },
      timeoutMs,
    );

    it(
      'lets one claimer take over an expired lease with the same fingerprint; the old owner loses every write',
      async () => {
        const k = key();
        await store.claim(k, claimOf('old'));
        await h.advance(past);
        expect(await store.claim(k, claimOf('new'))).toEqual({ status: 'claimed', attempt: 2 });
        expect(await store.renew(k, 'old', leaseMs)).toBe(false);
        expect(await store.complete(k, 'old', response(), LONG)).toBe(false);
        expect(await store.release(k, 'old')).toBe(false);
        expect((await store.claim(k, claimOf('third'))).status).toBe('in_progress');
        expect(await store.complete(k, 'new', response(), LONG)).toBe(true);
        await h.advance(past);
        expect((await store.claim(k, claimOf('fourth'))).status).toBe('completed');
      },
      timeoutMs,
    );

    it(
      'counts attempts across successive takeovers',
      async () => {
        const k = key();
        await store.claim(k, claimOf('a'));
        await h.advance(past);
        await store.claim(k, claimOf('b'));
        await h.advance(past);
        expect(await store.claim(k, claimOf('c'))).toEqual({ status: 'claimed', attempt: 3 });
      },
      timeoutMs,
    );

    it(
      'does not take over an expired lease when takeover is off (orphan policy "reject")',
      async () => {
        const k = key();
        await store.claim(k, claimOf('old'));
        await h.advance(past);
        const result = await store.claim(k, claimOf('new', { takeover: false }));
        expect(result).toMatchObject({ status: 'in_progress', fingerprint: FP_A });
        expect(result.status === 'in_progress' && result.leaseRemainingMs).toBeLessThanOrEqual(0);
      },
      timeoutMs,
    );

    it(
      'does not take over an expired lease for a request with another fingerprint',
      async () => {
        const k = key();
        await store.claim(k, claimOf('old'));
        await h.advance(past);
        expect(await store.claim(k, claimOf('new', { fingerprint: FP_B }))).toMatchObject({
          status: 'in_progress',
          fingerprint: FP_A,
        });
      },
      timeoutMs,
    );

    it(
      'lets the owner of an expired lease that nobody took over still complete',
      async () => {
        const k = key();
        await store.claim(k, claimOf('slow'));
        await h.advance(past);
        expect(await store.complete(k, 'slow', response(), LONG)).toBe(true);
        expect((await store.claim(k, claimOf('next'))).status).toBe('completed');
      },
      timeoutMs,
    );

    it(
      'forgets a completed record after its retention',
      async () => {
        const k = key();
        await store.claim(k, claimOf('o1'));
        await store.complete(k, 'o1', response(), retentionMs);
        await h.advance(Math.floor(retentionMs / 2));
        expect((await store.claim(k, claimOf('o2'))).status).toBe('completed');
        await h.advance(retentionMs);
        expect(await store.claim(k, claimOf('o3'))).toEqual({ status: 'claimed', attempt: 1 });
      },
      timeoutMs,
    );

    it(
      'forgets an abandoned in-progress record after its retention, not after the lease',
      async () => {
        const k = key();
        await store.claim(k, claimOf('o1', { retentionMs }));
        await h.advance(past);
        expect((await store.claim(k, claimOf('o2', { takeover: false }))).status).toBe('in_progress');
        await h.advance(retentionMs);
        expect(await store.claim(k, claimOf('o3', { takeover: false }))).toEqual({
          status: 'claimed',
          attempt: 1,
        });
      },
      timeoutMs,
    );

    it(
      'keeps keys independent, whatever they look like',
      async () => {
        const base = key();
        const keys = [base, `${base}:x`, `${base}*`, `${base} `, `${base}\u00e9`];
        for (const k of keys)
          expect(await store.claim(k, claimOf('o1'))).toEqual({ status: 'claimed', attempt: 1 });
        await store.complete(keys[1]!, 'o1', response(), LONG);
        await store.release(keys[2]!, 'o1');
        expect((await store.claim(keys[0]!, claimOf('o2'))).status).toBe('in_progress');
        expect((await store.claim(keys[1]!, claimOf('o2'))).status).toBe('completed');
        expect((await store.claim(keys[2]!, claimOf('o2'))).status).toBe('claimed');
      },
      timeoutMs,
    );

    it(
      'grants exactly one of 50 concurrent claims',
      async () => {
        const k = key();
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => store.claim(k, claimOf(`o${i}`))),
        );
        expect(results.filter((r) => r.status === 'claimed')).toHaveLength(1);
        expect(results.filter((r) => r.status === 'in_progress')).toHaveLength(49);
      },
      timeoutMs,
    );

    it(
      'grants exactly one of 20 concurrent takeovers',
      async () => {
        const k = key();
        await store.claim(k, claimOf('crashed'));
        await h.advance(past);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.claim(k, claimOf(`o${i}`))),
        );
        expect(results.filter((r) => r.status === 'claimed')).toEqual([{ status: 'claimed', attempt: 2 }]);
      },
      timeoutMs,
    );

    it(
      'never lets two owners hold a key at once, for any sequence of operations',
      async () => {
        const worker = fc.constantFrom('w0', 'w1', 'w2');
        const command = fc.oneof(
          fc.record({
            op: fc.constant('claim' as const),
            worker,
            fp: fc.constantFrom(FP_A, FP_B),
            takeover: fc.boolean(),
          }),
          fc.record({
            op: fc.constantFrom('renew' as const, 'complete' as const, 'release' as const),
            worker,
          }),
          fc.record({ op: fc.constant('expire' as const) }),
        );
        await fc.assert(
          fc.asyncProperty(fc.array(command, { maxLength: 12 }), async (commands) => {
            const k = key();
            let model:
              | { state: 'p'; owner: string; fp: string; expired: boolean }
              | { state: 'c'; fp: string }
              | undefined;
            for (const c of commands) {
              if (c.op === 'expire') {
                await h.advance(past);
                if (model?.state === 'p') model.expired = true;
                continue;
              }
              const mine = model?.state === 'p' && model.owner === c.worker;
              if (c.op === 'claim') {
                const result: ClaimResult = await store.claim(
                  k,
                  claimOf(c.worker, { fingerprint: c.fp, takeover: c.takeover }),
                );
                let expected: ClaimResult['status'];
                if (model === undefined) {
                  expected = 'claimed';
                  model = { state: 'p', owner: c.worker, fp: c.fp, expired: false };
                } else if (model.state === 'c') {
                  expected = 'completed';
                } else if (model.expired && c.takeover && model.fp === c.fp) {
                  expected = 'claimed';
                  model = { state: 'p', owner: c.worker, fp: c.fp, expired: false };
                } else {
                  expected = 'in_progress';
                }
                expect(result.status).toBe(expected);
                if (result.status !== 'claimed') expect(result.fingerprint).toBe(model.fp);
              } else if (c.op === 'renew') {
                expect(await store.renew(k, c.worker, leaseMs)).toBe(mine);
                if (mine && model?.state === 'p') model.expired = false;
              } else if (c.op === 'complete') {
                expect(await store.complete(k, c.worker, response(), LONG)).toBe(mine);
                if (mine && model?.state === 'p') model = { state: 'c', fp: model.fp };
              } else {
                expect(await store.release(k, c.worker)).toBe(mine);
                if (mine) model = undefined;
              }
            }
          }),
          { numRuns },
        );
      },
      6 * timeoutMs,
    );
  });
}
