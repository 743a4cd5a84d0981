import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What the fault server does with one request. Every field is optional: `{}` is an empty `200 OK`.
 * The server always reads the whole request body first, so the request is recorded complete.
 */
export interface Fault {
  /** Response status code. @default 200 */
  status?: number;
  /** Extra response headers. */
  headers?: Readonly<Record<string, string | number | readonly string[]>>;
  /** Sets `Retry-After`: a number of seconds, a `Date` (sent as an HTTP-date) or a raw header value. */
  retryAfter?: number | Date | string;
  /** Latency added before the response starts, in milliseconds. @default 0 */
  delayMs?: number;
  /** Response body. Mutually exclusive with `bodyBytes`. @default empty */
  body?: string | Uint8Array;
  /** A response body of exactly this many bytes (`'x'` repeated). */
  bodyBytes?: number;
  /**
   * Sends the body in pieces of this many bytes, waiting `chunkDelayMs` between them (a slow body).
   * @default the whole body at once
   */
  chunkSize?: number;
  /** Pause between body pieces, in milliseconds. @default 0 */
  chunkDelayMs?: number;
  /** Sends the body with `Transfer-Encoding: chunked` instead of `Content-Length`. @default false */
  chunked?: boolean;
  /** Never responds; the request stays open until the client gives up or the server closes. */
  hang?: boolean;
  /**
   * Resets the connection (TCP RST): `'before-response'` right after reading the request,
   * `'mid-headers'` after part of the status line and headers, `'mid-body'` after the headers and the
   * first half of the body (the declared `Content-Length` is never reached).
   */
  reset?: 'before-response' | 'mid-headers' | 'mid-body';
}

/** A request the fault server received. */
export interface RecordedRequest {
  /** 1-based position among all requests this server received. */
  readonly index: number;
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  /** The request target as sent: path and query. */
  readonly url: string;
  /** Request headers, lower-cased names (Node's parsing). */
  readonly headers: IncomingHttpHeaders;
  /** The request body; complete unless `complete` is false. */
  readonly body: Buffer;
  /** Whether the whole request body arrived (false when the client went away first). */
  readonly complete: boolean;
  /** 1-based id of the TCP connection it came on: equal ids prove keep-alive reuse. */
  readonly connection: number;
  /** `performance.now()` when the request headers arrived. */
  readonly receivedAt: number;
}

/** Chooses the fault for a request: `n` is the 1-based count of requests on this route. */
export type FaultFunction = (request: RecordedRequest, n: number) => Fault | Promise<Fault>;

/**
 * A route's behaviour: one fault for every request, a sequence (request n gets entry n, the last entry
 * repeats), or a function.
 */
export type FaultScript = Fault | readonly Fault[] | FaultFunction;

/** The handle `route()` returns: what this route received. */
export interface FaultRoute {
  /** Requests this route received, oldest first. */
  readonly requests: readonly RecordedRequest[];
  /** How many requests this route received. */
  readonly count: number;
}

/** A running fault-injecting HTTP server. */
export interface FaultServer extends AsyncDisposable {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** `http://127.0.0.1:<port>/` */
  readonly url: string;
  readonly port: number;
  /** Every request received, oldest first. */
  readonly requests: readonly RecordedRequest[];
  /** How many TCP connections were accepted so far. */
  readonly connections: number;
  /** How many TCP connections are open now. */
  readonly openConnections: number;
  /**
   * Sets the behaviour of `'METHOD /path'` (or `'/path'` for any method), replacing an earlier script for
   * the same route and restarting its count. The path is matched without the query string. Requests to
   * unknown routes get a 404.
   */
  route(route: string, script: FaultScript): FaultRoute;
  /** Destroys every connection (hanging requests included) and stops listening. Idempotent. */
  close(): Promise<void>;
}

interface RouteState extends FaultRoute {
  readonly script: FaultScript;
  readonly requests: RecordedRequest[];
  count: number;
}

interface MutableRecord {
  index: number;
  method: string;
  path: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  complete: boolean;
  connection: number;
  receivedAt: number;
}

const connectionIds = new WeakMap<Socket, number>();

/**
 * Starts a real HTTP/1.1 server on 127.0.0.1 and a free port whose routes inject faults: statuses,
 * `Retry-After`, latency, hangs, connection resets, slow and large bodies. It records every request with the
 * connection it came on. Close it with `close()`, or hold it with `await using`.
 *
 * ```ts
 * await using server = await startFaultServer();
 * server.route('GET /items', [{ status: 503, retryAfter: 1 }, { status: 200, body: 'ok' }]);
 * await fetch(`${server.origin}/items`);
 * ```
 */
export async function startFaultServer(): Promise<FaultServer> {
  const routes = new Map<string, RouteState>();
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let accepted = 0;
  let closing: Promise<void> | undefined;

  const wait = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const server = createServer((req, res) => {
    const record: MutableRecord = {
      index: requests.length + 1,
      method: req.method ?? 'GET',
      path: (req.url ?? '/').split('?', 1)[0]!,
      url: req.url ?? '/',
      headers: req.headers,
      body: Buffer.alloc(0),
      complete: false,
      connection: connectionIds.get(req.socket) ?? 0,
      receivedAt: performance.now(),
    };
    requests.push(record);
    const route = routes.get(`${record.method} ${record.path}`) ?? routes.get(record.path);
    route?.requests.push(record);
    const n = route === undefined ? 0 : ++route.count;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => {});
    req.on('end', () => {
      record.body = Buffer.concat(chunks);
      record.complete = true;
      if (route === undefined) {
        res
          .writeHead(404, { 'content-type': 'text/plain' })
          .end(`no route for ${record.method} ${record.path}`);
        return;
      }
      void respond(route.script, record, n, req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`fault server: ${String(error)}`);
      });
    });
  });

  async function respond(
    script: FaultScript,
    request: RecordedRequest,
    n: number,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const fault =
      typeof script === 'function'
        ? await script(request, n)
        : Array.isArray(script)
          ? ((script as readonly Fault[])[Math.min(n, script.length) - 1] ?? {})
          : (script as Fault);
    const socket = req.socket;
    if (fault.delayMs !== undefined && fault.delayMs > 0) await wait(fault.delayMs);
    if (socket.destroyed || fault.hang) return;
    if (fault.reset === 'before-response') {
      socket.resetAndDestroy();
      return;
    }
    if (fault.reset === 'mid-headers') {
      socket.write(`HTTP/1.1 ${fault.status ?? 200} Partial\r\ncontent-type: text/pl`, () =>
        socket.resetAndDestroy(),
      );
      return;
    }
    const body = bodyOf(fault);
    const headers: Record<string, string | number | readonly string[]> = { ...fault.headers };
    if (fault.retryAfter !== undefined) {
      headers['retry-after'] =
        fault.retryAfter instanceof Date ? fault.retryAfter.toUTCString() : String(fault.retryAfter);
    }
    if (!fault.chunked) headers['content-length'] = body.byteLength;
    res.writeHead(fault.status ?? 200, headers as Record<string, string | number | string[]>);
    if (fault.reset === 'mid-body') {
      res.write(body.subarray(0, Math.floor(body.byteLength / 2)), () => socket.resetAndDestroy());
      return;
    }
    const size = fault.chunkSize ?? body.byteLength;
    if (size <= 0 || body.byteLength <= size) {
      res.end(body);
      return;
    }
    for (let offset = 0; offset < body.byteLength; offset += size) {
      if (offset > 0 && fault.chunkDelayMs) await wait(fault.chunkDelayMs);
      if (socket.destroyed) return;
      res.write(body.subarray(offset, offset + size));
    }
    res.end();
  }

  server.on('connection', (socket: Socket) => {
    connectionIds.set(socket, ++accepted);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  // Long enough that a client waiting out a backoff still finds its connection open.
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      let open = sockets.size + 1;
      const closed = (): void => {
        if (--open === 0) resolve();
      };
      server.close(closed);
      for (const socket of sockets) {
        socket.once('close', closed);
        socket.destroy();
      }
    });
    return closing;
  };

  return {
    origin,
    url: `${origin}/`,
    port,
    requests,
    get connections() {
      return accepted;
    },
    get openConnections() {
      return sockets.size;
    },
    route(route, script) {
      if (typeof route !== 'string' || !/^(?:[A-Z]+ )?\/\S*$/.test(route)) {
        throw new TypeError(
          `startFaultServer: route must look like 'GET /path' or '/path', received ${String(route)}`,
        );
      }
      const state: RouteState = { script, requests: [], count: 0 };
      routes.set(route, state);
      return state;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function bodyOf(fault: Fault): Buffer {
  if (fault.bodyBytes !== undefined) return Buffer.alloc(fault.bodyBytes, 'x');
  if (fault.body === undefined) return Buffer.alloc(0);
  return typeof fault.body === 'string' ? Buffer.from(fault.body) : Buffer.from(fault.body);
}
