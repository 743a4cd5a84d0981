import { AsyncResource } from 'node:async_hooks';
import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { ExecutionContext, executeSettling, type Settle, type SettlingOperation } from '@breakwater/core';
import type { Dispatcher } from 'undici';
import {
  AttemptStart,
  attemptEndChannel,
  attemptStartChannel,
  publishAttemptEnd,
  publishRequestEnd,
  requestEndChannel,
  requestStartChannel,
  runRequestStart,
} from './channels.js';
import { dispatchHeaderReader } from './dispatch-headers.js';
import { HttpStatusError } from './http-status-error.js';
import { type HttpResilience, type ResilienceOptions, readResilienceOptions } from './options.js';
import { isReplayableDispatchBody } from './replayable-body.js';
import {
  type HttpHeaderReader,
  type HttpRequestInfo,
  httpRequestKey,
  isIdempotentMethod,
  upperCaseMethod,
} from './request-info.js';
import { parseRetryAfter } from './retry-after.js';
import { urlOrigin } from './url-origin.js';

type Dispatch = Dispatcher.Dispatch;
type DispatchOptions = Dispatcher.DispatchOptions;
type DispatchHandler = Dispatcher.DispatchHandler;
type DispatchController = Dispatcher.DispatchController;

/** How much of a discarded response body is read to keep its connection; past that the request is aborted. */
const maxDrainBytes = 64 * 1024;

/**
 * An undici interceptor that runs every request through a resilience pipeline (the standard one or yours),
 * for `dispatcher.compose(...)`: `undici.request`, `undici.fetch` and any Agent then get retries, timeouts,
 * per-origin breakers and bulkheads. Failed attempts (failure statuses, network errors) are retried inside;
 * the handler sees one response: the first good one, or the last failed one (unless `throwOnStatus`).
 * Upgrade and CONNECT requests pass through untouched.
 *
 * @example
 * ```ts
 * const agent = new Agent().compose(resilience({ attemptTimeoutMs: 2_000 }));
 * const { statusCode, body } = await request('https://api.example.com/items', { dispatcher: agent });
 * ```
 */
export function resilience(options?: ResilienceOptions): Dispatcher.DispatcherComposeInterceptor {
  const { settings } = readResilienceOptions('resilience', options);
  return (dispatch) =>
    function resilienceInterceptor(opts: DispatchOptions, handler: DispatchHandler): boolean {
      if (opts.upgrade || opts.method === 'CONNECT') return dispatch(opts, handler);
      new DispatchCall(settings, dispatch, opts, handler).start();
      return true;
    };
}

/**
 * What policies and subscribers may read about the request. Only the method and origin are needed by every
 * request (the origin is the pipeline's key); the URL, the header reader and `retryable` are worked out on
 * first read, from the dispatch options, which stay as given while the request runs.
 */
class DispatchRequestInfo implements HttpRequestInfo {
  readonly method: string;
  readonly origin: string;
  readonly #settings: HttpResilience;
  readonly #opts: DispatchOptions;
  #url: string | undefined;
  #headers: HttpHeaderReader | undefined;
  #retryable: boolean | undefined;

  constructor(settings: HttpResilience, opts: DispatchOptions) {
    this.#settings = settings;
    this.#opts = opts;
    this.method = upperCaseMethod(opts.method);
    this.origin = dispatchOrigin(opts.origin);
  }

  get url(): string {
    if (this.#url === undefined) this.#url = this.origin + this.#opts.path;
    return this.#url;
  }

  get headers(): HttpHeaderReader {
    if (this.#headers === undefined) this.#headers = dispatchHeaderReader(this.#opts.headers);
    return this.#headers;
  }

  get retryable(): boolean {
    if (this.#retryable === undefined) {
      this.#retryable =
        isReplayableDispatchBody(this.#opts.body) &&
        (isIdempotentMethod(this.method) ||
          (this.#settings.honorsIdempotencyKeys(this.origin) && this.headers.has('idempotency-key')));
    }
    return this.#retryable;
  }
}

/**
 * The origin of a dispatch, which undici gives as a string or a URL, serialized as `new URL().origin` does (as
 * `resilientFetch` keys its calls and `honorsIdempotencyKeys` compares). One undici cannot parse is left for
 * undici to reject, as it is.
 */
function dispatchOrigin(origin: DispatchOptions['origin']): string {
  if (typeof origin !== 'string') return origin?.origin ?? '';
  try {
    return urlOrigin(origin);
  } catch {
    return origin;
  }
}

/**
 * One logical request through the interceptor. To the downstream handler it is the controller: a stable
 * one across attempts that pauses, resumes and aborts whichever attempt is delivering, and whose abort also
 * cancels the pipeline (a backoff wait, a bulkhead queue).
 */
class DispatchCall implements DispatchController {
  readonly settings: HttpResilience;
  readonly handler: DispatchHandler;
  readonly #dispatch: Dispatch;
  /** The caller's options; a copy with materialized headers once a subscriber has set a header. */
  #opts: DispatchOptions;
  readonly info: DispatchRequestInfo;
  /** Cancelled by the handler's abort, which the policies then see as the caller's. */
  readonly #context: ExecutionContext;
  /**
   * The async context the request was made in. undici calls an attempt back in the context of whoever opened its
   * connection: the pipeline's reaction to a failure (a retry, a breaker's events) runs in this one instead.
   */
  readonly #asyncContext = new AsyncResource('breakwater.http.request');
  #attempts = 0;
  #lastError: unknown;
  /** The last failed attempt, paused: replayed to the handler if no later attempt does better. */
  #held: Attempt | undefined;
  /** The attempt whose response the handler is receiving. */
  #live: Attempt | undefined;
  #aborted = false;
  #reason: Error | null = null;
  #paused = false;
  /** Whether the handler got its terminal callback (end or error). */
  #done = false;
  /** Whether the handler got its response headers or its error: the caller's answer is decided. */
  #answered = false;
  readonly #attempt: SettlingOperation = (context, settle) => this.#send(context, settle);
  readonly #settled: Settle = (failed, outcome) => {
    if (failed) this.#settleFailure(outcome);
    else this.#settleFulfilled();
  };

  constructor(settings: HttpResilience, dispatch: Dispatch, opts: DispatchOptions, handler: DispatchHandler) {
    this.settings = settings;
    this.handler = handler;
    this.#dispatch = dispatch;
    this.#opts = opts;
    this.info = new DispatchRequestInfo(settings, opts);
    this.#context = ExecutionContext.createCancellable(this.info.origin);
  }

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
    return this.#live?.controller?.rawHeaders ?? null;
  }

  get rawTrailers(): NonNullable<DispatchController['rawTrailers']> | null {
    return this.#live?.controller?.rawTrailers ?? null;
  }

  pause(): void {
    this.#paused = true;
    this.#live?.controller?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#live?.controller?.resume();
  }

  abort(reason: Error): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#context.abort(reason); // a pending attempt watching its context is abandoned with it
    const live = this.#live;
    if (live?.controller != null && !this.#done) {
      live.controller.abort(reason); // undici reports it through the attempt's onResponseError
    } else {
      queueMicrotask(() => this.fail(reason));
    }
  }

  start(): void {
    this.handler.onRequestStart?.(this, null);
    if (this.#aborted) return;
    const info = this.info;
    const context = this.#context;
    context.set(httpRequestKey, info);
    if (requestStartChannel.hasSubscribers) runRequestStart(context, info, () => this.#run());
    else this.#run();
  }

  #run(): void {
    executeSettling(this.settings.policy, this.#attempt, this.#context, this.#settled);
  }

  /**
   * The pipeline fulfilled. Normally an attempt's response already reached the handler; a policy that answers
   * without one (a fallback value, say) leaves the handler the held response, or the last error.
   */
  #settleFulfilled(): void {
    if (this.#answered) return;
    this.#settleFailure(
      this.#held?.error ??
        this.#lastError ??
        new TypeError(
          'resilience: the pipeline fulfilled without a response; its policies must return the attempt',
        ),
    );
  }

  /** The pipeline gave up with `error`: the handler gets the held response or the error. */
  #settleFailure(error: unknown): void {
    const held = this.#held;
    this.#held = undefined;
    if (!this.#done && held !== undefined && error === held.error && !this.settings.throwOnStatus) {
      this.#live = held;
      held.replay();
      return;
    }
    held?.discard();
    this.fail(error);
  }

  #send(context: ExecutionContext, settle: Settle): void {
    if (this.#attempts > 0) {
      // Never resend what must not be sent twice, whatever retry policy the caller composed.
      if (!this.info.retryable) {
        settle(true, this.#lastError);
        return;
      }
      const held = this.#held;
      this.#held = undefined;
      held?.discard();
    }
    const attempt = new Attempt(this, context, ++this.#attempts, settle);
    if (attempt.settled) return;
    try {
      if (attemptStartChannel.hasSubscribers) this.#sendObserved(context, attempt);
      else this.#dispatch(this.#opts, attempt);
    } catch (error) {
      attempt.onResponseError(null, error as Error);
    }
  }

  /** Dispatches an attempt that attempt-start subscribers may add headers to and scope. */
  #sendObserved(context: ExecutionContext, attempt: Attempt): void {
    const start = new AttemptStart(context, this.info, attempt.number);
    start.publish();
    let opts = this.#opts;
    const added = start.headers;
    if (added !== undefined) {
      if (!Array.isArray(opts.headers)) {
        // Read the caller's headers once, so that a one-shot iterable still serves every attempt.
        opts = { ...opts, headers: flattenHeaders(opts.headers) };
        this.#opts = opts;
      }
      const headers: string[] = [];
      const base = opts.headers as string[];
      for (let i = 0; i + 1 < base.length; i += 2) {
        if (!added.has(String(base[i]).toLowerCase())) headers.push(base[i]!, base[i + 1]!);
      }
      for (const [name, value] of added) headers.push(name, value);
      opts = { ...opts, headers };
    }
    start.send(() => this.#dispatch(opts, attempt));
  }

  /** Hands `settle` an attempt's failure in the request's async context. */
  settleInRequestContext(settle: Settle, error: unknown): void {
    this.#asyncContext.runInAsyncScope(settle, undefined, true, error);
  }

  /** An attempt failed before or with its response headers. */
  attemptFailed(attempt: Attempt, error: unknown, held: boolean): void {
    this.#lastError = error;
    if (!held) return;
    if (this.#done) {
      attempt.discard();
      return;
    }
    this.#held?.discard();
    this.#held = attempt;
  }

  /** An attempt got a good response: it becomes the one the handler receives. */
  attemptSucceeded(
    attempt: Attempt,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (this.#done) {
      attempt.discard();
      return;
    }
    this.#live = attempt;
    if (this.#paused) attempt.controller?.pause();
    this.#answer(statusCode, undefined);
    this.handler.onResponseStart?.(this, statusCode, headers, statusMessage);
  }

  /** Delivers the handler's terminal error, once. */
  fail(error: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#answer(error instanceof HttpStatusError ? error.status : undefined, error);
    this.handler.onResponseError?.(this, error as Error);
  }

  /** Publishes request-end for the first answer the handler gets. */
  #answer(statusCode: number | undefined, error: unknown): void {
    if (this.#answered) return;
    this.#answered = true;
    if (requestEndChannel.hasSubscribers) {
      publishRequestEnd(this.#context, this.info, this.#attempts, statusCode, error);
    }
  }

  /** Delivers the handler's terminal end, once. */
  end(trailers: IncomingHttpHeaders): void {
    if (this.#done) return;
    this.#done = true;
    this.handler.onResponseEnd?.(this, trailers);
  }
}

type AttemptState = 'pending' | 'live' | 'held' | 'draining' | 'done';

/** What a held (failed) response delivered so far, to replay it should it be the caller's answer. */
class HeldResponse {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly statusMessage: string | undefined;
  chunks: Buffer[] = [];
  ended = false;
  trailers: IncomingHttpHeaders | undefined;
  /** Set when the response failed after its headers. */
  failure: Error | undefined;

  constructor(statusCode: number, headers: IncomingHttpHeaders, statusMessage: string | undefined) {
    this.statusCode = statusCode;
    this.headers = headers;
    this.statusMessage = statusMessage;
  }

  get finished(): boolean {
    return this.ended || this.failure !== undefined;
  }
}

/**
 * The handler of one attempt, delegating to the call's handler once the attempt's response is the one to
 * deliver. Until its response headers arrive it watches the attempt's context: a timeout or the caller's abort
 * aborts it. A failed response is paused and buffered (held) until the pipeline decides: replayed to the
 * handler if it is the last word, drained otherwise.
 */
class Attempt implements DispatchHandler {
  readonly #call: DispatchCall;
  readonly #context: ExecutionContext;
  /** 1 for the first attempt sent, 2 for the first resend, ... */
  readonly number: number;
  /** Hands the attempt's outcome to the pipeline. */
  readonly #settle: Settle;
  /** Whether the attempt watches its context's abort (while pending). */
  #watching = false;
  controller: DispatchController | null = null;
  settled = false;
  #state: AttemptState = 'pending';
  /** Why the attempt was abandoned before it started, to abort it when undici starts it. */
  #abandonedWith: unknown;
  error: HttpStatusError | undefined;
  /** Made only for a failed response: few attempts need one. */
  #held: HeldResponse | undefined;
  /** Body bytes received while held or draining. */
  #bytes = 0;

  constructor(call: DispatchCall, context: ExecutionContext, number: number, settle: Settle) {
    this.#call = call;
    this.#context = context;
    this.number = number;
    this.#settle = settle;
    if (context.aborted) {
      this.#state = 'done';
      this.#finish(context.abortReason, undefined);
      return;
    }
    // Watching, unlike listening to the context's signal, makes no AbortController at any level.
    context.watchAbort(this);
    this.#watching = true;
  }

  /** The attempt's context aborted. */
  handleEvent(): void {
    this.#watching = false; // a context forgets its watchers as it tells them
    this.abandon(this.#context.abortReason);
  }

  /** The attempt's context aborted (timeout or caller) before its response headers came. */
  abandon(reason: unknown): void {
    if (this.#state !== 'pending') return;
    this.#unlink();
    this.#report(undefined, reason, undefined);
    this.#call.attemptFailed(this, reason, false);
    this.#finish(reason, undefined);
    this.#state = 'done';
    if (this.controller === null) this.#abandonedWith = reason;
    else this.controller.abort(reason as Error);
  }

  onRequestStart(controller: DispatchController, _context: unknown): void {
    this.controller = controller;
    if (this.#abandonedWith !== undefined) controller.abort(this.#abandonedWith as Error);
  }

  onRequestUpgrade(
    _controller: DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    socket: Duplex,
  ): void {
    this.#call.handler.onRequestUpgrade?.(this.#call, statusCode, headers, socket);
  }

  onResponseStarted(): void {
    if (this.#state === 'pending') this.#call.handler.onResponseStarted?.();
  }

  onBodySent(chunk: Buffer): void {
    this.#call.handler.onBodySent?.(chunk);
  }

  onRequestSent(): void {
    this.#call.handler.onRequestSent?.();
  }

  onResponseStart(
    controller: DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (this.#state !== 'pending') return;
    if (statusCode < 200) {
      this.#call.handler.onResponseStart?.(this.#call, statusCode, headers, statusMessage);
      return;
    }
    this.#unlink();
    this.controller = controller;
    this.#report(statusCode, undefined, headers);
    if (this.#call.settings.failureStatuses[statusCode] === 1) {
      controller.pause();
      this.#state = 'held';
      this.#held = new HeldResponse(statusCode, headers, statusMessage);
      this.error = new HttpStatusError(
        statusCode,
        parseRetryAfter(headers['retry-after'], Date.now()),
        undefined,
      );
      this.#call.attemptFailed(this, this.error, true);
      this.#finish(this.error, undefined);
      return;
    }
    this.#state = 'live';
    try {
      this.#call.attemptSucceeded(this, statusCode, headers, statusMessage);
    } finally {
      // Even when the handler throws: the pipeline must free what the attempt holds (a bulkhead slot, a timer).
      this.#finish(undefined, true);
    }
  }

  onResponseData(controller: DispatchController, chunk: Buffer): void {
    switch (this.#state) {
      case 'live':
        this.#call.handler.onResponseData?.(this.#call, chunk);
        return;
      case 'held':
        this.#held!.chunks.push(chunk);
        this.#bytes += chunk.byteLength;
        return;
      case 'draining':
        this.#bytes += chunk.byteLength;
        if (this.#bytes > maxDrainBytes) {
          this.#state = 'done';
          controller.abort(new Error('discarded the body of a failed attempt'));
        }
        return;
      default:
    }
  }

  onResponseEnd(_controller: DispatchController, trailers: IncomingHttpHeaders): void {
    switch (this.#state) {
      case 'live':
        this.#state = 'done';
        this.#call.end(trailers);
        return;
      case 'held':
        this.#held!.ended = true;
        this.#held!.trailers = trailers;
        return;
      default:
        this.#state = 'done';
    }
  }

  onResponseError(_controller: DispatchController | null, error: Error): void {
    this.#unlink();
    switch (this.#state) {
      case 'pending':
        this.#state = 'done';
        this.#report(undefined, error, undefined);
        this.#call.attemptFailed(this, error, false);
        this.#finish(error, undefined);
        return;
      case 'live':
        this.#state = 'done';
        this.#call.fail(error);
        return;
      case 'held':
        this.#held!.failure = error;
        return;
      default:
        this.#state = 'done';
    }
  }

  /** Delivers this held response to the call's handler: headers, what was buffered, then the rest live. */
  replay(): void {
    const call = this.#call;
    const held = this.#held!;
    this.#held = undefined;
    this.#state = 'live';
    try {
      call.attemptSucceeded(this, held.statusCode, held.headers, held.statusMessage);
      for (const chunk of held.chunks) call.handler.onResponseData?.(call, chunk);
    } catch (error) {
      // What undici does when a handler throws while it delivers: abort the request, tell the handler.
      this.#state = 'done';
      this.controller?.abort(error as Error);
      call.fail(error);
      return;
    }
    if (held.ended) {
      this.#state = 'done';
      call.end(held.trailers!);
    } else if (held.failure !== undefined) {
      this.#state = 'done';
      call.fail(held.failure);
    } else if (!call.paused) {
      this.controller?.resume();
    }
  }

  /** Throws this held response away: reads a short rest to keep the connection, aborts a long one. */
  discard(): void {
    if (this.#state !== 'held' && this.#state !== 'live') return;
    const held = this.#held;
    this.#held = undefined;
    if (held?.finished) {
      this.#state = 'done';
      return;
    }
    if (this.#bytes > maxDrainBytes) {
      this.#state = 'done';
      this.controller?.abort(new Error('discarded the body of a failed attempt'));
      return;
    }
    this.#state = 'draining';
    this.controller?.resume();
  }

  /** Publishes attempt-end: the response headers came, or the attempt failed without them. */
  #report(statusCode: number | undefined, error: unknown, headers: IncomingHttpHeaders | undefined): void {
    if (!attemptEndChannel.hasSubscribers) return;
    const call = this.#call;
    const responseHeaders = headers === undefined ? undefined : dispatchHeaderReader(headers);
    publishAttemptEnd(this.#context, call.info, this.number, statusCode, error, responseHeaders);
  }

  /**
   * Settles the attempt for the pipeline: a success at once, a failure in a microtask, so that the pipeline's
   * reaction to it (a retry, the held response's replay) never runs inside undici's callback.
   */
  #finish(error: unknown, ok: true | undefined): void {
    if (this.settled) return;
    this.settled = true;
    if (ok) this.#settle(false, undefined);
    else queueMicrotask(() => this.#call.settleInRequestContext(this.#settle, error));
  }

  #unlink(): void {
    if (!this.#watching) return;
    this.#watching = false;
    this.#context.unwatchAbort(this);
  }
}

/** Undici's request headers in any accepted shape, as a flat `[name, value, ...]` array. */
function flattenHeaders(headers: DispatchOptions['headers']): string[] {
  const flat: string[] = [];
  if (headers === null || headers === undefined) return flat;
  const add = (name: unknown, value: unknown): void => {
    if (value === undefined) return;
    if (Array.isArray(value)) for (const item of value) flat.push(String(name), String(item));
    else flat.push(String(name), String(value));
  };
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const [name, value] of headers as Iterable<[string, unknown]>) add(name, value);
  } else {
    for (const [name, value] of Object.entries(headers)) add(name, value);
  }
  return flat;
}
