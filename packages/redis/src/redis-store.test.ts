import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreConformance } from '@breakwater/idempotency/testing';
import { type RedisServer, startRedisServer } from '@breakwater/testing';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from './redis-store.js';

type Client = ReturnType<typeof createClient>;

let server: RedisServer;
let admin: Client;

beforeAll(async () => {
  server = await startRedisServer();
  admin = await createClient({ url: server.url }).connect();
});

afterAll(async () => {
  await admin?.quit();
  await server?.stop();
});

describeStoreConformance(
  'redisStore (real redis-server)',
  async () => {
    const client = await createClient({ url: server.url }).connect();
    return {
      store: redisStore({ client }),
      advance: (ms) => sleep(ms),
      close: () => client.quit().then(() => {}),
    };
  },
  { leaseMs: 120, numRuns: 20 },
);

const claim = (owner: string) => ({
  owner,
  fingerprint: 'f'.repeat(64),
  leaseMs: 10_000,
  retentionMs: 60_000,
  takeover: true,
});
const response = {
  status: 201,
  headers: [['content-type', 'application/json'] as const],
  body: Buffer.from('{"secret":"card-4242"}'),
};

describe('redisStore', () => {
  it('keeps each record in one hash under its prefix, with server-side expiry', async () => {
    const store = redisStore({ client: admin, prefix: 'test:ns' });
    await store.claim('abc', claim('o1'));
    expect(await admin.type('test:ns:abc')).toBe('hash');
    expect(await admin.hGetAll('test:ns:abc')).toMatchObject({
      v: '1',
      st: 'p',
      o: 'o1',
      f: 'f'.repeat(64),
      a: '1',
    });
    const ttl = await admin.pTTL('test:ns:abc');
    expect(ttl).toBeGreaterThan(59_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await store.complete('abc', 'o1', response, 5000);
    expect(await admin.hGet('test:ns:abc', 'st')).toBe('c');
    expect(await admin.hExists('test:ns:abc', 'l')).toBe(0);
    expect(await admin.pTTL('test:ns:abc')).toBeLessThanOrEqual(5000);
  });

  it('never touches keys outside its namespace, whatever the key looks like', async () => {
    await admin.set('sess:abc', 'victim-session');
    const store = redisStore({ client: admin, prefix: 'iso' });
    await store.claim('sess:abc', claim('o1'));
    await store.complete('sess:abc', 'o1', response, 60_000);
    expect(await admin.get('sess:abc')).toBe('victim-session');
    expect(await admin.type('iso:sess:abc')).toBe('hash');
  });

  it('reloads its scripts after the server forgot them (SCRIPT FLUSH, failover)', async () => {
    const store = redisStore({ client: admin, prefix: 'flush' });
    await store.claim('a', claim('o1'));
    await admin.scriptFlush();
    expect((await store.claim('a', claim('o2'))).status).toBe('in_progress');
    expect(await store.release('a', 'o1')).toBe(true);
  });

  it('seals stored responses with AES-256-GCM when given keys, and opens them after a key rotation', async () => {
    const oldKey = { id: 'k2024', key: randomBytes(32) };
    const newKey = { id: 'k2025', key: randomBytes(32) };
    const before = redisStore({ client: admin, prefix: 'enc', encryptionKeys: [oldKey] });
    await before.claim('r', claim('o1'));
    await before.complete('r', 'o1', response, 60_000);
    const raw = (await admin.hGet('enc:r', 'r'))!;
    expect(raw.startsWith('enc1.k2024.')).toBe(true);
    expect(raw).not.toContain('card-4242');
    expect(raw).not.toContain(Buffer.from('{"secret":"card-4242"}').toString('base64'));

    const rotated = redisStore({ client: admin, prefix: 'enc', encryptionKeys: [newKey, oldKey] });
    const replay = await rotated.claim('r', claim('o2'));
    expect(replay.status === 'completed' && Buffer.from(replay.response.body!).toString()).toBe(
      '{"secret":"card-4242"}',
    );

    const forgotten = redisStore({ client: admin, prefix: 'enc', encryptionKeys: [newKey] });
    await expect(forgotten.claim('r', claim('o3'))).rejects.toThrow('unknown encryption key id "k2024"');
  });

  it('refuses a sealed response moved to another record key', async () => {
    const key = { id: 'k', key: randomBytes(32) };
    const store = redisStore({ client: admin, prefix: 'move', encryptionKeys: [key] });
    await store.claim('from', claim('o1'));
    await store.complete('from', 'o1', response, 60_000);
    await store.claim('to', claim('o1'));
    await store.complete('to', 'o1', { ...response, body: Buffer.from('other') }, 60_000);
    await admin.hSet('move:to', 'r', (await admin.hGet('move:from', 'r'))!);
    await expect(store.claim('to', claim('o2'))).rejects.toThrow(/authenticate/);
  });

  it('refuses an unsealed response when it has keys, so a record planted in Redis is never replayed', async () => {
    const plain = redisStore({ client: admin, prefix: 'plant' });
    await plain.claim('r', claim('o1'));
    await plain.complete('r', 'o1', response, 60_000);
    expect((await admin.hGet('plant:r', 'r'))!.startsWith('{')).toBe(true);
    const sealed = redisStore({
      client: admin,
      prefix: 'plant',
      encryptionKeys: [{ id: 'k', key: randomBytes(32) }],
    });
    await expect(sealed.claim('r', claim('o2'))).rejects.toThrow(
      'redisStore: a stored response is not sealed, but encryptionKeys are set',
    );
  });

  it('reports a record of an unknown schema version instead of misreading it', async () => {
    await admin.hSet('ver:x', { v: '99', st: 'c' });
    await expect(redisStore({ client: admin, prefix: 'ver' }).claim('x', claim('o1'))).rejects.toThrow(
      /unknown schema version/,
    );
  });

  it('validates its options at construction', () => {
    expect(() => redisStore({} as never)).toThrow(/client must be a node-redis client/);
    expect(() => redisStore({ client: { get() {} } as never })).toThrow(TypeError);
    expect(() => redisStore({ client: admin, prefix: '' })).toThrow(
      'redisStore: prefix must be a non-empty string, received ""',
    );
    expect(() => redisStore({ client: admin, encryptionKeys: [{ id: 'k', key: randomBytes(16) }] })).toThrow(
      new RangeError('redisStore: encryptionKeys[0].key must be 32 bytes (AES-256)'),
    );
    expect(() =>
      redisStore({ client: admin, encryptionKeys: [{ id: 'a.b', key: randomBytes(32) }] }),
    ).toThrow(/\[A-Za-z0-9_-\]/);
    expect(() => redisStore({ client: admin, prefx: 'x' } as never)).toThrow(/did you mean "prefix"/);
  });
});
