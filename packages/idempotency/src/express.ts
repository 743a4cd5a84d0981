import type { IncomingMessage, ServerResponse } from 'node:http';
import { canonicalJson } from './hashing.js';
import type { FingerprintSink, Idempotency } from './idempotency.js';
import type { RouteOptions } from './idempotency-options.js';
import { beginNode, fieldLines, readBody, requestFacts, writeResponse } from './server-response.js';

/** The parts of an Express request the adapter reads (an Express 5 `Request` has them all). */
export interface ExpressLikeRequest extends IncomingMessage {
  body?: unknown;
  baseUrl?: string;
  path?: string;
  route?: { path?: unknown } | undefined;
}

/** An Express middleware. */
export type ExpressMiddleware<Req extends ExpressLikeRequest> = (
  req: Req,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

const rawBodies = new WeakMap<object, Buffer>();

/**
 * A body-parser `verify` hook that keeps the raw request bytes (server side, in a WeakMap) so the fingerprint
 * covers exactly what the client sent: `app.use(express.json({ verify: captureRawBody }))`. Without it the
 * adapter fingerprints the parsed body in canonical JSON form.
 */
export function captureRawBody(req: IncomingMessage, _res: ServerResponse, buffer: Buffer): void {
  rawBodies.set(req, buffer);
}

/**
 * Express 5 middleware enforcing idempotency keys. Mount it after authentication (the core's `scope` reads
 * the principal) and after the body parser; on a route (`app.post('/orders', mw, handler)`) the route
 * template is part of the key. Every store or `scope` failure goes to `next(error)` exactly once.
 *
 * Body sources for the fingerprint, in order: the raw bytes kept by {@link captureRawBody}; `req.body` (a
 * Buffer or string as is, anything else in canonical JSON form); when no parser ran, the middleware reads the
 * body itself (bounded) and leaves it in `req.body` as a Buffer, like `express.raw()`.
 *
 * @example
 * const idem = idempotency<Request>({ store, scope: (req) => req.user.id });
 * app.use(express.json({ verify: captureRawBody }));
 * app.post('/payments', expressIdempotency(idem, { required: true }), createPayment);
 */
export function expressIdempotency<Req extends ExpressLikeRequest>(
  idem: Idempotency<Req>,
  options?: RouteOptions,
): ExpressMiddleware<Req> {
  const route = idem.route('expressIdempotency', options);
  return (req, res, next) => {
    let called = false;
    const once = (error?: unknown): void => {
      if (called) return;
      called = true;
      next(error);
    };
    const run = async (): Promise<void> => {
      const method = req.method ?? 'GET';
      const check = idem.check(method, fieldLines(req.rawHeaders, idem.config.header), route);
      if (check.action === 'skip') return once();
      if (check.action === 'respond') return writeResponse(res, check.response);
      const facts = requestFacts(idem, req, req, routeOf(req));
      const sink = idem.sink(facts);
      if (!(await feedBody(req, sink))) {
        res.setHeader('connection', 'close');
        return writeResponse(res, idem.tooLarge(facts.method, facts.route));
      }
      const { proceed } = await beginNode(idem, req, res, check.key, facts, sink);
      if (proceed) once();
    };
    run().catch(once);
  };
}

function routeOf(req: ExpressLikeRequest): string {
  const template = req.route?.path;
  return (req.baseUrl ?? '') + (template === undefined ? (req.path ?? '/') : String(template));
}

/** Feeds the request body to the sink; false when it is over the limit. */
async function feedBody(req: ExpressLikeRequest, sink: FingerprintSink): Promise<boolean> {
  const raw = rawBodies.get(req);
  if (raw !== undefined) return sink.update(raw);
  const body = req.body;
  if (Buffer.isBuffer(body) || typeof body === 'string') return sink.update(body);
  if (body !== undefined) return sink.update(canonicalJson(body));
  if (req.readableEnded || !hasBody(req)) return true;
  const read = await readBody(req, sink);
  if (read === undefined) return false;
  req.body = read;
  return true;
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}
