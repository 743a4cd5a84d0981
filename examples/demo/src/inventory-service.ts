import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { phaseAt } from './timeline.ts';

export interface InventoryService {
  readonly origin: string;
  /** Requests that reached the service, i.e. load on the failing dependency. */
  readonly received: number;
  close(): Promise<void>;
}

/**
 * A flaky inventory service on 127.0.0.1. Every instance follows the same scripted timeline and the same
 * per-request dice (a seeded sequence), so two instances give two clients identical trouble.
 */
export async function startInventoryService(options: {
  startedAt: number;
  durationMs: number;
  slowMs: number;
}): Promise<InventoryService> {
  let received = 0;
  let dice = 0x9e3779b9;
  const roll = (): number => {
    dice = (Math.imul(dice ^ (dice >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return dice / 4294967296;
  };
  const server: Server = createServer((request, response) => {
    received++;
    const phase = phaseAt((performance.now() - options.startedAt) / options.durationMs);
    const sku = request.url?.split('/').at(-1) ?? 'unknown';
    if (phase.hang) return; // never answers: the worst kind of outage
    const r = roll();
    if (r < phase.errorShare) {
      response.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('busy');
      return;
    }
    const send = (): void => {
      response
        .writeHead(200, {
          'content-type': 'application/json',
          'cache-control': 'max-age=1, stale-if-error=60',
        })
        .end(JSON.stringify({ sku, available: 3 + (sku.length % 5) }));
    };
    if (r < phase.errorShare + phase.slowShare) setTimeout(send, options.slowMs);
    else setTimeout(send, 2 + Math.floor(r * 8));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    get received() {
      return received;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
