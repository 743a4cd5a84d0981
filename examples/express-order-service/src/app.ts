import { pipeline } from '@breakwater/core';
import { fallbackCache, fallbackInfo } from '@breakwater/fallback-cache';
import { resilientFetch, standardPipeline } from '@breakwater/http';
import { idempotency } from '@breakwater/idempotency';
import { captureRawBody, expressIdempotency } from '@breakwater/idempotency/express';
import { redisStore } from '@breakwater/redis';
import express, { type Express, type Request } from 'express';
import type { RedisClientType } from 'redis';

export interface OrderAppOptions {
  /** Where the inventory service lives, e.g. `http://127.0.0.1:8081`. */
  inventoryOrigin: string;
  /** A connected node-redis client: idempotency records and the order counter live there. */
  redis: RedisClientType;
}

/**
 * The order service as an Express app.
 * - `GET /stock/:sku` reads the inventory through breakwater; when the inventory fails it answers with the
 *   last good stock level and says so (`stale: true`).
 * - `POST /orders` takes an order exactly once per `Idempotency-Key`, across every process that shares the
 *   Redis: a retry gets the first answer back, with `Idempotent-Replayed: true`.
 */
export function createOrderApp({ inventoryOrigin, redis }: OrderAppOptions): Express {
  const inventoryFetch = resilientFetch({
    pipeline: pipeline(fallbackCache(), standardPipeline({ totalTimeoutMs: 2_000, attemptTimeoutMs: 500 })),
  });
  const orders = idempotency<Request>({
    store: redisStore({ client: redis, prefix: 'orders:idem:' }),
    // Who is asking. A real service takes it from verified authentication; this example trusts a header.
    scope: (req) => req.get('x-customer') ?? 'anonymous',
  });

  const stockOf = async (sku: string): Promise<{ available: number; stale: boolean }> => {
    const response = await inventoryFetch(`${inventoryOrigin}/inventory/${encodeURIComponent(sku)}`);
    if (!response.ok) throw new Error(`inventory answered ${response.status}`);
    const { available } = (await response.json()) as { available: number };
    return { available, stale: fallbackInfo(response) !== undefined };
  };

  const app = express();
  app.use(express.json({ verify: captureRawBody, limit: '16kb' }));

  app.get('/stock/:sku', async (req, res) => {
    try {
      res.json({ sku: req.params.sku, ...(await stockOf(req.params.sku)) });
    } catch (error) {
      res.status(503).json({ error: (error as Error).message });
    }
  });

  app.post('/orders', expressIdempotency(orders, { required: true }), async (req, res) => {
    const { sku, quantity } = req.body as { sku?: unknown; quantity?: unknown };
    if (typeof sku !== 'string' || !Number.isInteger(quantity) || (quantity as number) < 1) {
      res.status(400).json({ error: 'body must be { "sku": string, "quantity": integer >= 1 }' });
      return;
    }
    try {
      const stock = await stockOf(sku);
      if (stock.available < (quantity as number)) {
        res.status(409).json({ error: `only ${stock.available} of ${sku} in stock` });
        return;
      }
      const orderId = await redis.incr('orders:next-id');
      res.status(201).json({ orderId, sku, quantity });
    } catch (error) {
      res.status(503).json({ error: (error as Error).message });
    }
  });

  return app;
}
