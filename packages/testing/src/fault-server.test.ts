import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { type FaultServer, startFaultServer } from './fault-server.js';

/** A GET over a fresh connection with node:http, resolving with what arrived or the error. */
function get(
  server: FaultServer,
  path: string,
  options: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<
  { status: number; headers: Record<string, unknown>; body: string; error?: undefined } | { error: Error }
> {
  return new Promise((resolve) => {
    const req = httpRequest(
      `${server.origin}${path}`,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => resolve({ error }));
        res.on('aborted', () => resolve({ error: new Error('aborted') }));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', (error) => resolve({ error }));
    req.end(options.body);
  });
}

describe('startFaultServer', () => {
  it('listens on 127.0.0.1 and a free port, and closes with await using', async () => {
    let seen: FaultServer;
    {
      await using server = await startFaultServer();
      seen = server;
      expect(server.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(server.url).toBe(`${server.origin}/`);
      expect(server.port).toBeGreaterThan(0);
      server.route('/', { body: 'hello' });
      const response = await fetch(server.url);
      expect(await response.text()).toBe('hello');
    }
    await expect(fetch(seen.url)).rejects.toThrow(TypeError);
  });

  it('plays a sequence per route, repeating the last entry, and records each request', async () => {
    await using server = await startFaultServer();
    const items = server.route('GET /items', [
      { status: 503, retryAfter: 2 },
      { status: 200, body: 'ok' },
    ]);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await fetch(`${server.origin}/items?page=${i}`);
      statuses.push(response.status);
      if (i === 0) expect(response.headers.get('retry-after')).toBe('2');
      await response.arrayBuffer();
    }
    expect(statuses).toEqual([503, 200, 200, 200]);
    expect(items.count).toBe(4);
    expect(items.requests.map((r) => r.url)).toEqual([
      '/items?page=0',
      '/items?page=1',
      '/items?page=2',
      '/items?page=3',
    ]);
    expect(items.requests.every((r) => r.path === '/items' && r.method === 'GET')).toBe(true);
  });

  it('routes by method, falls back to a path-only route, and answers 404 elsewhere', async () => {
    await using server = await startFaultServer();
    server.route('POST /a', { status: 201 });
    server.route('/a', { status: 202 });
    expect((await fetch(`${server.origin}/a`, { method: 'POST' })).status).toBe(201);
    expect((await fetch(`${server.origin}/a`, { method: 'PUT' })).status).toBe(202);
    const missing = await fetch(`${server.origin}/b`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('no route for GET /b');
    expect(server.requests.map((r) => r.index)).toEqual([1, 2, 3]);
    expect(() => server.route('items', {})).toThrow(/route must look like/);
  });

  it('records method, headers and the full body, and passes them to a fault function', async () => {
    await using server = await startFaultServer();
    const calls: number[] = [];
    server.route('POST /echo', (request, n) => {
      calls.push(n);
      return { status: 200, body: `${n}:${request.headers['idempotency-key']}:${request.body.toString()}` };
    });
    const first = await fetch(`${server.origin}/echo`, {
      method: 'POST',
      headers: { 'idempotency-key': '"k1"' },
      body: 'payload',
    });
    expect(await first.text()).toBe('1:"k1":payload');
    const second = await fetch(`${server.origin}/echo`, { method: 'POST', body: 'again' });
    expect(await second.text()).toBe('2:undefined:again');
    expect(calls).toEqual([1, 2]);
    expect(server.requests[0]!.complete).toBe(true);
    expect(server.requests[0]!.body.toString()).toBe('payload');
  });

  it('sends Retry-After as an HTTP-date and extra headers', async () => {
    await using server = await startFaultServer();
    const date = new Date(Date.UTC(2030, 0, 2, 3, 4, 5));
    server.route('/', {
      status: 429,
      retryAfter: date,
      headers: { 'x-test': 'yes', 'set-cookie': ['a=1', 'b=2'] },
    });
    const result = await get(server, '/');
    expect(result).toMatchObject({
      status: 429,
      headers: {
        'retry-after': 'Wed, 02 Jan 2030 03:04:05 GMT',
        'x-test': 'yes',
        'set-cookie': ['a=1', 'b=2'],
      },
    });
  });

  it('adds latency before responding', async () => {
    await using server = await startFaultServer();
    server.route('/', { delayMs: 120, body: 'late' });
    const started = performance.now();
    const result = await get(server, '/');
    expect(result).toMatchObject({ status: 200, body: 'late' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(115);
  });

  it('sends a body of N bytes, at once or slowly in chunks, with Content-Length or chunked', async () => {
    await using server = await startFaultServer();
    server.route('/big', { bodyBytes: 100_000 });
    server.route('/slow', { body: 'abcdef', chunkSize: 2, chunkDelayMs: 40, chunked: true });
    const big = await get(server, '/big');
    expect(big).toMatchObject({ status: 200, headers: { 'content-length': '100000' } });
    expect('body' in big && big.body).toBe('x'.repeat(100_000));
    const started = performance.now();
    const slow = await get(server, '/slow');
    expect(slow).toMatchObject({ status: 200, body: 'abcdef', headers: { 'transfer-encoding': 'chunked' } });
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
  });

  it('resets the connection before the response, mid-headers and mid-body', async () => {
    await using server = await startFaultServer();
    server.route('/before', { reset: 'before-response' });
    server.route('/headers', { reset: 'mid-headers' });
    server.route('/body', { bodyBytes: 10_000, reset: 'mid-body' });
    const before = await get(server, '/before');
    expect('error' in before && before.error).toMatchObject({ code: 'ECONNRESET' });
    const headers = await get(server, '/headers');
    expect('error' in headers && headers.error).toBeInstanceOf(Error);
    const body = await get(server, '/body');
    // the headers arrived, then the body broke off before its Content-Length
    expect('error' in body).toBe(true);
    expect(server.requests.map((r) => r.path)).toEqual(['/before', '/headers', '/body']);
  });

  it('hangs until the client gives up, and close() destroys hanging connections', async () => {
    const server = await startFaultServer();
    server.route('/hang', { hang: true });
    const pending = get(server, '/hang');
    await expect.poll(() => server.requests.length).toBe(1);
    expect(server.openConnections).toBe(1);
    await server.close();
    const result = await pending;
    expect('error' in result).toBe(true);
    expect(server.openConnections).toBe(0);
    await server.close(); // idempotent
  });

  it('counts connections and tells them apart, so that tests can prove keep-alive reuse', async () => {
    await using server = await startFaultServer();
    server.route('/', {});
    await get(server, '/');
    await get(server, '/');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) =>
        httpRequest(`${server.origin}/`, { agent }, (res) => res.resume().on('end', resolve)).end(),
      );
    }
    agent.destroy();
    expect(server.connections).toBe(3);
    expect(server.requests.map((r) => r.connection)).toEqual([1, 2, 3, 3, 3]);
  });

  it('records a request whose client went away mid-body as incomplete', async () => {
    await using server = await startFaultServer();
    server.route('/', {});
    const socket = connect(server.port, '127.0.0.1');
    socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc');
    await expect.poll(() => server.requests.length).toBe(1);
    socket.destroy();
    await expect.poll(() => server.openConnections).toBe(0);
    expect(server.requests[0]!.complete).toBe(false);
  });

  it('answers 500 when a fault function throws', async () => {
    await using server = await startFaultServer();
    server.route('/', () => {
      throw new Error('boom');
    });
    expect(await get(server, '/')).toMatchObject({ status: 500, body: 'fault server: Error: boom' });
  });
});
