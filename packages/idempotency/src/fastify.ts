import { Transform } from 'node:stream';
import { describeValue } from '@breakwater/core';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { type FingerprintSink, Idempotency, type RequestFacts, type ResolvedRoute } from './idempotency.js';
import type { RouteOptions } from './idempotency-options.js';
import type { IdempotencyResponse } from './problem.js';
import { attachBegin, fieldLines, splitTarget } from './server-response.js';
import type { IdempotencySession } from './session.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Idempotency of this route: overrides of `required`/`methods`, or `false` to turn it off. */
    idempotency?: RouteOptions | false;
  }
}

/** Options of {@link fastifyIdempotency}. */
export interface FastifyIdempotencyOptions extends RouteOptions {
  /** The server core, created with `idempotency<FastifyRequest>({ store, scope, ... })`. */
  idempotency: Idempotency<FastifyRequest>;
}

interface State {
  /** The response is one the plugin produced itself (error or replay): onSend leaves it alone. */
  own: boolean;
  key: string;
  facts: RequestFacts | undefined;
  sink: FingerprintSink | undefined;
  session: IdempotencySession | undefined;
}

const states = new WeakMap<FastifyRequest, State>();

/**
 * Fastify 5 plugin enforcing idempotency keys on every route registered after it (it is not encapsulated).
 * The key is checked in `onRequest`, the raw body is hashed as it streams in (`preParsing`), the key is
 * claimed in `preHandler` (register your authentication before this plugin so `scope` sees the principal),
 * and the response is captured in `onSend`. Per route: `config: { idempotency: { required: true } }`, or
 * `false` to opt out.
 *
 * @example
 * const idem = idempotency<FastifyRequest>({ store, scope: (request) => request.user.id });
 * await app.register(fastifyIdempotency, { idempotency: idem });
 */
export const fastifyIdempotency: FastifyPluginCallback<FastifyIdempotencyOptions> = (
  instance,
  options,
  done,
) => {
  const idem = options.idempotency;
  if (!(idem instanceof Idempotency)) {
    done(
      new TypeError(
        `fastifyIdempotency: idempotency must be created by idempotency(), received ${describeValue(idem)}`,
      ),
    );
    return;
  }
  let defaults: ResolvedRoute;
  try {
    defaults = idem.route('fastifyIdempotency', {
      ...(options.required === undefined ? {} : { required: options.required }),
      ...(options.methods === undefined ? {} : { methods: options.methods }),
    });
  } catch (error) {
    done(error as Error);
    return;
  }
  const perRoute = new WeakMap<object, ResolvedRoute>();
  const routeOf = (request: FastifyRequest): ResolvedRoute | false => {
    const config = request.routeOptions.config.idempotency;
    if (config === false) return false;
    if (config === undefined) return defaults;
    let resolved = perRoute.get(config);
    if (resolved === undefined) {
      resolved = idem.route(`fastifyIdempotency (route ${request.routeOptions.url ?? ''})`, config);
      perRoute.set(config, resolved);
    }
    return resolved;
  };

  instance.addHook('onRequest', (request, reply, next) => {
    const route = routeOf(request);
    if (route === false) return next();
    const check = idem.check(request.method, fieldLines(request.raw.rawHeaders, idem.config.header), route);
    if (check.action === 'skip') return next();
    const state: State = { own: false, key: '', facts: undefined, sink: undefined, session: undefined };
    states.set(request, state);
    if (check.action === 'respond') return sendOwn(reply, state, check.response);
    const fingerprintHeaders: [string, string][] = idem.config.fingerprintHeaders.map((name) => {
      const value = request.headers[name];
      return [name, value === undefined ? '' : Array.isArray(value) ? value.join(', ') : value];
    });
    state.key = check.key;
    state.facts = {
      method: request.method,
      route: idem.config.route?.(request) ?? request.routeOptions.url ?? splitTarget(request.raw.url).path,
      query: splitTarget(request.raw.url).query,
      contentType: request.headers['content-type'] ?? '',
      headers: fingerprintHeaders,
    };
    state.sink = idem.sink(state.facts);
    next();
  });

  instance.addHook('preParsing', (request, _reply, payload, next) => {
    const sink = states.get(request)?.sink;
    if (sink === undefined) return next(null, payload);
    const limit = idem.config.maxFingerprintBodyBytes;
    const tap = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        if (sink.update(chunk)) callback(null, chunk);
        else
          callback(
            Object.assign(new Error(`Idempotent requests may carry at most ${limit} bytes`), {
              statusCode: 413,
            }),
          );
      },
    });
    payload.on('error', (error) => tap.destroy(error));
    next(null, payload.pipe(tap));
  });

  instance.addHook('preHandler', (request, reply, next) => {
    const state = states.get(request);
    if (state?.facts === undefined || state.sink === undefined || state.own) return next();
    const { facts, sink, key } = state;
    if (sink.overflow) return sendOwn(reply, state, idem.tooLarge(facts.method, facts.route));
    const begin = attachBegin(
      idem,
      request,
      key,
      facts,
      sink,
      (response) => sendOwn(reply, state, response),
      (session) => {
        state.session = session;
      },
    );
    if (idem.config.begin === 'manual') return next();
    begin().then(
      (proceed) => {
        if (proceed) next();
      },
      (error: unknown) => next(error as Error),
    );
  });

  instance.addHook('onSend', (request, reply, payload, next) => {
    const state = states.get(request);
    const session = state?.session;
    if (state === undefined || state.own || session === undefined) return next(null, payload);
    const max = idem.config.maxStoredResponseBytes;
    const settle = (body: Uint8Array | null): Promise<unknown> =>
      session.finish({ status: reply.statusCode, headers: Object.entries(reply.getHeaders()), body });
    if (
      payload === null ||
      payload === undefined ||
      typeof payload === 'string' ||
      Buffer.isBuffer(payload)
    ) {
      const body =
        payload === null || payload === undefined ? Buffer.alloc(0) : Buffer.from(payload as string | Buffer);
      void settle(body.byteLength > max ? null : body).then(() => next(null, payload));
      return;
    }
    if (typeof (payload as { pipe?: unknown }).pipe === 'function') {
      next(
        null,
        capture(payload as NodeJS.ReadableStream, max, (body) => void settle(body)),
      );
      return;
    }
    // Anything else Fastify will reject itself; settle as a failure so the key does not stay locked.
    void settle(null);
    next(null, payload);
  });

  const abandon = (request: FastifyRequest): void => {
    states.get(request)?.session?.abandon();
  };
  instance.addHook('onRequestAbort', (request, next) => {
    abandon(request);
    next();
  });
  instance.addHook('onResponse', (request, _reply, next) => {
    abandon(request);
    next();
  });
  done();
};

// Hooks must reach every route registered after the plugin, as fastify-plugin would arrange.
Object.defineProperty(fastifyIdempotency, Symbol.for('skip-override'), { value: true });
Object.defineProperty(fastifyIdempotency, Symbol.for('fastify.display-name'), {
  value: '@breakwater/idempotency',
});

function sendOwn(reply: FastifyReply, state: State, response: IdempotencyResponse): void {
  state.own = true;
  reply.code(response.status);
  const grouped = new Map<string, string[]>();
  for (const [name, value] of response.headers) grouped.set(name, [...(grouped.get(name) ?? []), value]);
  for (const [name, values] of grouped) reply.header(name, values.length === 1 ? values[0] : values);
  reply.send(Buffer.from(response.body.buffer, response.body.byteOffset, response.body.byteLength));
}

/** Passes a streamed payload through while keeping a bounded copy; `onEnd` gets it (null when over `max`). */
function capture(
  stream: NodeJS.ReadableStream,
  max: number,
  onEnd: (body: Uint8Array | null) => void,
): Transform {
  const chunks: Buffer[] = [];
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer | string, _encoding, callback) {
      const buffer = Buffer.from(chunk);
      bytes += buffer.byteLength;
      if (bytes <= max) chunks.push(buffer);
      callback(null, chunk);
    },
    flush(callback) {
      onEnd(bytes > max ? null : Buffer.concat(chunks));
      callback();
    },
  });
  stream.on('error', (error) => tap.destroy(error));
  return stream.pipe(tap);
}
