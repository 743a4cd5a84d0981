import { BreakwaterError, BrokenCircuitError, ExecutionContext, TimeoutError } from '@breakwater/core';
import { describe, expect, it } from 'vitest';
import {
  handleHttpFailures,
  handleRetryableHttpFailures,
  isHttpFailure,
  isNetworkError,
} from './failures.js';
import { HttpStatusError } from './http-status-error.js';
import { httpRequestKey } from './request-info.js';

const withCode = (code: string): Error => Object.assign(new Error(code), { code });

describe('isNetworkError', () => {
  it.each([
    'ECONNRESET',
    'ECONNREFUSED',
    'ENOTFOUND',
    'EAI_AGAIN',
    'EPIPE',
    'UND_ERR_SOCKET',
    'UND_ERR_CONNECT_TIMEOUT',
  ])('recognises %s, directly and as the cause of a fetch failed TypeError', (code) => {
    expect(isNetworkError(withCode(code))).toBe(true);
    expect(isNetworkError(new TypeError('fetch failed', { cause: withCode(code) }))).toBe(true);
  });

  it('recognises an AggregateError of dual-stack connection failures', () => {
    const cause = new AggregateError([withCode('ECONNREFUSED'), withCode('ENETUNREACH')]);
    expect(isNetworkError(new TypeError('fetch failed', { cause }))).toBe(true);
  });

  it.each([
    ['an abort', new DOMException('aborted', 'AbortError')],
    ['an undici abort', withCode('UND_ERR_ABORTED')],
    ['an invalid argument', withCode('UND_ERR_INVALID_ARG')],
    ['a plain TypeError', new TypeError('x is not a function')],
    [
      'a fetch failure with an unrelated cause',
      new TypeError('fetch failed', { cause: new Error('bad header') }),
    ],
    ['a string', 'ECONNRESET'],
    ['null', null],
  ])('does not count %s', (_name, error) => {
    expect(isNetworkError(error)).toBe(false);
  });

  it('stops on cause cycles', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(isNetworkError(a)).toBe(false);
  });
});

describe('HTTP shouldHandle predicates', () => {
  const context = (retryable?: boolean): ExecutionContext => {
    const ctx = ExecutionContext.create({ key: 'https://a.example' });
    if (retryable !== undefined) {
      ctx.set(httpRequestKey, {
        method: 'POST',
        url: 'https://a.example/',
        origin: 'https://a.example',
        headers: new Headers(),
        retryable,
      });
    }
    return ctx;
  };
  const status = new HttpStatusError(503, undefined, undefined);

  it('counts failure statuses, network errors and timeouts, nothing else', () => {
    expect(isHttpFailure(status)).toBe(true);
    expect(isHttpFailure(new TimeoutError(10))).toBe(true);
    expect(isHttpFailure(withCode('ECONNRESET'))).toBe(true);
    expect(isHttpFailure(new BrokenCircuitError(5))).toBe(false);
    expect(isHttpFailure(new Error('bug'))).toBe(false);
    expect(handleHttpFailures({ error: status, context: context(false) })).toBe(true);
  });

  it('retries only requests that may be sent again', () => {
    expect(handleRetryableHttpFailures({ error: status, context: context(true) })).toBe(true);
    expect(handleRetryableHttpFailures({ error: status, context: context(false) })).toBe(false);
    expect(handleRetryableHttpFailures({ error: status, context: context() })).toBe(true);
    expect(handleRetryableHttpFailures({ error: new Error('bug'), context: context(true) })).toBe(false);
  });

  it('HttpStatusError is a BreakwaterError with a stable code', () => {
    expect(status).toBeInstanceOf(BreakwaterError);
    expect(status.code).toBe('ERR_BREAKWATER_HTTP_STATUS');
    expect(status.message).toBe('HTTP 503 counts as a failure');
  });
});
