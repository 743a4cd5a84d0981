import { describe, expect, it } from 'vitest';
import { fallbackCache } from './fallback-cache.js';
import { type FallbackCacheOptions, validateFallbackCacheOptions } from './fallback-cache-options.js';
import { fallbackCacheInterceptor } from './interceptor.js';

type Case = readonly [options: unknown, error: typeof TypeError | typeof RangeError, message: string];

const cases: readonly Case[] = [
  ['nope', TypeError, 'options must be an object, received "nope"'],
  [{ staleIfErrorMS: 10 }, TypeError, 'unknown option "staleIfErrorMS" (did you mean "staleIfErrorMs"?)'],
  [{ mode: 'public' }, RangeError, 'mode must be one of "shared", "private", received "public"'],
  [{ mode: 1 }, TypeError, 'mode must be one of "shared", "private", received 1'],
  [{ methods: 'GET' }, TypeError, 'methods must be an array of methods, received "GET"'],
  [
    { methods: ['GET', 'POST'] },
    TypeError,
    'methods may only hold the safe methods GET, HEAD, OPTIONS, TRACE (upper-case), received "POST"',
  ],
  [
    { methods: ['get'] },
    TypeError,
    'methods may only hold the safe methods GET, HEAD, OPTIONS, TRACE (upper-case), received "get"',
  ],
  [
    { methods: ['QUERY'] },
    TypeError,
    'methods may only hold the safe methods GET, HEAD, OPTIONS, TRACE (upper-case), received "QUERY"',
  ],
  [{ principal: 'user' }, TypeError, 'principal must be a function, received "user"'],
  [{ failureStatuses: 503 }, TypeError, 'failureStatuses must be an array of status codes, received 503'],
  [
    { failureStatuses: [503, 200] },
    RangeError,
    'failureStatuses must hold integers from 400 to 599, received 200',
  ],
  [
    { failureStatuses: ['503'] },
    TypeError,
    'failureStatuses must hold integers from 400 to 599, received "503"',
  ],
  [
    { serveOnBulkheadRejection: 'yes' },
    TypeError,
    'serveOnBulkheadRejection must be a boolean, received "yes"',
  ],
  [
    { staleIfErrorMs: -1 },
    RangeError,
    'staleIfErrorMs must be an integer >= 0 and <= 2147483647, received -1',
  ],
  [
    { staleIfErrorMs: Number.NaN },
    RangeError,
    'staleIfErrorMs must be an integer >= 0 and <= 2147483647, received NaN',
  ],
  [
    { staleIfErrorMs: '5000' },
    TypeError,
    'staleIfErrorMs must be an integer >= 0 and <= 2147483647, received "5000"',
  ],
  [
    { staleIfErrorMs: 2 ** 31 },
    RangeError,
    'staleIfErrorMs must be an integer >= 0 and <= 2147483647, received 2147483648',
  ],
  [
    { maxStaleIfErrorMs: 1.5 },
    RangeError,
    'maxStaleIfErrorMs must be an integer >= 0 and <= 2147483647, received 1.5',
  ],
  [
    { staleIfErrorMs: 10_000, maxStaleIfErrorMs: 5_000 },
    RangeError,
    'staleIfErrorMs (10000) must not exceed maxStaleIfErrorMs (5000)',
  ],
  [{ storeWithoutFreshness: 1 }, TypeError, 'storeWithoutFreshness must be a boolean, received 1'],
  [
    { ignoreRevalidationDirectives: 'true' },
    TypeError,
    'ignoreRevalidationDirectives must be a boolean, received "true"',
  ],
  [{ maxEntries: -1 }, RangeError, 'maxEntries must be an integer >= 0 and <= 16777216, received -1'],
  [
    { maxEntries: Number.POSITIVE_INFINITY },
    RangeError,
    'maxEntries must be an integer >= 0 and <= 16777216, received Infinity',
  ],
  [{ maxBytes: 0.5 }, RangeError, 'maxBytes must be an integer >= 0 and <= 9007199254740991, received 0.5'],
  [
    { maxEntrySize: -5 },
    RangeError,
    'maxEntrySize must be an integer >= 0 and <= 9007199254740991, received -5',
  ],
  [{ maxBytes: 1000, maxEntrySize: 2000 }, RangeError, 'maxEntrySize (2000) must not exceed maxBytes (1000)'],
  [
    { storeHeaders: 'some' },
    TypeError,
    `storeHeaders must be 'all' or an array of header names, received "some"`,
  ],
  [
    { storeHeaders: ['Content-Type'] },
    RangeError,
    'storeHeaders must hold lower-case header names, received "Content-Type"',
  ],
  [
    { storeHeaders: ['x\r\ny'] },
    RangeError,
    'storeHeaders must hold lower-case header names, received "x\\r\\ny"',
  ],
  [{ storeHeaders: ['set-cookie'] }, RangeError, 'storeHeaders cannot keep "set-cookie"; it is never stored'],
  [
    { clock: Date },
    TypeError,
    'clock must be an object with now(), setTimeout() and clearTimeout() methods, received a function',
  ],
];

describe('fallback cache options', () => {
  // The error class, and a message naming the factory, the option and the value received.
  const expectError = (build: () => unknown, error: Case[1], message: string): void => {
    expect(build).toThrow(error);
    expect(build).toThrow(message);
  };

  it.each(cases)('fallbackCache(%j) throws a clear error', (options, error, message) => {
    expectError(() => fallbackCache(options as FallbackCacheOptions), error, `fallbackCache: ${message}`);
    expectError(() => validateFallbackCacheOptions(options), error, `fallbackCache: ${message}`);
  });

  it.each(cases)('fallbackCacheInterceptor(%j) throws the same error', (options, error, message) => {
    expectError(
      () => fallbackCacheInterceptor(options as FallbackCacheOptions),
      error,
      `fallbackCacheInterceptor: ${message}`,
    );
  });

  it('takes shouldHandle on the policy only: the interceptor has no context to hand it', () => {
    expect(() => fallbackCache({ shouldHandle: () => true })).not.toThrow();
    expect(() => fallbackCache({ shouldHandle: 1 as never })).toThrow(
      new TypeError('fallbackCache: shouldHandle must be a function, received 1'),
    );
    expect(() => fallbackCacheInterceptor({ shouldHandle: () => true } as never)).toThrow(
      /fallbackCacheInterceptor: unknown option "shouldHandle"/,
    );
  });

  it('derives dependent defaults instead of rejecting them, and never mutates the options', () => {
    const options = Object.freeze({ maxBytes: 1000, maxStaleIfErrorMs: 60_000 });
    expect(() => fallbackCache(options)).not.toThrow();
    expect(() =>
      validateFallbackCacheOptions({ mode: 'private', methods: ['GET', 'OPTIONS'], storeHeaders: 'all' }),
    ).not.toThrow();
    expect(options).toEqual({ maxBytes: 1000, maxStaleIfErrorMs: 60_000 });
  });
});
