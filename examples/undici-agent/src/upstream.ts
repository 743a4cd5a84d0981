import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A request the upstream received. */
export interface Received {
  readonly method: string;
  readonly path: string;
  readonly idempotencyKey: string | undefined;
  readonly body: string;
  /** 1-based id of the TCP connection it came on. */
  readonly connection: number;
}

export interface Upstream {
  readonly origin: string;
  readonly received: readonly Received[];
  close(): Promise<void>;
}

/**
 * An API on 127.0.0.1 having a bad moment. Each route fails its first request and then works:
 * - `GET /items`: 503;
 * - `GET /quota`: 429 with `Retry-After: 1` (one second);
 * - `POST /orders`: 503, for every new request body (the client does not know whether the order was taken).
 */
export async function startUpstream(): Promise<Upstream> {
  const received: Received[] = [];
  const seen = new Map<string, number>();
  const connections = new WeakMap<Socket, number>();
  let accepted = 0;
  const server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('end', () => {
      const path = request.url ?? '/';
      const method = request.method ?? 'GET';
      const key = request.headers['idempotency-key'];
      received.push({
        method,
        path,
        idempotencyKey: typeof key === 'string' ? key : undefined,
        body,
        connection: connections.get(request.socket) ?? 0,
      });
      const route = `${method} ${path} ${body}`;
      const n = (seen.get(route) ?? 0) + 1;
      seen.set(route, n);
      const json = { 'content-type': 'application/json' };
      if (method === 'GET' && path === '/items') {
        if (n === 1) response.writeHead(503, json).end('{"error":"overloaded"}');
        else response.writeHead(200, json).end('{"items":["anchor","buoy"]}');
      } else if (method === 'GET' && path === '/quota') {
        if (n === 1) response.writeHead(429, { ...json, 'retry-after': '1' }).end('{"error":"slow down"}');
        else response.writeHead(200, json).end('{"remaining":99}');
      } else if (method === 'POST' && path === '/orders') {
        if (n === 1) response.writeHead(503, json).end('{"error":"try again"}');
        else response.writeHead(201, json).end('{"order":"o-1"}');
      } else {
        response.writeHead(404, json).end('{"error":"no such route"}');
      }
    });
  });
  server.on('connection', (socket: Socket) => connections.set(socket, ++accepted));
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
