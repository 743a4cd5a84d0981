import {
  type Context,
  ExecutionContext,
  functionOption,
  neverAbortedSignal,
  raceAbort,
} from '@breakwater/core';
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
import { discardBody } from './discard-body.js';
import { HttpStatusError } from './http-status-error.js';
import { type HttpResilience, type ResilienceOptions, readResilienceOptions } from './options.js';
import { isReplayableFetchBody } from './replayable-body.js';
import {
  type HttpHeaderReader,
  type HttpRequestInfo,
  httpRequestKey,
  isIdempotentMethod,
  upperCaseMethod,
} from './request-info.js';
import { parseRetryAfter } from './retry-after.js';
import { urlOrigin } from './url-origin.js';

/** Any fetch implementation: the global one, undici's, or a test double with the same shape. */
export type FetchFunction = (input: never, init?: never) => Promise<unknown>;

/** Options of {@link resilientFetch}: the resilience options plus the fetch to wrap. */
export type ResilientFetchOptions<F extends FetchFunction = typeof globalThis.fetch> = ResilienceOptions & {
  /**
   * The fetch to wrap, e.g. `undici.fetch`.
   * @default globalThis.fetch, looked up at each call (so later stubs apply)
   */
  fetch?: F | undefined;
};

interface RequestLike {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  readonly body: unknown;
  readonly signal: AbortSignal;
}

interface InitLike {
  method?: string;
  headers?: ConstructorParameters<typeof Headers>[0];
  body?: unknown;
  signal?: AbortSignal | null;
}

type AnyFetch = (input: unknown, init?: InitLike) => Promise<Response>;

/**
 * Wraps fetch in a resilience pipeline: the standard one (per-origin bulkhead, total timeout, retry,
 * per-origin circuit breaker, attempt timeout) or your own. The result has the wrapped fetch's exact
 * signature. Failure statuses (408, 429, 500, 502, 503, 504) and network errors are retried and counted
 * inside the pipeline, but the caller gets the last response back as fetch would return it (unless
 * `throwOnStatus`); open breakers, full bulkheads and timeouts reject with a `BreakwaterError`.
 *
 * @example
 * ```ts
 * const fetch = resilientFetch({ totalTimeoutMs: 10_000, retry: { maxAttempts: 4 } });
 * const res = await fetch('https://api.example.com/items', { signal });
 * ```
 */
export function resilientFetch<F extends FetchFunction = typeof globalThis.fetch>(
  options?: ResilientFetchOptions<F>,
): F {
  const { settings, read } = readResilienceOptions('resilientFetch', options, ['fetch']);
  const wrapped = functionOption<AnyFetch>('resilientFetch', 'fetch', read.fetch);
  return function fetch(input: unknown, init?: InitLike): Promise<Response> {
    try {
      return new FetchCall(settings, wrapped ?? (globalThis.fetch as AnyFetch), input, init).run();
    } catch (error) {
      return Promise.reject(error);
    }
  } as unknown as F;
}

class FetchRequestInfo implements HttpRequestInfo {
  readonly method: string;
  readonly origin: string;
  retryable = true;
  /** The URL as given, until `url` is first read and it is parsed into its serialization. */
  #url: string;
  #parsed: boolean;
  readonly #request: RequestLike | undefined;
  readonly #init: InitLike | undefined;
  #headers: HttpHeaderReader | undefined;

  constructor(method: string, input: unknown, request: RequestLike | undefined, init: InitLike | undefined) {
    this.method = method;
    if (input instanceof URL) {
      // A URL object can change after the call: keep what it says now.
      this.#url = input.href;
      this.#parsed = true;
      this.origin = input.origin;
    } else {
      this.#url = request !== undefined ? request.url : String(input);
      this.#parsed = false;
      this.origin = urlOrigin(this.#url); // throws for an invalid URL, before anything runs
    }
    this.#request = request;
    this.#init = init;
  }

  /** Parsed on first read: the origin is all most requests need. */
  get url(): string {
    if (!this.#parsed) {
      this.#url = new URL(this.#url).href;
      this.#parsed = true;
    }
    return this.#url;
  }

  /** Made on first read: most requests never need their headers parsed here. */
  get headers(): HttpHeaderReader {
    if (this.#headers === undefined) {
      const init = this.#init?.headers;
      this.#headers = init !== undefined ? new Headers(init) : (this.#request?.headers ?? new Headers());
    }
    return this.#headers;
  }
}

/** One call of a resilient fetch: the state its attempts share. */
class FetchCall {
  readonly #settings: HttpResilience;
  readonly #fetch: AnyFetch;
  readonly #input: unknown;
  readonly #init: InitLike | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #info: FetchRequestInfo;
  #attempts = 0;
  #lastError: unknown;
  /** The last failed response, body unread: the caller's answer if no later attempt does better. */
  #held: Response | undefined;
  #settled = false;
  readonly #attempt = (context: Context): Promise<Response> => this.#send(context as ExecutionContext);

  constructor(settings: HttpResilience, fetch: AnyFetch, input: unknown, init: InitLike | undefined) {
    this.#settings = settings;
    this.#fetch = fetch;
    this.#input = input;
    this.#init = init;
    const request = isRequestLike(input) ? input : undefined;
    const method = upperCaseMethod(init?.method ?? request?.method ?? 'GET');
    const info = new FetchRequestInfo(method, input, request, init);
    // A Request's own body is a stream: it can be read once, so only a body given in init is replayable. fetch
    // uses the Request's body when init's is null or missing.
    const replayable = init?.body != null ? isReplayableFetchBody(init.body) : request?.body == null;
    info.retryable =
      replayable &&
      (isIdempotentMethod(method) ||
        (settings.honorsIdempotencyKeys(info.origin) && info.headers.has('idempotency-key')));
    this.#info = info;
    this.#signal = init?.signal ?? request?.signal ?? undefined;
  }

  async run(): Promise<Response> {
    const signal = this.#signal;
    const info = this.#info;
    const context = ExecutionContext.create({ signal, key: info.origin });
    context.set(httpRequestKey, info);
    try {
      const running = requestStartChannel.hasSubscribers
        ? runRequestStart(context, info, () => this.#settings.policy.execute(this.#attempt, context))
        : this.#settings.policy.execute(this.#attempt, context);
      const response = await (signal === undefined ? running : raceAbort(running, signal, discardBody));
      if (typeof (response as Partial<Response> | undefined)?.status !== 'number') {
        // A policy answered without a response: the caller gets the held one, or the last error.
        throw (
          this.#lastError ??
          new TypeError(
            'resilientFetch: the pipeline fulfilled without a response; its policies must return the attempt',
          )
        );
      }
      // A policy (a fallback, say) may answer with something other than the failed response it held.
      const held = this.#held;
      this.#held = undefined;
      if (held !== undefined && held !== response) discardBody(held);
      this.#answered(context, response.status, undefined);
      return response;
    } catch (error) {
      const held = this.#held;
      this.#held = undefined;
      if (held !== undefined) {
        if (error instanceof HttpStatusError && error.response === held) {
          if (!this.#settings.throwOnStatus) {
            this.#answered(context, held.status, undefined);
            return held;
          }
        } else {
          discardBody(held);
        }
      }
      this.#answered(context, error instanceof HttpStatusError ? error.status : undefined, error);
      throw error;
    } finally {
      this.#settled = true;
    }
  }

  #answered(context: Context, statusCode: number | undefined, error: unknown): void {
    if (requestEndChannel.hasSubscribers) {
      publishRequestEnd(context, this.#info, this.#attempts, statusCode, error);
    }
  }

  async #send(context: ExecutionContext): Promise<Response> {
    if (this.#attempts > 0) {
      // Never resend what must not be sent twice, whatever retry policy the caller composed.
      if (!this.#info.retryable) throw this.#lastError;
      const held = this.#held;
      this.#held = undefined;
      if (held !== undefined) discardBody(held);
    }
    const attempt = ++this.#attempts;
    const init: InitLike = { ...this.#init };
    // undici.fetch links every signal it gets to one of its own (about 3 µs): a call that nothing can abort, with
    // no caller signal and no timeout, passes none.
    const signal = context.signal;
    if (signal !== neverAbortedSignal) init.signal = signal;
    let response: Response;
    try {
      response = await (attemptStartChannel.hasSubscribers
        ? this.#sendObserved(context, attempt, init)
        : this.#fetch(this.#input, init));
    } catch (error) {
      this.#lastError = error;
      if (attemptEndChannel.hasSubscribers) {
        publishAttemptEnd(context, this.#info, attempt, undefined, error, undefined);
      }
      throw error;
    }
    if (attemptEndChannel.hasSubscribers) {
      publishAttemptEnd(context, this.#info, attempt, response.status, undefined, response.headers);
    }
    const status = response.status;
    if (this.#settings.failureStatuses[status] !== 1) {
      if (this.#settled) discardBody(response);
      return response;
    }
    const error = new HttpStatusError(
      status,
      parseRetryAfter(response.headers.get('retry-after'), Date.now()),
      response,
    );
    this.#lastError = error;
    if (this.#settled) {
      discardBody(response);
    } else {
      // Attempts a policy runs side by side can each fail: only the last is kept for the caller.
      if (this.#held !== undefined) discardBody(this.#held);
      this.#held = response;
    }
    throw error;
  }

  /** Sends an attempt that attempt-start subscribers may add headers to and scope. */
  #sendObserved(context: ExecutionContext, attempt: number, init: InitLike): Promise<Response> {
    const start = new AttemptStart(context, this.#info, attempt);
    start.publish();
    const added = start.headers;
    if (added !== undefined) {
      const request = isRequestLike(this.#input) ? this.#input : undefined;
      const headers = new Headers(init.headers ?? request?.headers);
      for (const [name, value] of added) headers.set(name, value);
      init.headers = headers;
    }
    return start.send(() => this.#fetch(this.#input, init));
  }
}

function isRequestLike(input: unknown): input is RequestLike {
  return (
    typeof input === 'object' &&
    input !== null &&
    !(input instanceof URL) &&
    typeof (input as RequestLike).url === 'string' &&
    typeof (input as RequestLike).method === 'string'
  );
}
