import { Readable } from 'node:stream';
import { virtualClock } from '@breakwater/testing';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { fastifyIdempotency } from './fastify.js';
import { idempotency } from './idempotency.js';
import type { IdempotencyOptions } from './idempotency-options.js';
import { memoryStore } from './memory-store.js';
import { idempotencyOf } from './request-context.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

async function build(
  routes: (app: FastifyInstance) => void,
  options: Partial<IdempotencyOptions<FastifyRequest>> = {},
  pluginOptions: { required?: boolean } = {},
): Promise<string> {
  const clock = virtualClock();
  const idem = idempotency<FastifyRequest>({
    store: memoryStore({ clock }),
    scope: (request) => String(request.headers['x-user']),
    clock,
    ...options,
  });
  const app = Fastify();
  apps.push(app);
  await app.register(fastifyIdempotency, { idempotency: idem, ...pluginOptions });
  routes(app);
  return app.listen({ port: 0, host: '127.0.0.1' });
}

const post = (url: string, key: string | undefined, body = '{"n":1}', user = 'alice') =>
  fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-user': user,
      ...(key === undefined ? {} : { 'idempotency-key': key }),
    },
    body,
  });

const codeOf = async (res: Response): Promise<string> => ((await res.json()) as { code: string }).code;

describe('fastifyIdempotency', () => {
  it('replays with Idempotent-Replayed, 422 for another payload, 400 for a bad key, scoped by principal', async () => {
    let runs = 0;
    const url = await build((app) => {
      app.post('/orders/:id', async (request, reply) => {
        runs++;
        reply.code(201).header('location', `/orders/${(request.params as { id: string }).id}`);
        return { run: runs, body: request.body };
      });
    });
    const first = await post(`${url}/orders/1`, '"f-1"');
    expect([first.status, await first.json()]).toEqual([201, { run: 1, body: { n: 1 } }]);
    const replay = await post(`${url}/orders/1`, '"f-1"');
    expect([
      replay.status,
      replay.headers.get('idempotent-replayed'),
      replay.headers.get('location'),
    ]).toEqual([201, 'true', '/orders/1']);
    expect(await replay.json()).toEqual({ run: 1, body: { n: 1 } });
    const reused = await post(`${url}/orders/1`, '"f-1"', '{"n":2}');
    expect([reused.status, reused.headers.get('content-type'), await codeOf(reused)]).toEqual([
      422,
      'application/problem+json',
      'idempotency-key-reused',
    ]);
    const bad = await post(`${url}/orders/1`, '"unterminated');
    expect([bad.status, await codeOf(bad)]).toEqual([400, 'idempotency-key-invalid']);
    const bob = await post(`${url}/orders/1`, '"f-1"', '{"n":1}', 'bob');
    expect([bob.headers.get('idempotent-replayed'), await bob.json()]).toEqual([
      null,
      { run: 2, body: { n: 1 } },
    ]);
    expect(runs).toBe(2);
  });

  it('answers 409 with Retry-After while the first request runs', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = false;
    const url = await build((app) => {
      app.post('/slow', async () => {
        started = true;
        await gate;
        return 'done';
      });
    });
    const first = post(`${url}/slow`, '"s"');
    while (!started) await new Promise((r) => setTimeout(r, 1));
    const conflict = await post(`${url}/slow`, '"s"');
    expect([conflict.status, conflict.headers.get('retry-after'), await codeOf(conflict)]).toEqual([
      409,
      '1',
      'idempotency-request-in-progress',
    ]);
    release();
    expect(await (await first).text()).toBe('done');
    expect((await post(`${url}/slow`, '"s"')).headers.get('idempotent-replayed')).toBe('true');
  });

  it('honours per-route config: required keys, and opting a route out', async () => {
    let optedOut = 0;
    const url = await build((app) => {
      app.post('/must', { config: { idempotency: { required: true } } }, async () => 'ok');
      app.post('/free', { config: { idempotency: false } }, async () => `run ${++optedOut}`);
      app.post('/optional', async () => 'ok');
    });
    const missing = await post(`${url}/must`, undefined);
    expect([missing.status, await codeOf(missing)]).toEqual([400, 'idempotency-key-missing']);
    expect((await post(`${url}/optional`, undefined)).status).toBe(200);
    await (await post(`${url}/free`, '"x"')).text();
    expect(await (await post(`${url}/free`, '"x"')).text()).toBe('run 2');
  });

  it('hashes the raw body as it streams in, and answers 413 past maxFingerprintBodyBytes', async () => {
    let runs = 0;
    const url = await build(
      (app) => {
        app.post('/x', async () => `run ${++runs}`);
      },
      { maxFingerprintBodyBytes: 32 },
    );
    await (await post(`${url}/x`, '"b"', '{"n":1}')).text();
    // Same document, other bytes: raw bytes are what the fingerprint covers.
    expect((await post(`${url}/x`, '"b"', '{ "n": 1 }')).status).toBe(422);
    const large = await post(`${url}/x`, '"big"', JSON.stringify({ pad: 'x'.repeat(64) }));
    expect(large.status).toBe(413);
    expect(runs).toBe(1);
  });

  it('releases the key when the handler throws (500), so the retry runs', async () => {
    let runs = 0;
    const url = await build((app) => {
      app.post('/flaky', async () => {
        if (++runs === 1) throw new Error('database down');
        return 'created';
      });
    });
    expect((await post(`${url}/flaky`, '"t"')).status).toBe(500);
    expect(await (await post(`${url}/flaky`, '"t"')).text()).toBe('created');
    expect(runs).toBe(2);
  });

  it('captures a streamed reply for replay', async () => {
    let runs = 0;
    const url = await build((app) => {
      app.post('/stream', async (_request, reply) => {
        runs++;
        reply.header('content-type', 'text/plain');
        return reply.send(Readable.from(['chunk-1 ', 'chunk-2']));
      });
    });
    expect(await (await post(`${url}/stream`, '"st"')).text()).toBe('chunk-1 chunk-2');
    const replay = await post(`${url}/stream`, '"st"');
    expect([replay.headers.get('idempotent-replayed'), await replay.text()]).toEqual([
      'true',
      'chunk-1 chunk-2',
    ]);
    expect(runs).toBe(1);
  });

  it('records nothing for requests rejected before begin() in manual mode', async () => {
    let effects = 0;
    const url = await build(
      (app) => {
        app.post('/manual', async (request, reply) => {
          const body = request.body as { amount?: unknown };
          if (typeof body.amount !== 'number') return reply.code(400).send('amount must be a number');
          if (!(await idempotencyOf(request)!.begin())) return reply;
          effects++;
          return reply.code(201).send(`charged ${body.amount}`);
        });
      },
      { begin: 'manual' },
    );
    expect((await post(`${url}/manual`, '"m"', '{"amount":"x"}')).status).toBe(400);
    expect(await (await post(`${url}/manual`, '"m"', '{"amount":5}')).text()).toBe('charged 5');
    const replay = await post(`${url}/manual`, '"m"', '{"amount":5}');
    expect([replay.headers.get('idempotent-replayed'), await replay.text()]).toEqual(['true', 'charged 5']);
    expect(effects).toBe(1);
  });

  it('rejects a plugin registered without an idempotency core', async () => {
    const app = Fastify();
    apps.push(app);
    await expect(app.register(fastifyIdempotency, {} as never)).rejects.toThrow(
      'fastifyIdempotency: idempotency must be created by idempotency(), received undefined',
    );
  });
});
