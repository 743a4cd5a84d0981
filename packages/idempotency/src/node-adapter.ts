import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeValue, functionOption, readOptions } from '@breakwater/core';
import type { Idempotency } from './idempotency.js';
import type { RouteOptions } from './idempotency-options.js';
import {
  beginNode,
  fieldLines,
  readBody,
  requestFacts,
  splitTarget,
  writeResponse,
} from './server-response.js';

/** What {@link nodeIdempotency} passes to the handler besides `req` and `res`. */
export interface NodeIdempotencyContext {
  /**
   * The request body, read by the middleware to fingerprint it, when the key was enforced. Undefined when the
   * request passed through (other method, or no key on a route that does not require one): then the body is
   * still unread in `req`.
   */
  readonly body: Buffer | undefined;
}

/** A `node:http` request handler that also receives the body the middleware read. */
export type NodeIdempotentHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  context: NodeIdempotencyContext,
) => unknown;

/** Options of {@link nodeIdempotency}. */
export interface NodeIdempotencyOptions extends RouteOptions {
  /**
   * Called with errors the middleware cannot answer itself (a throwing `scope`, a failing handler). By default
   * the response becomes a 500 (or is destroyed if it had started).
   */
  onError?: (error: unknown, req: IncomingMessage, res: ServerResponse) => void;
}

const emptyContext: NodeIdempotencyContext = Object.freeze({ body: undefined });

/**
 * Wraps a `node:http` handler with idempotency-key enforcement. For requests whose key is enforced the body is
 * read (bounded by `maxFingerprintBodyBytes`, 413 beyond) and handed to the handler as `context.body`. A
 * handler that throws counts as a 500 (see `onFailure`).
 *
 * @example
 * const idem = idempotency<IncomingMessage>({ store: memoryStore(), scope: (req) => principalOf(req) });
 * http.createServer(nodeIdempotency(idem, async (req, res, { body }) => { ... }));
 */
export function nodeIdempotency(
  idem: Idempotency<IncomingMessage>,
  handler: NodeIdempotentHandler,
  options?: NodeIdempotencyOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  readOptions('nodeIdempotency', options, ['required', 'methods', 'onError']);
  const { onError: onErrorOption, ...routeOptions } = options ?? {};
  const route = idem.route('nodeIdempotency', routeOptions);
  if (typeof handler !== 'function') {
    throw new TypeError(`nodeIdempotency: handler must be a function, received ${describeValue(handler)}`);
  }
  const onError = functionOption('nodeIdempotency', 'onError', onErrorOption, defaultOnError);

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const check = idem.check(method, fieldLines(req.rawHeaders, idem.config.header), route);
    if (check.action === 'skip') {
      await handler(req, res, emptyContext);
      return;
    }
    if (check.action === 'respond') {
      writeResponse(res, check.response);
      return;
    }
    const facts = requestFacts(idem, req, req, splitTarget(req.url).path);
    const sink = idem.sink(facts);
    const body = await readBody(req, sink);
    if (body === undefined) {
      res.setHeader('connection', 'close');
      writeResponse(res, idem.tooLarge(facts.method, facts.route));
      return;
    }
    const { proceed, capture } = await beginNode(idem, req, res, check.key, facts, sink);
    if (!proceed) return;
    try {
      await handler(req, res, { body });
    } catch (error) {
      if (res.headersSent) capture.fail();
      throw error;
    }
  };

  return (req, res) => {
    serve(req, res).catch((error: unknown) => onError(error, req, res));
  };
}

function defaultOnError(_error: unknown, _req: IncomingMessage, res: ServerResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = 500;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end('Internal Server Error');
}
