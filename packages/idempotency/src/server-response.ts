import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { keyHash } from './hashing.js';
import type { FingerprintSink, Idempotency, RequestFacts } from './idempotency.js';
import type { IdempotencyResponse } from './problem.js';
import { attachContext } from './request-context.js';
import type { CapturedResponse, IdempotencySession } from './session.js';

/** The values of every field line named `name` (any case), from `rawHeaders`: duplicates stay visible. */
export function fieldLines(rawHeaders: readonly string[], name: string): string[] {
  const lines: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const header = rawHeaders[i]!;
    if (header.length === name.length && header.toLowerCase() === name.toLowerCase())
      lines.push(rawHeaders[i + 1] ?? '');
  }
  return lines;
}

/** Path and raw query (without `?`) of a request target. */
export function splitTarget(url: string | undefined): { path: string; query: string } {
  const target = url ?? '/';
  const q = target.indexOf('?');
  return q < 0 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q + 1) };
}

/** The fingerprint facts of a node request: method, route, raw query, content type and configured headers. */
export function requestFacts<Req>(
  idem: Idempotency<Req>,
  request: Req,
  req: IncomingMessage,
  route: string,
): RequestFacts {
  const headers: [string, string][] = [];
  for (const name of idem.config.fingerprintHeaders) {
    const value = req.headers[name];
    headers.push([name, value === undefined ? '' : Array.isArray(value) ? value.join(', ') : value]);
  }
  return {
    method: req.method ?? 'GET',
    route: idem.config.route?.(request) ?? route,
    query: splitTarget(req.url).query,
    contentType: req.headers['content-type'] ?? '',
    headers,
  };
}

/** Writes a response the middleware produced (replay or problem). */
export function writeResponse(res: ServerResponse, response: IdempotencyResponse): void {
  res.statusCode = response.status;
  for (const [name, value] of response.headers) {
    const existing = res.getHeader(name);
    if (existing === undefined) res.setHeader(name, value);
    else res.setHeader(name, [...(Array.isArray(existing) ? existing : [String(existing)]), value]);
  }
  res.setHeader('content-length', response.body.byteLength);
  res.end(response.body);
}

/**
 * Records what a handler writes through `writeHead`, `write` and `end` (so `res.send`, `res.json`, streams and
 * `sendFile` are all covered), bounded by `maxBytes`. When the handler calls `end`, the session finishes first
 * (the record is completed or released) and only then does the response really end, so a client that saw the
 * response and retries gets the replay.
 */
export class ResponseCapture {
  session: IdempotencySession | undefined;
  readonly #res: ServerResponse;
  readonly #max: number;
  readonly #chunks: Buffer[] = [];
  #bytes = 0;
  #overflow = false;
  #ending = false;
  #headHeaders: [string, string | number | readonly string[]][] = [];

  constructor(res: ServerResponse, maxBytes: number) {
    this.#res = res;
    this.#max = maxBytes;
    const capture = this;
    const writeHead = res.writeHead;
    const write = res.write;
    const end = res.end;
    res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      capture.#recordHead(args);
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse['writeHead'];
    res.write = function (this: ServerResponse, ...args: unknown[]) {
      capture.#add(args[0], args[1]);
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as ServerResponse['write'];
    res.end = function (this: ServerResponse, ...args: unknown[]) {
      if (capture.#ending) return this;
      capture.#ending = true;
      if (typeof args[0] !== 'function') capture.#add(args[0], args[1]);
      const session = capture.session;
      if (session === undefined) return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
      // finish() never rejects; only the deferred end() itself could throw.
      session
        .finish(capture.#result())
        .then(() => (end as (...a: unknown[]) => ServerResponse).apply(this, args))
        .catch((error: unknown) => this.destroy(error as Error));
      return this;
    } as ServerResponse['end'];
    res.once('close', () => {
      if (!this.#ending) this.session?.abandon();
    });
  }

  /** The handler failed after the response started: the response is broken, settle as a 500. */
  fail(): void {
    if (this.#ending) return;
    this.#ending = true;
    void this.session?.finish({ status: 500, headers: [], body: null });
  }

  #recordHead(args: unknown[]): void {
    const headers = typeof args[1] === 'string' ? args[2] : args[1];
    if (Array.isArray(headers)) {
      // Either [[name, value], ...] or a flat [name, value, name, value, ...] list.
      if (Array.isArray(headers[0]))
        for (const [n, v] of headers as [string, string][]) this.#headHeaders.push([n, v]);
      else
        for (let i = 0; i < headers.length; i += 2)
          this.#headHeaders.push([String(headers[i]), String(headers[i + 1])]);
    } else if (typeof headers === 'object' && headers !== null) {
      for (const [n, v] of Object.entries(headers as OutgoingHttpHeaders))
        if (v !== undefined) this.#headHeaders.push([n, v]);
    }
  }

  #add(chunk: unknown, encoding: unknown): void {
    if (this.#overflow || chunk === undefined || chunk === null) return;
    let bytes: Buffer;
    if (typeof chunk === 'string')
      bytes = Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    else if (chunk instanceof Uint8Array)
      bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    else return;
    this.#bytes += bytes.byteLength;
    if (this.#bytes > this.#max) {
      this.#overflow = true;
      this.#chunks.length = 0;
      return;
    }
    // Copy: the caller may reuse its buffer after write() returns.
    this.#chunks.push(Buffer.from(bytes));
  }

  #result(): CapturedResponse {
    const headers = new Map<string, string | number | readonly string[]>();
    for (const [name, value] of Object.entries(this.#res.getHeaders()))
      if (value !== undefined) headers.set(name, value);
    for (const [name, value] of this.#headHeaders) headers.set(name.toLowerCase(), value);
    return {
      status: this.#res.statusCode,
      headers,
      body: this.#overflow ? null : Buffer.concat(this.#chunks),
    };
  }
}

/**
 * Claims the key (now, or when the handler calls `begin()` in manual mode) and wires the session to the
 * response. Resolves true when the handler should run, false when the middleware answered already.
 */
export async function beginNode<Req extends object>(
  idem: Idempotency<Req>,
  request: Req,
  res: ServerResponse,
  key: string,
  facts: RequestFacts,
  sink: FingerprintSink,
): Promise<{ proceed: boolean; capture: ResponseCapture }> {
  const capture = new ResponseCapture(res, idem.config.maxStoredResponseBytes);
  const begin = attachBegin(
    idem,
    request,
    key,
    facts,
    sink,
    (response) => writeResponse(res, response),
    (session) => {
      capture.session = session;
    },
  );
  if (idem.config.begin === 'manual') return { proceed: true, capture };
  return { proceed: await begin(), capture };
}

/**
 * Gives `request` its idempotency context and returns its `begin()`, which claims the key once: a replay (or
 * an error answer) goes to `respond`, and a request that may run hands its session to `onSession`. Every
 * adapter starts a request this way.
 */
export function attachBegin<Req extends object>(
  idem: Idempotency<Req>,
  request: Req,
  key: string,
  facts: RequestFacts,
  sink: FingerprintSink,
  respond: (response: IdempotencyResponse) => void,
  onSession: (session: IdempotencySession | undefined) => void,
): () => Promise<boolean> {
  let session: IdempotencySession | undefined;
  let begun: Promise<boolean> | undefined;
  const begin = (): Promise<boolean> => {
    begun ??= idem.claim(request, key, facts, sink).then((decision) => {
      if (decision.action === 'respond') {
        respond(decision.response);
        return false;
      }
      session = decision.session;
      onSession(session);
      return true;
    });
    return begun;
  };
  attachContext(request, {
    keyHash: keyHash(key),
    get recovered() {
      return session?.recovered ?? false;
    },
    get attempt() {
      return session?.attempt ?? 0;
    },
    begin,
  });
  return begin;
}

/** Reads the whole body into the sink and a buffer; undefined when it is over the sink's limit. */
export function readBody(req: IncomingMessage, sink: FingerprintSink): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer): void => {
      if (!sink.update(chunk)) {
        cleanup();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
