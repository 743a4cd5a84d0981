import type { AddressInfo } from 'node:net';
import { startFaultServer, startRedisServer } from '@breakwater/testing';
import { createClient, type RedisClientType } from 'redis';
import { createOrderApp } from './app.ts';

// A throwaway Redis and a scripted inventory service, so the example runs anywhere; in production pass
// your own REDIS_URL and inventory origin.
await using redisServer = await startRedisServer();
await using inventory = await startFaultServer();
const redis = (await createClient({
  url: process.env.REDIS_URL ?? redisServer.url,
}).connect()) as RedisClientType;
inventory.route('GET /inventory/apple', [
  {
    body: JSON.stringify({ available: 5 }),
    headers: { 'content-type': 'application/json', 'cache-control': 'max-age=1, stale-if-error=300' },
  },
  { status: 503 },
]);

const server = createOrderApp({ inventoryOrigin: inventory.origin, redis }).listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const order = (key: string): Promise<Response> =>
  fetch(`${base}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': `"${key}"`, 'x-customer': 'alice' },
    body: JSON.stringify({ sku: 'apple', quantity: 2 }),
  });

const first = await order('order-7f3a');
console.log('POST /orders         ->', first.status, await first.text());
const retry = await order('order-7f3a');
console.log(
  'same key again       ->',
  retry.status,
  await retry.text(),
  'replayed:',
  retry.headers.get('idempotent-replayed'),
);
const stock = await fetch(`${base}/stock/apple`);
console.log('GET /stock/apple     ->', stock.status, await stock.text(), '(inventory now answers 503)');

server.close();
server.closeAllConnections();
await redis.quit();
