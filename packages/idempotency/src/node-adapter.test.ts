import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { virtualClock } from '@breakwater/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type IdempotencyOutcomeEvent, idempotency } from './idempotency.js';
import type { IdempotencyOptions } from './idempotency-options.js';
import { memoryStore } from './memory-store.js';
import { type NodeIdempotentHandler, nodeIdempotency } from './node-adapter.js';
import { idempotencyOf } from './request-context.js';
import type { IdempotencyStore } from './store.js';

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function serve(listener: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address() as { port: number };
  servers.push({
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  });
  return `http://127.0.0.1:${address.port}`;
}

function setup(
  handler: NodeIdempotentHandler,
  options: Partial<IdempotencyOptions<IncomingMessage>> = {},
  route?: Parameters<typeof nodeIdempotency>[2],
) {
  const clock = virtualClock();
  const store = memoryStore({ clock });
  const idem = idempotency<IncomingMessage>({
    store,
    scope: (req) => String(req.headers['x-user'] ?? 'anonymous'),
    clock,
    ...options,
  });
  const outcomes: IdempotencyOutcomeEvent['outcome'][] = [];
  idem.onOutcome((e) => outcomes.push(e.outcome));
  return { idem, clock, store, outcomes, url: serve(nodeIdempotency(idem, handler, route)) };
}

const post = (
  url: string,
  key: string | undefined,
  body = '{"amount":10}',
  user = 'alice',
  extra: Record<string, string> = {},
) =>
  fetch(`${url}/payments?currency=eur`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-user': user,
      ...(key === undefined ? {} : { 'idempotency-key': key }),
      ...extra,
    },
    body,
  });

const codeOf = async (res: Response): Promise<string> => ((await res.json()) as { code: string }).code;

/** Sends a raw HTTP/1.1 request and returns the status line and body. */
async function rawRequest(
  url: string,
  headerLines: string[],
  body = '',
): Promise<{ status: number; text: string }> {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    [
      `POST /payments HTTP/1.1`,
      'host: x',
      'connection: close',
      `content-length: ${Buffer.byteLength(body)}`,
      ...headerLines,
      '',
      body,
    ].join('\r\n'),
  );
  let data = '';
  for await (const chunk of socket) data += chunk.toString('latin1');
  const status = Number(data.slice(9, 12));
  return { status, text: data.slice(data.indexOf('\r\n\r\n') + 4) };
}

/** A handler that counts executions and lets the test decide when each one answers. */
function controlled(
  respond: (res: ServerResponse, body: Buffer | undefined, run: number) => void = defaultRespond,
) {
  let runs = 0;
  const waiting: (() => void)[] = [];
  let autoRelease = true;
  const handler: NodeIdempotentHandler = async (req, res, { body }) => {
    const run = ++runs;
    if (!autoRelease) await new Promise<void>((resolve) => waiting.push(resolve));
    respond(res, body, run);
    void req;
  };
  return {
    handler,
    get runs() {
      return runs;
    },
    hold() {
      autoRelease = false;
    },
    async releaseAll() {
      while (waiting.length === 0) await new Promise((r) => setTimeout(r, 1));
      for (const w of waiting.splice(0)) w();
    },
    async started(n: number) {
      while (waiting.length < n) await new Promise((r) => setTimeout(r, 1));
    },
  };
}

function defaultRespond(res: ServerResponse, body: Buffer | undefined, run: number): void {
  res.statusCode = 201;
  res.setHeader('content-type', 'application/json');
  res.setHeader('location', `/payments/${run}`);
  res.setHeader('set-cookie', 'session=secret');
  res.setHeader('x-internal', 'not-replayed');
  res.end(JSON.stringify({ run, echo: body?.toString('utf8') ?? null }));
}

describe('nodeIdempotency', () => {
  it('runs the handler once and replays its response (allow-listed headers only) with Idempotent-Replayed: true', async () => {
    const h = controlled();
    const { url: u, outcomes } = setup(h.handler);
    const url = await u;
    const first = await post(url, '"k-1"');
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const firstBody = await first.text();
    expect(JSON.parse(firstBody)).toEqual({ run: 1, echo: '{"amount":10}' });

    const replay = await post(url, '"k-1"');
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.headers.get('location')).toBe('/payments/1');
    expect(replay.headers.get('content-type')).toBe('application/json');
    expect(replay.headers.get('set-cookie')).toBeNull();
    expect(replay.headers.get('x-internal')).toBeNull();
    expect(await replay.text()).toBe(firstBody);
    expect(h.runs).toBe(1);
    expect(outcomes).toEqual(['claimed', 'replayed']);
  });

  it('treats the quoted and the bare form of a key as the same key', async () => {
    const h = controlled();
    const url = await setup(h.handler).url;
    await (await post(url, '"KG5LxwFBepaKHyUD"')).text();
    const replay = await post(url, 'KG5LxwFBepaKHyUD');
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(h.runs).toBe(1);
  });

  it('answers 422 problem+json when the key is reused with another payload, query or content type', async () => {
    const h = controlled();
    const url = await setup(h.handler).url;
    await (await post(url, '"k-2"')).text();
    const reused = await post(url, '"k-2"', '{"amount":11}');
    expect(reused.status).toBe(422);
    expect(reused.headers.get('content-type')).toBe('application/problem+json');
    expect(await reused.json()).toEqual({
      type: 'https://github.com/breakwater-js/breakwater/tree/main/packages/idempotency#idempotency-key-reused',
      title: 'Idempotency-Key is already used',
      status: 422,
      detail:
        'This Idempotency-Key was used with a different request payload; use a new key for a new request.',
      code: 'idempotency-key-reused',
    });
    const otherType = await post(url, '"k-2"', '{"amount":10}', 'alice', { 'content-type': 'text/plain' });
    expect(otherType.status).toBe(422);
    expect(h.runs).toBe(1);
  });

  it('answers 409 with Retry-After while the first request runs, then replays', async () => {
    const h = controlled();
    h.hold();
    const { url: u, outcomes } = setup(h.handler);
    const url = await u;
    const first = post(url, '"k-3"');
    await h.started(1);
    const duplicate = await post(url, '"k-3"');
    expect(duplicate.status).toBe(409);
    expect(duplicate.headers.get('retry-after')).toBe('1');
    expect(await codeOf(duplicate)).toBe('idempotency-request-in-progress');
    await h.releaseAll();
    expect((await first).status).toBe(201);
    expect((await post(url, '"k-3"')).headers.get('idempotent-replayed')).toBe('true');
    expect(h.runs).toBe(1);
    expect(outcomes).toEqual(['claimed', 'conflict', 'replayed']);
  });

  it('runs exactly once for 50 concurrent requests with one key; the others get 409 or the replay', async () => {
    const h = controlled();
    const url = await setup(h.handler).url;
    const responses = await Promise.all(Array.from({ length: 50 }, () => post(url, '"burst"')));
    const statuses = responses.map((r) => r.status);
    expect(h.runs).toBe(1);
    expect(statuses.filter((s) => s === 201)).toHaveLength(
      1 + responses.filter((r) => r.headers.get('idempotent-replayed') === 'true').length,
    );
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
  });

  it('keeps principals apart: the same key from another principal runs again and never sees the first response', async () => {
    const h = controlled();
    const url = await setup(h.handler).url;
    const alice = await (await post(url, '"shared"', '{"amount":10}', 'alice')).json();
    const bob = await post(url, '"shared"', '{"amount":10}', 'bob');
    expect(bob.headers.get('idempotent-replayed')).toBeNull();
    expect(await bob.json()).toEqual({ run: 2, echo: '{"amount":10}' });
    expect(alice).toEqual({ run: 1, echo: '{"amount":10}' });
    expect(h.runs).toBe(2);
  });

  it('passes requests without a key through, unread, unless the route requires one (400)', async () => {
    let body: Buffer | undefined | 'unset' = 'unset';
    const handler: NodeIdempotentHandler = (_req, res, context) => {
      body = context.body;
      res.end('ok');
    };
    const optional = await setup(handler).url;
    expect((await post(optional, undefined)).status).toBe(200);
    expect(body).toBeUndefined();

    const required = await setup(handler, {}, { required: true }).url;
    const missing = await post(required, undefined);
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({
      code: 'idempotency-key-missing',
      title: 'Idempotency-Key is missing',
    });
  });

  it('leaves other methods alone even when they carry a key', async () => {
    const h = controlled();
    const url = await setup(h.handler).url;
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${url}/x`, {
        method: 'PUT',
        headers: { 'idempotency-key': '"k"', 'x-user': 'a' },
        body: 'b',
      });
      expect(res.headers.get('idempotent-replayed')).toBeNull();
      await res.text();
    }
    expect(h.runs).toBe(2);
  });

  it('answers 400 with a clear message for malformed keys, and never echoes them', async () => {
    const h = controlled();
    const url = await setup(h.handler).url;
    const cases: [string[], RegExp][] = [
      [[`idempotency-key: "${'k'.repeat(256)}"`], /at most 255 characters/],
      [[`idempotency-key: ${'k'.repeat(10 * 1024)}`], /at most 255 characters/],
      [['idempotency-key: "caf\u00e9-key"'], /printable ASCII/],
      [['idempotency-key: "unterminated'], /no closing quote/],
      [['idempotency-key: "a"junk'], /Structured Field string/],
      [['idempotency-key: "one"', 'Idempotency-Key: "two"'], /exactly one Idempotency-Key/],
      [['idempotency-key: "sess:abc", "x"'], /exactly one Idempotency-Key/],
    ];
    for (const [lines, message] of cases) {
      const res = await rawRequest(url, ['x-user: alice', ...lines], '{}');
      expect([lines[0]!.slice(0, 40), res.status]).toEqual([lines[0]!.slice(0, 40), 400]);
      const problem = JSON.parse(res.text);
      expect(problem.code).toBe('idempotency-key-invalid');
      expect(problem.detail).toMatch(message);
      expect(problem.detail).not.toContain('kkkk');
      expect(problem.detail).not.toContain('caf');
    }
    // Node's own parser already refuses control characters in field values (400 without reaching us).
    expect((await rawRequest(url, ['x-user: alice', 'idempotency-key: "bad\u0001key"'], '{}')).status).toBe(
      400,
    );
    expect(h.runs).toBe(0);
  });

  it('hashes scoped keys before they reach the store: "sess:abc" names nothing of its own', async () => {
    const keys: string[] = [];
    const inner = memoryStore();
    const spy: IdempotencyStore = {
      claim: (k, r) => {
        keys.push(k);
        return inner.claim(k, r);
      },
      renew: (k, o, l) => inner.renew(k, o, l),
      complete: (k, o, r, t) => {
        keys.push(k);
        return inner.complete(k, o, r, t);
      },
      release: (k, o) => inner.release(k, o),
    };
    const h = controlled();
    const url = await setup(h.handler, { store: spy }).url;
    await (await post(url, '"sess:abc"')).text();
    inner.close();
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(k).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('releases the key after a 5xx or a thrown error (default onFailure), so a retry runs again', async () => {
    let mode: 'fail' | 'throw' | 'ok' = 'fail';
    const h = controlled((res, _body, run) => {
      if (mode === 'throw') throw new Error('boom');
      res.statusCode = mode === 'fail' ? 503 : 201;
      res.end(`run ${run}`);
    });
    const url = await setup(h.handler).url;
    expect((await post(url, '"k-5"')).status).toBe(503);
    mode = 'throw';
    expect((await post(url, '"k-5"')).status).toBe(500);
    mode = 'ok';
    const ok = await post(url, '"k-5"');
    expect([ok.status, await ok.text()]).toEqual([201, 'run 3']);
    expect(h.runs).toBe(3);
  });

  it('releases the key for transient 4xx (408, 409, 425, 429) and stores other 4xx', async () => {
    let status = 429;
    const h = controlled((res) => {
      res.statusCode = status;
      res.end();
    });
    const url = await setup(h.handler).url;
    for (const s of [408, 409, 425, 429]) {
      status = s;
      expect((await post(url, '"k-6"')).status).toBe(s);
    }
    status = 404;
    expect((await post(url, '"k-6"')).status).toBe(404);
    const replay = await post(url, '"k-6"');
    expect([replay.status, replay.headers.get('idempotent-replayed')]).toEqual([404, 'true']);
    expect(h.runs).toBe(5);
  });

  it('replays a stored 5xx with onFailure "store" and answers 409 with onFailure "keep-locked"', async () => {
    const failing = controlled((res) => {
      res.statusCode = 500;
      res.end('broken');
    });
    const stored = await setup(failing.handler, { onFailure: 'store' }).url;
    await (await post(stored, '"k-7"')).text();
    const replay = await post(stored, '"k-7"');
    expect([replay.status, replay.headers.get('idempotent-replayed'), await replay.text()]).toEqual([
      500,
      'true',
      'broken',
    ]);
    expect(failing.runs).toBe(1);

    const locked = controlled((res) => {
      res.statusCode = 500;
      res.end();
    });
    const { url: lockedUrl, clock } = setup(locked.handler, {
      onFailure: 'keep-locked',
      lockTtlMs: 1000,
      retentionMs: 10_000,
    });
    const url = await lockedUrl;
    await (await post(url, '"k-7"')).text();
    await clock.advance(5000);
    expect((await post(url, '"k-7"')).status).toBe(409);
    expect(locked.runs).toBe(1);
  });

  it('answers 413 for a body over maxFingerprintBodyBytes, without running the handler', async () => {
    const h = controlled();
    const url = await setup(h.handler, { maxFingerprintBodyBytes: 16 }).url;
    const res = await post(url, '"k-8"', 'x'.repeat(17));
    expect(res.status).toBe(413);
    expect(await codeOf(res)).toBe('idempotency-request-too-large');
    expect((await post(url, '"k-9"', 'x'.repeat(16))).status).toBe(201);
    expect(h.runs).toBe(1);
  });

  it('completes a response over maxStoredResponseBytes without its body: the retry gets 409, never a second run', async () => {
    const h = controlled((res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 4; i++) res.write('x'.repeat(100));
      res.end();
    });
    const url = await setup(h.handler, { maxStoredResponseBytes: 300 }).url;
    expect((await (await post(url, '"k-10"')).text()).length).toBe(400);
    const again = await post(url, '"k-10"');
    expect(again.status).toBe(409);
    expect(await codeOf(again)).toBe('idempotency-response-not-replayable');
    expect(h.runs).toBe(1);
  });

  it('captures streamed responses and headers given to writeHead', async () => {
    const h = controlled((res) => {
      res.writeHead(202, 'Accepted', [
        ['content-type', 'text/plain'],
        ['etag', '"v1"'],
      ]);
      res.write('part 1, ');
      res.write(Buffer.from('part 2'));
      res.end();
    });
    const url = await setup(h.handler).url;
    expect(await (await post(url, '"k-11"')).text()).toBe('part 1, part 2');
    const replay = await post(url, '"k-11"');
    expect([replay.status, replay.headers.get('etag'), await replay.text()]).toEqual([
      202,
      '"v1"',
      'part 1, part 2',
    ]);
  });

  it('renews the lease while a long handler runs, so nobody takes it over', async () => {
    const h = controlled();
    h.hold();
    const { url: u, clock, outcomes } = setup(h.handler, { lockTtlMs: 300, retentionMs: 60_000 });
    const url = await u;
    const first = post(url, '"long"');
    await h.started(1);
    for (let i = 0; i < 10; i++) await clock.advance(100);
    expect((await post(url, '"long"')).status).toBe(409);
    await h.releaseAll();
    expect((await first).status).toBe(201);
    expect(h.runs).toBe(1);
    expect(outcomes).toEqual(['claimed', 'conflict']);
    await clock.advance(100); // the shared heartbeat timer fires once more, finds nothing due and is not re-armed
    expect(clock.pending).toBe(1); // only the store's sweep timer
  });

  it('lets a retry take over a lease that expired (renewal off), flags it recovered, and drops the late completion', async () => {
    const recovered: boolean[] = [];
    const h = controlled((res, _body, run) => {
      res.statusCode = 201;
      res.end(`run ${run}`);
    });
    const handler: NodeIdempotentHandler = async (req, res, context) => {
      const info = idempotencyOf(req)!;
      recovered.push(info.recovered);
      expect(info.attempt).toBe(recovered.length);
      expect(info.keyHash).toMatch(/^[0-9a-f]{12}$/);
      await h.handler(req, res, context);
    };
    h.hold();
    const {
      url: u,
      clock,
      idem,
    } = setup(handler, { lockTtlMs: 300, retentionMs: 60_000, renewLease: false });
    const late: string[] = [];
    idem.onLateCompletion((e) => late.push(e.operation));
    const url = await u;
    const slow = post(url, '"orphan"');
    await h.started(1);
    await clock.advance(301);
    const takeover = post(url, '"orphan"');
    await h.started(2);
    await h.releaseAll();
    const [a, b] = await Promise.all([slow, takeover]);
    expect([a.status, await a.text(), b.status, await b.text()]).toEqual([201, 'run 1', 201, 'run 2']);
    expect(recovered).toEqual([false, true]);
    expect(late).toEqual(['complete']);
    expect(await (await post(url, '"orphan"')).text()).toBe('run 2');
  });

  it('frees the key of a request whose client vanished mid-handler once the lease expires, not before', async () => {
    let runs = 0;
    let closed = false;
    const handler: NodeIdempotentHandler = (req, res) => {
      runs++;
      if (runs === 1) {
        res.once('close', () => {
          closed = true;
        });
        return; // never answers: the process "hangs" on this request
      }
      res.statusCode = 201;
      res.end(`recovered=${idempotencyOf(req)!.recovered}`);
    };
    const { url: u, clock } = setup(handler, { lockTtlMs: 300, retentionMs: 60_000 });
    const url = await u;
    const controller = new AbortController();
    const gone = fetch(`${url}/payments`, {
      method: 'POST',
      headers: { 'idempotency-key': '"crash"', 'x-user': 'alice' },
      body: '{}',
      signal: controller.signal,
    }).catch((error: Error) => error.name);
    while (runs === 0) await new Promise((r) => setTimeout(r, 1));
    controller.abort();
    expect(await gone).toBe('AbortError');
    while (!closed) await new Promise((r) => setTimeout(r, 1));
    await clock.advance(250);
    const early = await fetch(`${url}/payments`, {
      method: 'POST',
      headers: { 'idempotency-key': '"crash"', 'x-user': 'alice' },
      body: '{}',
    });
    expect(early.status).toBe(409);
    await clock.advance(100);
    const retry = await fetch(`${url}/payments`, {
      method: 'POST',
      headers: { 'idempotency-key': '"crash"', 'x-user': 'alice' },
      body: '{}',
    });
    expect([retry.status, await retry.text()]).toEqual([201, 'recovered=true']);
    expect(runs).toBe(2);
  });
});
