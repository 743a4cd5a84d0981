import { createHash, randomUUID } from 'node:crypto';
import {
  booleanOption,
  describeValue,
  functionOption,
  integerOption,
  oneOfOption,
  readOptions,
} from '@breakwater/core';
import { LRUCache } from 'lru-cache';
import { IdempotencyConflictError, IdempotencyKeyInvalidError, IdempotencyKeyReusedError } from './errors.js';
import { methodsOption, TOKEN } from './idempotency-options.js';
import {
  DEFAULT_MAX_KEY_LENGTH,
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENT_REPLAYED_HEADER,
  type KeyEncoding,
  parseIdempotencyKey,
  serializeIdempotencyKey,
} from './key.js';

/** Options of {@link withIdempotencyKey}. */
export interface WithIdempotencyKeyOptions {
  /** Methods that get a key when the caller did not supply one. @default ["POST", "PATCH"] */
  methods?: readonly string[];
  /** The request header. @default "Idempotency-Key" */
  header?: string;
  /** How generated keys are written: the draft's `"..."` sf-string, or bare (`raw`, for Stripe-style servers). @default "sf-string" */
  keyEncoding?: KeyEncoding;
  /** Makes a key; must be unpredictable. @default crypto.randomUUID (CSPRNG UUIDv4; never Math.random) */
  generate?: () => string;
  /**
   * Whether a 422 answer throws {@link IdempotencyKeyReusedError}, and a problem+json about the key throws
   * {@link IdempotencyKeyInvalidError} (400) or {@link IdempotencyConflictError} (409, still in progress); the
   * response rides on the error, body unread. Turn it off for servers that use 422 for ordinary validation
   * errors.
   * @default true
   */
  throwOnKeyErrors?: boolean;
  /**
   * Whether a caller-supplied key sent again (same method and URL) with another body throws
   * {@link IdempotencyKeyReusedError} before anything is sent. Only value bodies (string, bytes,
   * URLSearchParams) are compared.
   * @default true
   */
  detectKeyReuse?: boolean;
  /** How many caller keys the reuse check remembers (LRU). @default 1000 */
  maxReuseEntries?: number;
  /** How long the reuse check remembers a key, in milliseconds. @default 86400000 (24 h) */
  reuseTtlMs?: number;
}

/** What {@link idempotencyInfo} tells about a response. */
export interface IdempotencyInfo {
  /** The key the request carried; persist it to retry the same operation later. */
  readonly key: string;
  /** Whether the caller supplied the key (otherwise it was generated for this one call). */
  readonly supplied: boolean;
  /** Whether the server answered with a replay of an earlier response (`Idempotent-Replayed: true`). */
  readonly replayed: boolean;
}

const infos = new WeakMap<object, IdempotencyInfo>();

/** The idempotency key and replay flag of a response returned by a {@link withIdempotencyKey} fetch. */
export function idempotencyInfo(response: object): IdempotencyInfo | undefined {
  return infos.get(response);
}

interface RequestLike {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
}

interface InitLike {
  method?: string;
  headers?: ConstructorParameters<typeof Headers>[0];
  body?: unknown;
  [key: string]: unknown;
}

type AnyFetch = (input: unknown, init?: InitLike) => Promise<Response>;

const OWNER = 'withIdempotencyKey';
const PROBLEM_PEEK_BYTES = 65_536;

/**
 * Wraps a fetch so that every POST and PATCH carries an `Idempotency-Key`: the caller's (validated; a
 * malformed one is a TypeError) or one generated once per call. Put it outside `resilientFetch` from
 * `@breakwater/http`: every attempt of the call then sends the same key, and that is what lets `resilientFetch`
 * retry a POST to an origin declared in `honorsIdempotencyKeys`. Adding a key never makes a request retryable
 * by itself.
 *
 * A generated key only protects the retries inside one call. A business-level retry (a re-run job, a user
 * submitting again) needs a key the application creates and stores with the operation, passed in the header.
 *
 * @example
 * const fetch = withIdempotencyKey(resilientFetch({ honorsIdempotencyKeys: ['https://api.example.com'] }));
 * const res = await fetch('https://api.example.com/payments', { method: 'POST', body });
 * idempotencyInfo(res); // { key: '...', supplied: false, replayed: false }
 */
export function withIdempotencyKey<
  F extends (input: never, init?: never) => Promise<unknown> = typeof globalThis.fetch,
>(fetch: F, options?: WithIdempotencyKeyOptions): F {
  if (typeof fetch !== 'function')
    throw new TypeError(`${OWNER}: fetch must be a function, received ${describeValue(fetch)}`);
  const o = readOptions(OWNER, options, [
    'methods',
    'header',
    'keyEncoding',
    'generate',
    'throwOnKeyErrors',
    'detectKeyReuse',
    'maxReuseEntries',
    'reuseTtlMs',
  ]);
  const methods = methodsOption('methods', o.methods, ['POST', 'PATCH'], OWNER);
  const header = o.header ?? IDEMPOTENCY_KEY_HEADER;
  if (typeof header !== 'string' || !TOKEN.test(header)) {
    throw new TypeError(
      `${OWNER}: header must be a field name (an RFC 9110 token), received ${describeValue(header)}`,
    );
  }
  const keyEncoding = oneOfOption(OWNER, 'keyEncoding', o.keyEncoding, ['sf-string', 'raw'], 'sf-string');
  const generate = functionOption(OWNER, 'generate', o.generate, randomUUID);
  const throwOnKeyErrors = booleanOption(OWNER, 'throwOnKeyErrors', o.throwOnKeyErrors, true);
  const detectKeyReuse = booleanOption(OWNER, 'detectKeyReuse', o.detectKeyReuse, true);
  const maxReuseEntries = integerOption(OWNER, 'maxReuseEntries', o.maxReuseEntries, 1000, { min: 1 });
  const reuseTtlMs = integerOption(OWNER, 'reuseTtlMs', o.reuseTtlMs, 86_400_000, { min: 1 });
  const seen = detectKeyReuse
    ? new LRUCache<string, string>({ max: maxReuseEntries, ttl: reuseTtlMs })
    : undefined;
  const inner = fetch as unknown as AnyFetch;

  const keyed = async (input: unknown, init?: InitLike): Promise<Response> => {
    const request = isRequestLike(input) ? input : undefined;
    const method = String(init?.method ?? request?.method ?? 'GET').toUpperCase();
    if (!methods.has(method)) return inner(input, init);
    const headers = new Headers(init?.headers ?? request?.headers);
    const given = headers.get(header);
    let key: string;
    if (given !== null) {
      const parsed = parseIdempotencyKey(given, { maxKeyLength: DEFAULT_MAX_KEY_LENGTH });
      if (!parsed.ok) throw new TypeError(`${OWNER}: invalid ${header} header: ${parsed.detail}`);
      key = parsed.key;
      if (seen !== undefined) checkReuse(seen, method, request?.url ?? String(input), key, init?.body);
    } else {
      key = generate();
      headers.set(header, serializeIdempotencyKey(key, keyEncoding));
    }
    const supplied = given !== null;
    let response: Response;
    try {
      response = await inner(input, { ...init, headers });
    } catch (error) {
      if (typeof error === 'object' && error !== null && Object.isExtensible(error)) {
        Object.defineProperty(error, 'idempotencyKey', { value: key, configurable: true, writable: true });
      }
      throw error;
    }
    infos.set(response, {
      key,
      supplied,
      replayed: response.headers.get(IDEMPOTENT_REPLAYED_HEADER) === 'true',
    });
    if (throwOnKeyErrors) {
      if (response.status === 422) {
        throw new IdempotencyKeyReusedError(
          `${method} ${safeUrl(request?.url ?? String(input))}: the server rejected the idempotency key as reused with a different request (422)`,
          { idempotencyKey: key, response },
        );
      }
      if (response.status === 400 && (await isKeyProblem(response))) {
        throw new IdempotencyKeyInvalidError(
          `${method} ${safeUrl(request?.url ?? String(input))}: the server rejected the idempotency key (400)`,
          { idempotencyKey: key, response },
        );
      }
      if (response.status === 409 && (await isKeyProblem(response))) {
        throw new IdempotencyConflictError(
          `${method} ${safeUrl(request?.url ?? String(input))}: a request with this idempotency key is still in progress (409); retry later with the same key`,
          { idempotencyKey: key, response },
        );
      }
    }
    return response;
  };
  return keyed as unknown as F;
}

function checkReuse(
  seen: LRUCache<string, string>,
  method: string,
  url: string,
  key: string,
  body: unknown,
): void {
  let bytes: Uint8Array | string | undefined;
  if (body === undefined || body === null) bytes = '';
  else if (typeof body === 'string') bytes = body;
  else if (body instanceof ArrayBuffer) bytes = new Uint8Array(body);
  else if (ArrayBuffer.isView(body)) bytes = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  else if (body instanceof URLSearchParams) bytes = body.toString();
  if (bytes === undefined) return;
  const digest = createHash('sha256').update(bytes).digest('hex');
  const slot = `${method} ${url} ${key}`;
  const previous = seen.get(slot);
  if (previous !== undefined && previous !== digest) {
    throw new IdempotencyKeyReusedError(
      `${OWNER}: this Idempotency-Key was already sent to ${method} ${safeUrl(url)} with a different body; use a new key for a new request`,
      { idempotencyKey: key },
    );
  }
  seen.set(slot, digest);
}

/** Whether a 400 answer is a problem+json about the idempotency key (read from a clone, bounded). */
async function isKeyProblem(response: Response): Promise<boolean> {
  const type = response.headers.get('content-type') ?? '';
  if (!type.toLowerCase().includes('problem+json')) return false;
  const length = response.headers.get('content-length');
  if (length === null || Number(length) > PROBLEM_PEEK_BYTES) return false;
  try {
    const problem = JSON.parse(await response.clone().text()) as { type?: unknown; code?: unknown };
    return [problem.type, problem.code].some((v) => typeof v === 'string' && /idempotency/i.test(v));
  } catch {
    return false;
  }
}

/** The URL without credentials or query, for error messages. */
function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
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
