import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Inventory {
  readonly origin: string;
  /** The `traceparent` header of each request received. */
  readonly traceparents: readonly (string | undefined)[];
  close(): Promise<void>;
}

/** A service on 127.0.0.1 that answers 503 twice, then 200, and remembers the trace context it was sent. */
export async function startInventory(): Promise<Inventory> {
  const traceparents: (string | undefined)[] = [];
  const server = createServer((request, response) => {
    const traceparent = request.headers.traceparent;
    traceparents.push(typeof traceparent === 'string' ? traceparent : undefined);
    const ok = traceparents.length > 2;
    response.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
    response.end(ok ? '{"sku":"anchor","inStock":true}' : '{"error":"busy"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    traceparents,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
