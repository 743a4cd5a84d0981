import type { AddressInfo } from 'node:net';
import { type FaultServer, type RedisServer, startFaultServer, startRedisServer } from '@breakwater/testing';
import { createClient, type RedisClientType } from 'redis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createOrderApp } from './app.ts';

const orderIdOf = async (response: Response): Promise<number> =>
  ((await response.json()) as { orderId: number }).orderId;

const stockBody = (available: number) => ({
  body: JSON.stringify({ available }),
  headers: { 'content-type': 'application/json', 'cache-control': 'max-age=0, stale-if-error=300' },
});

describe('express-order-service', () => {
  let redisServer: RedisServer;
  let redis: RedisClientType;
  let inventory: FaultServer;
  let base: string;
  let close: () => void;

  beforeAll(async () => {
    redisServer = await startRedisServer();
    redis = (await createClient({ url: redisServer.url }).connect()) as RedisClientType;
    inventory = await startFaultServer();
    const server = createOrderApp({ inventoryOrigin: inventory.origin, redis }).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => {
      server.close();
      server.closeAllConnections();
    };
  });

  afterAll(async () => {
    close();
    await redis.quit();
    await inventory.close();
    await redisServer.stop();
  });

  beforeEach(async () => {
    await redis.flushAll();
    inventory.route('GET /inventory/apple', stockBody(50));
  });

  const order = (key: string | undefined, customer = 'alice', quantity = 1): Promise<Response> =>
    fetch(`${base}/orders`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-customer': customer,
        ...(key === undefined ? {} : { 'idempotency-key': `"${key}"` }),
      },
      body: JSON.stringify({ sku: 'apple', quantity }),
    });

  it('takes an order once per key: a retry gets the first answer, replayed', async () => {
    const first = await order('k-1');
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({ orderId: 1, sku: 'apple', quantity: 1 });
    const again = await order('k-1');
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual({ orderId: 1, sku: 'apple', quantity: 1 });
    expect(await redis.get('orders:next-id')).toBe('1');
  });

  it('creates exactly one order for 20 concurrent requests with one key; the others get 409 or the replay', async () => {
    const responses = await Promise.all(Array.from({ length: 20 }, () => order('k-burst')));
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    expect(statuses.filter((s) => s === 201).length).toBeGreaterThanOrEqual(1);
    for (const r of responses.filter((r) => r.status === 201)) expect(await orderIdOf(r)).toBe(1);
    expect(await redis.get('orders:next-id')).toBe('1');
  });

  it("never shows one customer another customer's order for the same key", async () => {
    expect(await orderIdOf(await order('shared', 'alice'))).toBe(1);
    const bob = await order('shared', 'bob');
    expect(bob.headers.get('idempotent-replayed')).toBeNull();
    expect(await orderIdOf(bob)).toBe(2);
  });

  it('rejects an order without a key, and the same key with another body', async () => {
    expect((await order(undefined)).status).toBe(400);
    expect((await order('k-2', 'alice', 1)).status).toBe(201);
    expect((await order('k-2', 'alice', 3)).status).toBe(422);
  });

  it('answers stock from the last good response while the inventory fails, and says it is stale', async () => {
    inventory.route('GET /inventory/apple', [stockBody(7), { status: 503 }]);
    expect(await (await fetch(`${base}/stock/apple`)).json()).toEqual({
      sku: 'apple',
      available: 7,
      stale: false,
    });
    expect(await (await fetch(`${base}/stock/apple`)).json()).toEqual({
      sku: 'apple',
      available: 7,
      stale: true,
    });
  });

  it('fails honestly when the inventory fails and nothing was cached', async () => {
    inventory.route('GET /inventory/pear', { status: 503 });
    const response = await fetch(`${base}/stock/pear`);
    expect(response.status).toBe(503);
  });
});
