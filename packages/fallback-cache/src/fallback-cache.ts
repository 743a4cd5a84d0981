import {
  BasePolicy,
  callOperation,
  type Event,
  type ExecutionContext,
  type Operation,
  shouldHandleError,
} from '@breakwater/core';
import { discardBody, HttpStatusError, httpRequestKey } from '@breakwater/http';
import {
  type CacheCall,
  FallbackCacheCore,
  type FallbackServedEvent,
  type Hit,
  isUnsafeMethod,
  type StoreEvent,
} from './fallback-cache-core.js';
import type { FallbackCacheOptions } from './fallback-cache-options.js';
import { recordFallback } from './fallback-info.js';
import { fallbackReason } from './fallback-reason.js';
import { joinChunks } from './join-chunks.js';
import { FetchResponseHead } from './response-head.js';
import type { ResponseStore } from './response-store.js';

/** What the policy needs of a fetch `Response` (global fetch's, undici's, or a test double's). */
interface ResponseLike {
  readonly status: number;
  readonly headers: Headers;
  readonly body: ReadableStream<Uint8Array> | null;
  readonly bodyUsed: boolean;
  clone(): ResponseLike;
}

/**
 * The stale-if-error fallback cache as a policy for `resilientFetch({ pipeline })`: it stores good GET/HEAD
 * responses that HTTP caching allows, and when the call inside fails (failure status, network error,
 * timeout, open circuit, full bulkhead) answers with the stored response, stale within its
 * stale-if-error window. Outside an HTTP pipeline (no `httpRequestKey` in the context) it does nothing.
 */
export class FallbackCachePolicy extends BasePolicy {
  /**
   * Emitted when a stored response answers a failed call. Channel:
   * `breakwater:fallback-cache:fallback-served`.
   */
  readonly onFallbackServed: Event<FallbackServedEvent>;
  /** Emitted when a response is stored. Channel: `breakwater:fallback-cache:store`. */
  readonly onStore: Event<StoreEvent>;
  readonly #core: FallbackCacheCore;
  #warnedInsideRetry = false;

  constructor(core: FallbackCacheCore) {
    super();
    this.#core = core;
    this.onFallbackServed = core.onFallbackServed;
    this.onStore = core.onStore;
  }

  /** How many responses are stored. */
  get size(): number {
    return this.#core.store.size;
  }

  /** How many bytes the stored responses count (bodies, header fields and a fixed overhead each). */
  get bytes(): number {
    return this.#core.store.bytes;
  }

  /** Drops every stored response. */
  clear(): void {
    this.#core.store.clear();
  }

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    const request = context.get(httpRequestKey);
    if (request === undefined) return callOperation(fn, context);
    if (context.attempt > 1 && !this.#warnedInsideRetry) this.#warnInsideRetry();
    const call = this.#core.begin(request);
    if (call === undefined) {
      if (!isUnsafeMethod(request.method)) return callOperation(fn, context);
      return callOperation(fn, context).then((result) => {
        if (isResponseLike(result)) {
          const headers = result.headers;
          this.#core.invalidate(
            request,
            result.status,
            headers.get('location'),
            headers.get('content-location'),
          );
        }
        return result;
      });
    }
    return callOperation(fn, context).then(
      (result) => {
        if (isResponseLike(result)) {
          try {
            this.#store(call, result, context);
          } catch {
            // Storing fails open (FBC-LIM-3): the caller gets its response whatever the cache made of it.
          }
        }
        return result;
      },
      (error: unknown) => this.#recover(call, error, context),
    );
  }

  /**
   * Inside a retry the cache answers the first failed attempt and the retry never happens (SEC-ORDER-2).
   * A pipeline cannot be inspected when the policy is built, so this is said once, when it is seen.
   */
  #warnInsideRetry(): void {
    this.#warnedInsideRetry = true;
    process.emitWarning(
      'fallbackCache runs inside a retry (it saw attempt > 1), so it answers failures before the retry can; put it outermost: pipeline(fallbackCache(...), standardPipeline(...))',
      { code: 'BREAKWATER_FALLBACK_INSIDE_RETRY' },
    );
  }

  #store(call: CacheCall, response: ResponseLike, context: ExecutionContext): void {
    const core = this.#core;
    const plan = core.plan(call, new FetchResponseHead(response as unknown as Response), true);
    if (plan === undefined) return;
    const limit = plan.bodyLimit;
    const body = response.body;
    if (body === null) {
      core.commit(call, plan, new Uint8Array(0), context);
      return;
    }
    if (response.bodyUsed || body.locked) return;
    // Content-Length counts encoded bytes; the body is read decoded, so it only rules out identity bodies.
    const declared = Number(response.headers.get('content-length') ?? Number.NaN);
    if (declared > limit && response.headers.get('content-encoding') === null) return;
    let copy: ResponseLike;
    try {
      copy = response.clone();
    } catch {
      return;
    }
    void readBounded(copy.body!, limit, core.store).then((bytes) => {
      if (bytes !== undefined) core.commit(call, plan, bytes, context);
    });
  }

  #recover<T>(call: CacheCall, error: unknown, context: ExecutionContext): T {
    const core = this.#core;
    if (context.callerSignal?.aborted) throw error;
    const reason = fallbackReason(error, core.settings);
    if (reason === undefined || !shouldHandleError(core.settings.shouldHandle, error, context)) throw error;
    let hit: Hit | undefined;
    let response: Response;
    try {
      hit = core.lookup(call);
      if (hit === undefined) throw error;
      response = toResponse(hit, call.url!);
    } catch {
      throw error; // nothing servable, or a stored head the Response constructor rejects: fail open
    }
    if (error instanceof HttpStatusError && error.response !== undefined) discardBody(error.response);
    recordFallback(response, hit, reason, error);
    core.served(call, hit, reason, error, context);
    return response as T;
  }
}

/**
 * A stale-if-error HTTP fallback cache for `resilientFetch({ pipeline })`. Put it outermost, so that it
 * answers only after retries, breaker and timeouts inside gave up.
 *
 * @example
 * ```ts
 * const cache = fallbackCache({ principal: (req) => userIdOf(req) });
 * const fetch = resilientFetch({ pipeline: pipeline(cache, standardPipeline()) });
 * ```
 */
export function fallbackCache(options?: FallbackCacheOptions): FallbackCachePolicy {
  return new FallbackCachePolicy(new FallbackCacheCore('fallbackCache', options, true));
}

function isResponseLike(value: unknown): value is ResponseLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ResponseLike).status === 'number' &&
    typeof (value as ResponseLike).clone === 'function' &&
    typeof (value as ResponseLike).headers?.get === 'function'
  );
}

function toResponse(hit: Hit, url: string): Response {
  const { entry } = hit;
  const status = entry.status;
  const nullBody = hit.headOnly || status === 204 || status === 205 || status === 304;
  const response = new Response(nullBody ? null : entry.body, {
    status,
    statusText: entry.statusText,
    headers: hit.headers as [string, string][],
  });
  // A constructed Response has an empty url; code resolving links against it expects the request's.
  Object.defineProperty(response, 'url', { value: url, enumerable: true });
  return response;
}

/**
 * Reads a body for storing, giving up (and cancelling this copy only) as soon as it passes `limit` or the
 * store's in-flight budget: memory never holds more than that for one response. Never rejects.
 */
async function readBounded(
  body: ReadableStream<Uint8Array>,
  limit: number,
  store: ResponseStore,
): Promise<Uint8Array | undefined> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (total + value.byteLength > limit || !store.reserve(value.byteLength)) {
        reader.cancel().catch(() => {});
        return undefined;
      }
      total += value.byteLength;
      chunks.push(value);
    }
  } catch {
    return undefined; // the body broke off: nothing to store
  } finally {
    store.release(total);
  }
  return joinChunks(chunks, total);
}
