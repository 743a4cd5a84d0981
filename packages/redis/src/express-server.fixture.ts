// A service process for the end-to-end tests: Express 5 with the idempotency middleware on a shared Redis.
// The handler's side effect is an INCR in Redis, so the test can count executions across processes.
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { idempotency, idempotencyOf } from '@breakwater/idempotency';
import { captureRawBody, expressIdempotency } from '@breakwater/idempotency/express';
import express, { type Request } from 'express';
import { createClient } from 'redis';
import { redisStore } from './redis-store.js';

const client = await createClient({ url: String(process.env.REDIS_URL) }).connect();
const idem = idempotency<Request>({
  store: redisStore({ client, prefix: 'e2e' }),
  scope: (req) => String(req.headers['x-user']),
  lockTtlMs: Number(process.env.LOCK_TTL_MS),
  retentionMs: 60_000,
});

const app = express();
app.use(express.json({ verify: captureRawBody }));
app.post('/charges', expressIdempotency(idem, { required: true }), async (req, res) => {
  const user = String(req.headers['x-user']);
  const effects = await client.incr(`effects:${user}:${String(req.headers['idempotency-key'])}`);
  if (req.headers['x-hang'] === '1') return; // never answers: the test kills this process mid-request
  await sleep(20); // long enough for concurrent duplicates to overlap
  res.status(201).json({
    user,
    amount: (req.body as { amount: number }).amount,
    effects,
    recovered: idempotencyOf(req)?.recovered,
    pid: process.pid,
  });
});

const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
