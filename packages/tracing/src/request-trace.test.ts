import { describe, expect, it } from 'vitest';
import { commonAttributes } from './request-trace.js';

describe('commonAttributes', () => {
  it.each([
    [
      'GET',
      'http://127.0.0.1:8080',
      { 'http.request.method': 'GET', 'server.address': '127.0.0.1', 'server.port': 8080 },
    ],
    [
      'POST',
      'https://api.example.com',
      { 'http.request.method': 'POST', 'server.address': 'api.example.com', 'server.port': 443 },
    ],
    [
      'QUERY',
      'http://example.com',
      { 'http.request.method': 'QUERY', 'server.address': 'example.com', 'server.port': 80 },
    ],
    [
      'DELETE',
      'http://[::1]:3000',
      { 'http.request.method': 'DELETE', 'server.address': '::1', 'server.port': 3000 },
    ],
    [
      'GET',
      'https://[2001:db8::1]',
      { 'http.request.method': 'GET', 'server.address': '2001:db8::1', 'server.port': 443 },
    ],
    [
      'PURGE',
      'http://cache.local:81',
      {
        'http.request.method': '_OTHER',
        'http.request.method_original': 'PURGE',
        'server.address': 'cache.local',
        'server.port': 81,
      },
    ],
  ])('%s %s', (method, origin, expected) => {
    expect(commonAttributes(method, origin)).toEqual(expected);
  });
});
