import { BulkheadRejectedError, TimeoutError } from '@breakwater/core';
import { HttpStatusError } from '@breakwater/http';
import { describe, expect, it } from 'vitest';
import { errorType } from './error-type.js';

describe('errorType', () => {
  it.each([
    ['an HttpStatusError: its status', new HttpStatusError(503, undefined, undefined), '503'],
    ['a breakwater error: its code', new TimeoutError(100), 'ERR_BREAKWATER_TIMEOUT'],
    ['a full bulkhead', new BulkheadRejectedError(1, 0), 'ERR_BREAKWATER_BULKHEAD_FULL'],
    [
      'fetch failed: the socket error in its cause',
      new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) }),
      'ECONNREFUSED',
    ],
    [
      'a dual-stack connect failure: the first inner code',
      new TypeError('fetch failed', {
        cause: new AggregateError([Object.assign(new Error('a'), { code: 'ETIMEDOUT' })], 'connect'),
      }),
      'ETIMEDOUT',
    ],
    [
      'an undici error',
      Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
      'UND_ERR_SOCKET',
    ],
    ['an abort: its name', new DOMException('aborted', 'AbortError'), 'AbortError'],
    ['a TypeError without a code', new TypeError('bad'), 'TypeError'],
    ['a plain Error', new Error('boom'), '_OTHER'],
    [
      'a code that is not low-cardinality',
      Object.assign(new Error('x'), { code: 'no such thing: /a/b?c' }),
      '_OTHER',
    ],
    ['a string', 'oops', '_OTHER'],
    ['undefined', undefined, '_OTHER'],
  ])('%s', (_name, error, expected) => {
    expect(errorType(error)).toBe(expected);
  });

  it('never uses the message', () => {
    expect(errorType(new Error('https://user:secret@example.com/?sig=x'))).toBe('_OTHER');
  });
});
