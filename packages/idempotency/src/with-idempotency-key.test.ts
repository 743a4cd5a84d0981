import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { resilientFetch } from '@breakwater/http';
import { afterEach, describe, expect, it } from 'vitest';
import { IdempotencyConflictError, IdempotencyKeyInvalidError, IdempotencyKeyReusedError } from './errors.js';
import { idempotency } from './idempotency.js';
import { memoryStore } from './memory-store.js';
import { nodeIdempotency } from './node-adapter.js';
import { idempotencyInfo, withIdempotencyKey } from './with-idempotency-key.js';

interface Seen {
  method: string;
  key: string | undefined;
  body: string;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** A server answering the scripted statuses in turn (the last one repeats), recording every request. */
async function scripted(statuses: number[], extra: (res: ServerResponse, status: number) => void = () => {}) {
  const seen: Seen[] = [];
  const url = await listen(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    seen.push({ method: req.method!, key: req.headers['idempotency-key'] as string | undefined, body });
    const status = statuses[Math.min(seen.length - 1, statuses.length - 1)]!;
    res.statusCode = status;
    extra(res, status);
    if (!res.writableEnded) res.end(`attempt ${seen.length}`);
  });
  return { url, seen };
}

const quickRetry = (origins: readonly string[] | false) =>
  resilientFetch({
    honorsIdempotencyKeys: origins === false ? false : origins,
    retry: { maxAttempts: 3 },
    random: () => 0,
    circuitBreaker: false,
  });

describe('withIdempotencyKey', () => {
  it('sends one generated key, identical on every retry, with a byte-identical body', async () => {
    const { url, seen } = await scripted([503, 502, 201]);
    const fetch = withIdempotencyKey(quickRetry([url]));
    const res = await fetch(`${url}/payments`, { method: 'POST', body: '{"amount":10}' });
    expect([res.status, await res.text()]).toEqual([201, 'attempt 3']);
    expect(seen).toHaveLength(3);
    const key = seen[0]!.key!;
    expect(key).toMatch(/^"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"$/);
    expect(seen.map((s) => s.key)).toEqual([key, key, key]);
    expect(seen.map((s) => s.body)).toEqual(['{"amount":10}', '{"amount":10}', '{"amount":10}']);
    expect(idempotencyInfo(res)).toEqual({ key: key.slice(1, -1), supplied: false, replayed: false });
  });

  it('generates a new key for each call', async () => {
    const { url, seen } = await scripted([201]);
    const fetch = withIdempotencyKey(globalThis.fetch);
    await (await fetch(url, { method: 'POST', body: 'a' })).text();
    await (await fetch(url, { method: 'PATCH', body: 'a' })).text();
    expect(seen[0]!.key).not.toBe(seen[1]!.key);
  });

  it('never makes a POST retryable by itself: without honorsIdempotencyKeys it is sent once', async () => {
    const { url, seen } = await scripted([503, 201]);
    const fetch = withIdempotencyKey(quickRetry(false));
    const res = await fetch(url, { method: 'POST', body: 'x' });
    expect(res.status).toBe(503);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.key).toBeDefined();
  });

  it('keys only the configured methods and leaves GET, PUT and DELETE alone', async () => {
    const { url, seen } = await scripted([200]);
    const fetch = withIdempotencyKey(globalThis.fetch);
    for (const method of ['GET', 'PUT', 'DELETE']) await (await fetch(url, { method })).text();
    expect(seen.map((s) => s.key)).toEqual([undefined, undefined, undefined]);
    const onlyPut = withIdempotencyKey(globalThis.fetch, { methods: ['PUT'] });
    await (await onlyPut(url, { method: 'PUT' })).text();
    await (await onlyPut(url, { method: 'POST' })).text();
    expect(seen.slice(3).map((s) => s.key === undefined)).toEqual([false, true]);
  });

  it('keeps the caller key (quoted or bare) and reports it as supplied', async () => {
    const { url, seen } = await scripted([201]);
    const fetch = withIdempotencyKey(globalThis.fetch);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Idempotency-Key': 'order-42-charge' },
      body: 'x',
    });
    await res.text();
    expect(seen[0]!.key).toBe('order-42-charge');
    expect(idempotencyInfo(res)).toEqual({ key: 'order-42-charge', supplied: true, replayed: false });
    const fromRequest = await fetch(
      new Request(url, { method: 'POST', headers: { 'idempotency-key': '"r-1"' }, body: 'x' }),
    );
    await fromRequest.text();
    expect(seen[1]!.key).toBe('"r-1"');
  });

  it('rejects a malformed caller key with a TypeError before sending anything', async () => {
    const { url, seen } = await scripted([201]);
    const fetch = withIdempotencyKey(globalThis.fetch);
    await expect(
      fetch(url, { method: 'POST', headers: { 'idempotency-key': `"${'k'.repeat(300)}"` } }),
    ).rejects.toThrow(
      new TypeError(
        'withIdempotencyKey: invalid Idempotency-Key header: the key must be at most 255 characters',
      ),
    );
    await expect(
      fetch(url, {
        method: 'POST',
        headers: [
          ['idempotency-key', '"a"'],
          ['idempotency-key', '"b"'],
        ],
      }),
    ).rejects.toThrow(/send exactly one Idempotency-Key field/);
    expect(seen).toHaveLength(0);
  });

  it('writes generated keys bare with keyEncoding "raw", and rejects a generator that could inject headers', async () => {
    const { url, seen } = await scripted([201]);
    await (
      await withIdempotencyKey(globalThis.fetch, { keyEncoding: 'raw', generate: () => 'abc123' })(url, {
        method: 'POST',
      })
    ).text();
    expect(seen[0]!.key).toBe('abc123');
    const evil = withIdempotencyKey(globalThis.fetch, { generate: () => 'x\r\nX-Admin: 1' });
    await expect(evil(url, { method: 'POST' })).rejects.toThrow(TypeError);
    expect(seen).toHaveLength(1);
  });

  it('throws IdempotencyKeyReusedError on 422, with the key and the unread response, and never retries it', async () => {
    const { url, seen } = await scripted([422]);
    const fetch = withIdempotencyKey(quickRetry([url]));
    const error = await fetch(url, {
      method: 'POST',
      headers: { 'idempotency-key': '"used"' },
      body: 'x',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IdempotencyKeyReusedError);
    const reused = error as IdempotencyKeyReusedError;
    expect(reused.code).toBe('ERR_BREAKWATER_IDEMPOTENCY_KEY_REUSED');
    expect(reused.idempotencyKey).toBe('used');
    expect(await reused.response!.text()).toBe('attempt 1');
    expect(seen).toHaveLength(1);
  });

  it('throws IdempotencyKeyInvalidError for a 400 problem about the key, and returns other 400s', async () => {
    let problem = true;
    const { url } = await scripted([400], (res) => {
      if (problem) {
        res.setHeader('content-type', 'application/problem+json');
        const body = JSON.stringify({
          type: 'https://x/#idempotency-key-missing',
          code: 'idempotency-key-missing',
        });
        res.setHeader('content-length', Buffer.byteLength(body));
        res.end(body);
      }
    });
    const fetch = withIdempotencyKey(globalThis.fetch);
    await expect(fetch(url, { method: 'POST' })).rejects.toBeInstanceOf(IdempotencyKeyInvalidError);
    problem = false;
    const plain = await fetch(url, { method: 'POST' });
    expect(plain.status).toBe(400);
    const lenient = withIdempotencyKey(globalThis.fetch, { throwOnKeyErrors: false });
    problem = true;
    expect((await lenient(url, { method: 'POST' })).status).toBe(400);
  });

  it('throws IdempotencyConflictError for a final 409 "in progress" problem, and returns other 409s', async () => {
    let problem = true;
    const { url } = await scripted([409], (res) => {
      if (!problem) return;
      const body = JSON.stringify({ code: 'idempotency-request-in-progress' });
      res.setHeader('content-type', 'application/problem+json');
      res.setHeader('content-length', Buffer.byteLength(body));
      res.end(body);
    });
    const fetch = withIdempotencyKey(globalThis.fetch);
    const error = await fetch(url, { method: 'POST', headers: { 'idempotency-key': '"busy"' } }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(IdempotencyConflictError);
    expect((error as IdempotencyConflictError).idempotencyKey).toBe('busy');
    problem = false;
    expect((await fetch(url, { method: 'POST' })).status).toBe(409);
  });

  it('detects a caller key sent again with another body before sending it', async () => {
    const { url, seen } = await scripted([201]);
    const fetch = withIdempotencyKey(globalThis.fetch);
    const headers = { 'idempotency-key': '"op-7"' };
    await (await fetch(url, { method: 'POST', headers, body: '{"a":1}' })).text();
    await (await fetch(url, { method: 'POST', headers, body: '{"a":1}' })).text();
    await expect(fetch(url, { method: 'POST', headers, body: '{"a":2}' })).rejects.toThrow(
      IdempotencyKeyReusedError,
    );
    expect(seen).toHaveLength(2);
    const unchecked = withIdempotencyKey(globalThis.fetch, { detectKeyReuse: false });
    await (await unchecked(url, { method: 'POST', headers, body: '{"a":1}' })).text();
    await (await unchecked(url, { method: 'POST', headers, body: '{"a":2}' })).text();
    expect(seen).toHaveLength(4);
  });

  it('puts the key on transport errors so the caller can retry the operation later', async () => {
    const url = await listen((req) => req.socket.destroy());
    const fetch = withIdempotencyKey(globalThis.fetch);
    const error = (await fetch(url, { method: 'POST', headers: { 'idempotency-key': '"later"' } }).catch(
      (e: unknown) => e,
    )) as {
      idempotencyKey?: string;
    };
    expect(error.idempotencyKey).toBe('later');
  });

  it('with the server middleware: a lost response is retried with the same key and replayed, never run twice', async () => {
    let runs = 0;
    const idem = idempotency<IncomingMessage>({ store: memoryStore(), scope: () => 'tenant-1' });
    const url = await listen(
      nodeIdempotency(idem, (req, res, { body }) => {
        runs++;
        res.statusCode = 201;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ charged: JSON.parse(body!.toString()).amount }));
        // The first response never reaches the client: the connection drops while it is being recorded.
        if (runs === 1) req.socket.destroy();
      }),
    );
    const fetch = withIdempotencyKey(quickRetry([url]));
    const res = await fetch(`${url}/charges`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"amount":5}',
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ charged: 5 });
    expect(idempotencyInfo(res)?.replayed).toBe(true);
    expect(runs).toBe(1);
  });

  it('validates its options at construction', () => {
    expect(() => withIdempotencyKey('fetch' as never)).toThrow(
      'withIdempotencyKey: fetch must be a function, received "fetch"',
    );
    expect(() => withIdempotencyKey(fetch, { methods: ['post'] })).toThrow(/upper-case method names/);
    expect(() => withIdempotencyKey(fetch, { keyEncoding: 'base64' as never })).toThrow(RangeError);
    expect(() => withIdempotencyKey(fetch, { header: 'bad header' })).toThrow(/field name/);
    expect(() => withIdempotencyKey(fetch, { maxReuseEntries: 0 })).toThrow(RangeError);
    expect(() => withIdempotencyKey(fetch, { generate: 'uuid' as never })).toThrow(TypeError);
    expect(() => withIdempotencyKey(fetch, { method: ['POST'] } as never)).toThrow(/did you mean "methods"/);
  });
});
