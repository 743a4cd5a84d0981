import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isIdempotentMethod, upperCaseMethod } from './request-info.js';

describe('upperCaseMethod', () => {
  it('is toUpperCase for every method, returning the usual upper-case ones as they are', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constantFrom(
            'GET',
            'get',
            'Post',
            'POST',
            'PATCH',
            'patch',
            'OPTIONS',
            'QUERY',
            'purge',
            'MKCOL',
          ),
          fc.string(),
        ),
        (method) => {
          expect(upperCaseMethod(method)).toBe(method.toUpperCase());
        },
      ),
    );
  });
});

describe('isIdempotentMethod', () => {
  it('holds for the idempotent methods of RFC 9110 and QUERY, in upper case only', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE', 'QUERY']) {
      expect(isIdempotentMethod(method)).toBe(true);
    }
    for (const method of ['POST', 'PATCH', 'CONNECT', 'get', 'PURGE']) {
      expect(isIdempotentMethod(method)).toBe(false);
    }
  });
});
