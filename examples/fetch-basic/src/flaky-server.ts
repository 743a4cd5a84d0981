import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FlakyServer {
  readonly origin: string;
  /** Requests received per path. */
  readonly received: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

/**
 * A small upstream on 127.0.0.1 with three kinds of trouble:
 * - `/flaky`: 503 twice, then 200 (a deploy, a brief overload);
 * - `/slow`: the first request takes 1.5 s, later ones answer at once (a GC pause, a cold cache);
 * - `/down`: always 503 (an outage).
 */
export async function startFlakyServer(): Promise<FlakyServer> {
  const received = new Map<string, number>();
  const server = createServer((request, response) => {
    const path = request.url ?? '/';
    const n = (received.get(path) ?? 0) + 1;
    received.set(path, n);
    const answer = (status: number, body: string): void => {
      if (!response.destroyed) response.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    };
    if (path === '/flaky') answer(n <= 2 ? 503 : 200, n <= 2 ? 'busy' : 'in stock');
    else if (path === '/slow') setTimeout(() => answer(200, 'in stock'), n === 1 ? 1_500 : 0);
    else if (path === '/down') answer(503, 'down');
    else answer(404, 'no such route');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
