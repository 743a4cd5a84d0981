import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OrderService {
  readonly origin: string;
  close(): Promise<void>;
}

/**
 * The order service: `GET /orders/check/:sku` asks the inventory service whether the item is in stock.
 * It is the same code for both clients; only the `fetch` it is given differs.
 */
export async function startOrderService(options: {
  inventoryOrigin: string;
  fetch: typeof globalThis.fetch;
}): Promise<OrderService> {
  const server: Server = createServer(async (request, response) => {
    const sku = request.url?.split('/').at(-1) ?? 'unknown';
    try {
      const inventory = await options.fetch(`${options.inventoryOrigin}/inventory/${sku}`);
      const body = await inventory.text();
      response
        .writeHead(inventory.ok ? 200 : 502, { 'content-type': 'application/json' })
        .end(inventory.ok ? body : JSON.stringify({ error: `inventory answered ${inventory.status}` }));
    } catch (error) {
      if (response.destroyed) return;
      response
        .writeHead(503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: (error as Error).message }));
    }
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
