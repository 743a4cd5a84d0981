import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { virtualClock } from '@breakwater/testing';
import express, { type NextFunction, type Request, type Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { captureRawBody, expressIdempotency } from './express.js';
import { idempotency } from './idempotency.js';
import type { IdempotencyOptions } from './idempotency-options.js';
import { memoryStore } from './memory-store.js';
import { idempotencyOf } from './request-context.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(app: express.Express): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

function makeIdem(options: Partial<IdempotencyOptions<Request>> = {}) {
  const clock = virtualClock();
  const idem = idempotency<Request>({
    store: memoryStore({ clock }),
    scope: (req) => String(req.headers['x-user']),
    clock,
    ...options,
  });
  return { idem, clock };
}

const post = (url: string, key: string | undefined, body: string, extra: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-user': 'alice',
      ...(key === undefined ? {} : { 'idempotency-key': key }),
      ...extra,
    },
    body,
  });

const codeOf = async (res: globalThis.Response): Promise<string> =>
  ((await res.json()) as { code: string }).code;

describe('expressIdempotency', () => {
  it('replays res.json responses with Idempotent-Replayed, answers 422 for another payload and 400 for a bad key', async () => {
    const { idem } = makeIdem();
    let runs = 0;
    const app = express();
    app.use(express.json({ verify: captureRawBody }));
    app.post('/orders/:id', expressIdempotency(idem), (req, res) => {
      runs++;
      res.status(201).location(`/orders/${req.params.id}`).json({ run: runs, body: req.body });
    });
    const url = await listen(app);
    const first = await post(`${url}/orders/7`, '"e-1"', '{"qty":1}');
    expect([first.status, await first.json()]).toEqual([201, { run: 1, body: { qty: 1 } }]);
    const replay = await post(`${url}/orders/7`, '"e-1"', '{"qty":1}');
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.headers.get('location')).toBe('/orders/7');
    expect(await replay.json()).toEqual({ run: 1, body: { qty: 1 } });
    // Raw bytes are fingerprinted: the same document with other whitespace is another payload.
    expect((await post(`${url}/orders/7`, '"e-1"', '{ "qty": 1 }')).status).toBe(422);
    expect(await codeOf(await post(`${url}/orders/7`, '"e-1"', '{"qty":2}'))).toBe('idempotency-key-reused');
    const bad = await post(`${url}/orders/7`, `"${'x'.repeat(300)}"`, '{"qty":1}');
    expect([bad.status, await codeOf(bad)]).toEqual([400, 'idempotency-key-invalid']);
    expect(runs).toBe(1);
  });

  it('scopes keys by route template, so /orders/:id keys are shared across ids but not across routes', async () => {
    const { idem } = makeIdem();
    let runs = 0;
    const app = express();
    app.use(express.json());
    const mw = expressIdempotency(idem);
    app.post('/orders/:id', mw, (_req, res) => {
      res.json({ run: ++runs });
    });
    app.post('/refunds/:id', mw, (_req, res) => {
      res.json({ run: ++runs });
    });
    const url = await listen(app);
    await (await post(`${url}/orders/1`, '"t"', '{}')).text();
    await (await post(`${url}/refunds/1`, '"t"', '{}')).text();
    expect(runs).toBe(2);
  });

  it('fingerprints a parsed JSON body in canonical form when the raw bytes were not kept', async () => {
    const { idem } = makeIdem();
    let runs = 0;
    const app = express();
    app.use(express.json());
    app.post('/x', expressIdempotency(idem), (_req, res) => {
      res.json({ run: ++runs });
    });
    const url = await listen(app);
    await (await post(`${url}/x`, '"c"', '{"a":1,"b":2}')).text();
    const sameDocument = await post(`${url}/x`, '"c"', '{ "b": 2, "a": 1 }');
    expect(sameDocument.headers.get('idempotent-replayed')).toBe('true');
    expect((await post(`${url}/x`, '"c"', '{"a":1,"b":3}')).status).toBe(422);
    expect(runs).toBe(1);
  });

  it('reads an unparsed body itself and leaves it in req.body as a Buffer', async () => {
    const { idem } = makeIdem();
    const app = express();
    app.post('/raw', expressIdempotency(idem), (req, res) => {
      res.send(`got ${Buffer.isBuffer(req.body) ? (req.body as Buffer).toString('utf8') : typeof req.body}`);
    });
    const url = await listen(app);
    expect(await (await post(`${url}/raw`, '"r"', 'hello')).text()).toBe('got hello');
    expect((await post(`${url}/raw`, '"r"', 'other')).status).toBe(422);
  });

  it('answers 409 while the first request runs and requires a key on a required route', async () => {
    const { idem } = makeIdem();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = false;
    const app = express();
    app.use(express.json());
    app.post('/slow', expressIdempotency(idem, { required: true }), async (_req, res) => {
      started = true;
      await gate;
      res.status(202).send('done');
    });
    const url = await listen(app);
    const first = post(`${url}/slow`, '"s"', '{}');
    while (!started) await new Promise((r) => setTimeout(r, 1));
    const conflict = await post(`${url}/slow`, '"s"', '{}');
    expect([conflict.status, conflict.headers.get('retry-after'), await codeOf(conflict)]).toEqual([
      409,
      '1',
      'idempotency-request-in-progress',
    ]);
    const missing = await post(`${url}/slow`, undefined, '{}');
    expect([missing.status, await codeOf(missing)]).toEqual([400, 'idempotency-key-missing']);
    release();
    expect(await (await first).text()).toBe('done');
  });

  it('releases the key when an async handler throws (Express answers 500), so the retry runs', async () => {
    const { idem } = makeIdem();
    let runs = 0;
    const app = express();
    app.use(express.json());
    app.post('/flaky', expressIdempotency(idem), async (_req, res) => {
      if (++runs === 1) throw new Error('database down');
      res.status(201).send('created');
    });
    const url = await listen(app);
    expect((await post(`${url}/flaky`, '"f"', '{}')).status).toBe(500);
    const retry = await post(`${url}/flaky`, '"f"', '{}');
    expect([retry.status, await retry.text()]).toEqual([201, 'created']);
    expect(runs).toBe(2);
  });

  it('captures res.sendFile streams for replay', async () => {
    const { idem } = makeIdem();
    const file = join(tmpdir(), `breakwater-idem-${process.pid}.txt`);
    writeFileSync(file, 'file contents '.repeat(1000));
    let runs = 0;
    const app = express();
    app.post('/file', expressIdempotency(idem), (_req, res) => {
      runs++;
      res.sendFile(file);
    });
    const url = await listen(app);
    const first = await (await post(`${url}/file`, '"file"', '{}')).text();
    const replay = await post(`${url}/file`, '"file"', '{}');
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.text()).toBe(first);
    expect(first.length).toBe(14_000);
    expect(runs).toBe(1);
  });

  it('routes a scope failure to the error handler exactly once', async () => {
    const { idem } = makeIdem({
      scope: () => {
        throw new Error('no principal');
      },
    });
    const errors: string[] = [];
    const app = express();
    app.use(express.json());
    app.post('/x', expressIdempotency(idem), (_req, res) => {
      res.send('unreachable');
    });
    app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
      errors.push(error.message);
      res.status(401).send('who are you');
    });
    const url = await listen(app);
    const res = await post(`${url}/x`, '"k"', '{}');
    expect([res.status, await res.text()]).toEqual([401, 'who are you']);
    expect(errors).toEqual(['no principal']);
  });

  it('records nothing for requests the handler rejects before begin() (manual mode)', async () => {
    const { idem } = makeIdem({ begin: 'manual' });
    let effects = 0;
    const app = express();
    app.use(express.json());
    app.post('/manual', expressIdempotency(idem), async (req, res) => {
      if (typeof (req.body as { amount?: unknown }).amount !== 'number') {
        res.status(400).send('amount must be a number');
        return;
      }
      if (!(await idempotencyOf(req)!.begin())) return;
      effects++;
      res.status(201).send(`charged ${(req.body as { amount: number }).amount}`);
    });
    const url = await listen(app);
    expect((await post(`${url}/manual`, '"m"', '{"amount":"ten"}')).status).toBe(400);
    // The corrected request with the same key is not a "reused key": the rejected one left no record.
    const fixed = await post(`${url}/manual`, '"m"', '{"amount":10}');
    expect([fixed.status, await fixed.text()]).toEqual([201, 'charged 10']);
    const replay = await post(`${url}/manual`, '"m"', '{"amount":10}');
    expect([replay.status, replay.headers.get('idempotent-replayed'), await replay.text()]).toEqual([
      201,
      'true',
      'charged 10',
    ]);
    expect(effects).toBe(1);
  });
});
