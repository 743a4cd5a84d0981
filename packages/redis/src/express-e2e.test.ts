import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { type RedisServer, startRedisServer } from '@breakwater/testing';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const LOCK_TTL_MS = 600;
const fixture = fileURLToPath(new URL('./express-server.fixture.ts', import.meta.url));
const loader = fileURLToPath(new URL('./ts-resolve.fixture.mjs', import.meta.url));

let redis: RedisServer;
let admin: ReturnType<typeof createClient>;
const children: ChildProcess[] = [];

/** Starts one service process on the shared Redis and resolves with its base URL. */
async function startService(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--conditions=@breakwater/source', '--import', loader, fixture], {
    env: { ...process.env, REDIS_URL: redis.url, LOCK_TTL_MS: String(LOCK_TTL_MS), NODE_NO_WARNINGS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  let stdout = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      stdout += chunk;
      const match = /listening (\d+)/.exec(stdout);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`service exited with ${code}:\n${stderr}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

const charge = (url: string, key: string, user: string, amount: number, extra: Record<string, string> = {}) =>
  fetch(`${url}/charges`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key, 'x-user': user, ...extra },
    body: JSON.stringify({ amount }),
  });

const effects = async (user: string, key: string): Promise<number> =>
  Number((await admin.get(`effects:${user}:${key}`)) ?? 0);

let a: string;
let b: string;

beforeAll(async () => {
  redis = await startRedisServer();
  admin = await createClient({ url: redis.url }).connect();
  [a, b] = (await Promise.all([startService(), startService()])).map((s) => s.url) as [string, string];
}, 30_000);

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await admin?.quit();
  await redis?.stop();
});

describe('Express + redisStore across two processes', () => {
  it('runs the side effect exactly once for 50 concurrent POSTs with one key; the others get 409 or the replay', async () => {
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) => charge(i % 2 === 0 ? a : b, '"burst-1"', 'alice', 25)),
    );
    const bodies = await Promise.all(responses.map((r) => r.text()));
    expect(await effects('alice', '"burst-1"')).toBe(1);
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    const originals = responses.filter(
      (r) => r.status === 201 && r.headers.get('idempotent-replayed') === null,
    );
    expect(originals).toHaveLength(1);
    const successBodies = new Set(bodies.filter((_, i) => statuses[i] === 201));
    expect(successBodies.size).toBe(1);
    expect(JSON.parse([...successBodies][0]!)).toMatchObject({
      user: 'alice',
      amount: 25,
      effects: 1,
      recovered: false,
    });
    for (const [i, res] of responses.entries()) {
      if (res.status === 409)
        expect([res.headers.get('retry-after'), JSON.parse(bodies[i]!).code]).toEqual([
          '1',
          'idempotency-request-in-progress',
        ]);
    }
    // Both processes replay the stored response afterwards.
    for (const url of [a, b]) {
      const replay = await charge(url, '"burst-1"', 'alice', 25);
      expect([replay.status, replay.headers.get('idempotent-replayed'), await replay.text()]).toEqual([
        201,
        'true',
        [...successBodies][0],
      ]);
    }
    expect(await effects('alice', '"burst-1"')).toBe(1);
  });

  it('answers 422 on the other process for the same key with another amount', async () => {
    await (await charge(a, '"pay-2"', 'alice', 10)).text();
    const reused = await charge(b, '"pay-2"', 'alice', 11);
    expect([reused.status, ((await reused.json()) as { code: string }).code]).toEqual([
      422,
      'idempotency-key-reused',
    ]);
    expect(await effects('alice', '"pay-2"')).toBe(1);
  });

  it('never shows one principal the response of another using the same key', async () => {
    const alice = await charge(a, '"shared-3"', 'alice', 30);
    expect(await alice.json()).toMatchObject({ user: 'alice' });
    const bob = await charge(b, '"shared-3"', 'bob', 30);
    expect(bob.headers.get('idempotent-replayed')).toBeNull();
    expect(await bob.json()).toMatchObject({ user: 'bob', effects: 1 });
    expect([await effects('alice', '"shared-3"'), await effects('bob', '"shared-3"')]).toEqual([1, 1]);
  });

  it('keeps client keys out of Redis key names: "sess:abc" cannot touch an unrelated key', async () => {
    await admin.set('sess:abc', 'someone-elses-session');
    expect((await charge(a, '"sess:abc"', 'alice', 1)).status).toBe(201);
    expect(await admin.get('sess:abc')).toBe('someone-elses-session');
    const keys = await admin.keys('e2e:*');
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(key).toMatch(/^e2e:[A-Za-z0-9_-]{43}$/);
  });

  it('frees the key of a process killed mid-request once the lock expires, and the retry knows it recovered', async () => {
    const victim = await startService();
    const hung = charge(victim.url, '"crash-4"', 'alice', 40, { 'x-hang': '1' }).then(
      (r) => r.status,
      () => 'connection lost',
    );
    while ((await effects('alice', '"crash-4"')) === 0) await new Promise((r) => setTimeout(r, 5));
    victim.child.kill('SIGKILL');
    await once(victim.child, 'exit');
    expect(await hung).toBe('connection lost');
    const killedAt = Date.now();

    const early = await charge(b, '"crash-4"', 'alice', 40);
    expect(early.status).toBe(409);
    await early.text();
    await new Promise((r) => setTimeout(r, LOCK_TTL_MS - (Date.now() - killedAt) + 100));
    const retry = await charge(b, '"crash-4"', 'alice', 40);
    expect(retry.status).toBe(201);
    expect(await retry.json()).toMatchObject({ recovered: true, effects: 2 });
    const replay = await charge(a, '"crash-4"', 'alice', 40);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await effects('alice', '"crash-4"')).toBe(2);
  });
});
