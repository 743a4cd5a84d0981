import type { IncomingHttpHeaders } from 'node:http';
import type { Event } from '@breakwater/core';
import {
  dispatchHeaderReader,
  type HttpHeaderReader,
  HttpStatusError,
  parseRetryAfter,
} from '@breakwater/http';
import type { Dispatcher } from 'undici';
import type { CacheRequest } from './cache-request.js';
import {
  type CacheCall,
  FallbackCacheCore,
  type FallbackServedEvent,
  type Hit,
  isUnsafeMethod,
  type StoreEvent,
} from './fallback-cache-core.js';
import type { FallbackCacheInterceptorOptions } from './fallback-cache-options.js';
import { type FallbackReason, fallbackReason } from './fallback-reason.js';
import { joinChunks } from './join-chunks.js';
import { DispatchResponseHead } from './response-head.js';
import type { StorePlan } from './storage-rules.js';

type Dispatch = Dispatcher.Dispatch;
type DispatchOptions = Dispatcher.DispatchOptions;
type DispatchHandler = Dispatcher.DispatchHandler;
type DispatchController = Dispatcher.DispatchController;

/** The interceptor plus the cache's events and state. */
export interface FallbackCacheInterceptor extends Dispatcher.DispatcherComposeInterceptor {
  /**
   * Emitted when a stored response answers a failed request. Channel:
   * `breakwater:fallback-cache:fallback-served`.
   */
  readonly onFallbackServed: Event<FallbackServedEvent>;
  /** Emitted when a response is stored. Channel: `breakwater:fallback-cache:store`. */
  readonly onStore: Event<StoreEvent>;
  /** How many responses are stored. */
  readonly size: number;
  /** How many bytes the stored responses count. */
  readonly bytes: number;
  /** Drops every stored response. */
  clear(): void;
}

/** Replayed bodies go to the handler in pieces of this size, so that its pause() is honoured. */
const replayChunkBytes = 64 * 1024;
/** How much of a failed response's body is read to keep its connection before it is aborted. */
const maxDrainBytes = 64 * 1024;
const noTrailers: IncomingHttpHeaders = Object.freeze({}) as IncomingHttpHeaders;

/**
 * The stale-if-error fallback cache as an undici 8 interceptor. It stores good responses as they stream
 * through to the handler, and when a request fails (a failure status, a transport error, or a
 * `TimeoutError`, `BrokenCircuitError` or `BulkheadRejectedError` from `resilience()` inside it) replays a
 * stored response (status, headers with `Age` and `Cache-Status`, body) to the handler instead. In
 * `compose(a, b)` `b` runs first: compose it **after** `resilience()` so that it is the outer one.
 *
 * @example
 * ```ts
 * const agent = new Agent().compose(resilience(), fallbackCacheInterceptor());
 * const { statusCode, headers, body } = await request(url, { dispatcher: agent });
 * ```
 */
export function fallbackCacheInterceptor(
  options?: FallbackCacheInterceptorOptions,
): FallbackCacheInterceptor {
  const core = new FallbackCacheCore('fallbackCacheInterceptor', options, false);
  const interceptor = (dispatch: Dispatch): Dispatch =>
    function fallbackCacheDispatch(opts: DispatchOptions, handler: DispatchHandler): boolean {
      if (opts.upgrade || opts.method === 'CONNECT') return dispatch(opts, handler);
      // Headers given as a one-shot iterable are read once here and passed on as a list: credentials and
      // Vary values must be visible to decide what may be stored or served.
      if (isOpaqueIterable(opts.headers)) opts = { ...opts, headers: flatten(opts.headers) };
      const request = new DispatchRequest(opts);
      const call = core.begin(request);
      if (call === undefined && !isUnsafeMethod(request.method)) return dispatch(opts, handler);
      return dispatch(opts, new FallbackHandler(core, request, call, handler));
    };
  return Object.defineProperties(interceptor, {
    onFallbackServed: { value: core.onFallbackServed, enumerable: true },
    onStore: { value: core.onStore, enumerable: true },
    size: { get: () => core.store.size, enumerable: true },
    bytes: { get: () => core.store.bytes, enumerable: true },
    clear: { value: () => core.store.clear(), enumerable: true },
  }) as FallbackCacheInterceptor;
}

class DispatchRequest implements CacheRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: HttpHeaderReader;

  constructor(opts: DispatchOptions) {
    const origin = typeof opts.origin === 'string' ? opts.origin : (opts.origin?.origin ?? '');
    this.method = opts.method.toUpperCase();
    this.url = (origin.endsWith('/') ? origin.slice(0, -1) : origin) + opts.path;
    this.headers = dispatchHeaderReader(opts.headers);
  }
}

/** `pending`: no response yet; `live`: passing the origin's response through; `replay`: serving a stored one. */
type HandlerState = 'pending' | 'live' | 'replay';

/**
 * One request through the interceptor. Downstream it is the handler; to the caller's handler it is the
 * controller, so that it can swap the origin's failure for a stored response: pause, resume and abort go
 * to the origin's response while it is live, and steer the replay once a stored response is served. An
 * abort from the caller's side always wins: no stored response is served after it.
 */
class FallbackHandler implements DispatchHandler, DispatchController {
  readonly #core: FallbackCacheCore;
  readonly #request: DispatchRequest;
  /** `undefined` for an unsafe method: passed through, only invalidating. */
  readonly #call: CacheCall | undefined;
  readonly #handler: DispatchHandler;
  #controller: DispatchController | null = null;
  #state: HandlerState = 'pending';
  /** Whether the handler got its terminal callback. */
  #finished = false;
  #aborted = false;
  #reason: Error | null = null;
  #paused = false;
  // Storing the live response:
  #plan: StorePlan | undefined;
  #chunks: Buffer[] = [];
  #bytes = 0;
  // Replaying a stored response:
  #hit: Hit | undefined;
  #rawHeaders: Buffer[] | null = null;
  #offset = 0;
  #pumping = false;
  /** Whether the origin's failed response is being read away, and how much of it. */
  #discarding = false;
  #discarded = 0;

  constructor(
    core: FallbackCacheCore,
    request: DispatchRequest,
    call: CacheCall | undefined,
    handler: DispatchHandler,
  ) {
    this.#core = core;
    this.#request = request;
    this.#call = call;
    this.#handler = handler;
  }

  // DispatchController, as the caller's handler sees it.

  get aborted(): boolean {
    return this.#aborted;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return this.#reason;
  }

  get rawHeaders(): NonNullable<DispatchController['rawHeaders']> | null {
    return this.#state === 'replay' ? this.#rawHeaders : (this.#controller?.rawHeaders ?? null);
  }

  get rawTrailers(): NonNullable<DispatchController['rawTrailers']> | null {
    return this.#state === 'replay' ? [] : (this.#controller?.rawTrailers ?? null);
  }

  pause(): void {
    this.#paused = true;
    if (this.#state !== 'replay') this.#controller?.pause();
  }

  resume(): void {
    this.#paused = false;
    if (this.#state === 'replay') this.#pump();
    else this.#controller?.resume();
  }

  abort(reason: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#dropCapture();
    const controller = this.#controller;
    if (this.#state === 'replay' || controller === null) {
      if (this.#discarding) controller?.abort(reason);
      queueMicrotask(() => this.#fail(reason));
    } else {
      controller.abort(reason); // undici reports it back through onResponseError
    }
  }

  // DispatchHandler, as the dispatcher below calls it.

  onRequestStart(controller: DispatchController, context: unknown): void {
    this.#controller = controller;
    this.#handler.onRequestStart?.(this, context);
  }

  onRequestUpgrade(
    _controller: DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    socket: never,
  ): void {
    this.#handler.onRequestUpgrade?.(this, statusCode, headers, socket);
  }

  onResponseStarted(): void {
    if (this.#state !== 'replay') this.#handler.onResponseStarted?.();
  }

  onBodySent(chunk: Buffer): void {
    this.#handler.onBodySent?.(chunk as never);
  }

  onRequestSent(): void {
    this.#handler.onRequestSent?.();
  }

  onResponseStart(
    controller: DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (this.#state !== 'pending' || this.#finished) return;
    this.#controller = controller;
    if (statusCode < 200) {
      this.#handler.onResponseStart?.(this, statusCode, headers, statusMessage);
      return;
    }
    const core = this.#core;
    const call = this.#call;
    if (call === undefined) {
      core.invalidate(
        this.#request,
        statusCode,
        headerValue(headers, 'location'),
        headerValue(headers, 'content-location'),
      );
    } else if (core.settings.failureStatuses[statusCode] === 1) {
      if (this.#serve(call, 'status', undefined, statusCode, headers)) {
        this.#discarding = true;
        if (controller.paused) controller.resume();
        return;
      }
    } else {
      try {
        this.#startCapture(call, statusCode, headers, statusMessage);
      } catch {
        this.#dropCapture(); // storing fails open: the response goes through unstored
      }
    }
    this.#state = 'live';
    this.#handler.onResponseStart?.(this, statusCode, headers, statusMessage);
  }

  onResponseData(controller: DispatchController, chunk: Buffer): void {
    if (this.#discarding) {
      this.#discarded += chunk.byteLength;
      if (this.#discarded > maxDrainBytes) {
        this.#discarding = false;
        controller.abort(new Error('discarded the body of a response replaced by a stored one'));
      }
      return;
    }
    if (this.#state !== 'live' || this.#finished) return;
    if (this.#plan !== undefined) this.#capture(chunk);
    this.#handler.onResponseData?.(this, chunk);
  }

  onResponseEnd(_controller: DispatchController, trailers: IncomingHttpHeaders): void {
    if (this.#discarding) {
      this.#discarding = false;
      return;
    }
    if (this.#state !== 'live' || this.#finished) return;
    this.#commitCapture();
    this.#finished = true;
    this.#handler.onResponseEnd?.(this, trailers);
  }

  onResponseError(_controller: DispatchController | null, error: Error): void {
    if (this.#discarding) {
      this.#discarding = false;
      return;
    }
    if (this.#state === 'replay' || this.#finished) return;
    if (this.#state === 'pending' && this.#call !== undefined && !this.#aborted) {
      const reason = fallbackReason(error, this.#core.settings);
      if (reason !== undefined && this.#serve(this.#call, reason, error)) return;
    }
    this.#dropCapture();
    this.#fail(error);
  }

  /**
   * Serves a stored response in place of the failure, if one may be; `false` when none may. A failure
   * status comes as `statusCode` and `statusHeaders` without `error`: the `HttpStatusError` standing for it is
   * only the payload of `onFallbackServed`, so it is built once a response is served, and only for a listener.
   */
  #serve(
    call: CacheCall,
    reason: FallbackReason,
    error: Error | undefined,
    statusCode = 0,
    statusHeaders: IncomingHttpHeaders = noTrailers,
  ): boolean {
    if (this.#aborted) return false;
    let hit: Hit | undefined;
    try {
      hit = this.#core.lookup(call);
    } catch {
      return false; // the cache fails open: the failure goes through as it is
    }
    if (hit === undefined) return false;
    this.#state = 'replay';
    this.#hit = hit;
    // No prototype: a stored field named __proto__ stays a field.
    const headers = Object.create(null) as IncomingHttpHeaders;
    const raw: Buffer[] = [];
    for (const [name, value] of hit.headers) {
      const existing = headers[name];
      headers[name] =
        existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
      raw.push(Buffer.from(name, 'latin1'), Buffer.from(value, 'latin1'));
    }
    this.#rawHeaders = raw;
    const core = this.#core;
    if (core.reportsServed) {
      const failure =
        error ??
        new HttpStatusError(statusCode, parseRetryAfter(statusHeaders['retry-after'], Date.now()), undefined);
      core.served(call, hit, reason, failure, undefined);
    }
    try {
      this.#handler.onResponseStart?.(this, hit.entry.status, headers, hit.entry.statusText);
    } catch (thrown) {
      this.#fail(thrown);
      return true;
    }
    this.#pump();
    return true;
  }

  /** Delivers the stored body while the handler is not paused, then the end. */
  #pump(): void {
    if (this.#pumping || this.#state !== 'replay' || this.#finished) return;
    this.#pumping = true;
    try {
      const hit = this.#hit!;
      const body = hit.headOnly ? undefined : hit.entry.body;
      const length = body?.byteLength ?? 0;
      while (!this.#paused && !this.#aborted && this.#offset < length) {
        const end = Math.min(this.#offset + replayChunkBytes, length);
        // A copy: the handler may keep or change the chunk; the stored bytes stay as they are.
        const chunk = Buffer.from(body!.subarray(this.#offset, end));
        this.#offset = end;
        this.#handler.onResponseData?.(this, chunk);
      }
      if (!this.#paused && !this.#aborted && this.#offset >= length && !this.#finished) {
        this.#finished = true;
        this.#handler.onResponseEnd?.(this, noTrailers);
      }
    } catch (thrown) {
      this.#fail(thrown);
    } finally {
      this.#pumping = false;
    }
  }

  #startCapture(
    call: CacheCall,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    const core = this.#core;
    const plan = core.plan(call, new DispatchResponseHead(statusCode, statusMessage, headers), false);
    if (plan === undefined) return;
    const declared = Number(headerValue(headers, 'content-length') ?? Number.NaN);
    if (declared > plan.bodyLimit) return;
    this.#plan = plan;
  }

  #capture(chunk: Buffer): void {
    const length = chunk.byteLength;
    if (this.#bytes + length > this.#plan!.bodyLimit || !this.#core.store.reserve(length)) {
      this.#dropCapture();
      return;
    }
    this.#chunks.push(chunk);
    this.#bytes += length;
  }

  #commitCapture(): void {
    const plan = this.#plan;
    if (plan === undefined) return;
    const body = joinChunks(this.#chunks, this.#bytes);
    this.#dropCapture();
    try {
      this.#core.commit(this.#call!, plan, body, undefined);
    } catch {
      // Storing fails open: the handler still gets its end.
    }
  }

  #dropCapture(): void {
    if (this.#plan === undefined) return;
    this.#core.store.release(this.#bytes);
    this.#plan = undefined;
    this.#chunks = [];
    this.#bytes = 0;
  }

  /** Delivers the handler's terminal error, once. */
  #fail(error: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#handler.onResponseError?.(this, error as Error);
  }
}

/** Whether request headers come as an iterable other than an array or a `Headers`-like object. */
function isOpaqueIterable(
  headers: DispatchOptions['headers'],
): headers is Iterable<[string, string | string[] | undefined]> {
  return (
    typeof headers === 'object' &&
    headers !== null &&
    !Array.isArray(headers) &&
    typeof (headers as Headers).get !== 'function' &&
    typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function'
  );
}

function flatten(headers: Iterable<[string, string | string[] | undefined]>): string[] {
  const list: string[] = [];
  for (const [name, value] of headers) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const line of value) list.push(name, line);
    else list.push(name, value);
  }
  return list;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? (value[0] ?? null) : String(value);
}
