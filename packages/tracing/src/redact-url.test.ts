import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultSensitiveQueryParameters, redactUrl } from './redact-url.js';

describe('redactUrl', () => {
  it.each([
    // user info, with and without a password
    ['https://user:pass@example.com/a', 'https://REDACTED:REDACTED@example.com/a'],
    ['https://token@example.com:8443/a?b=1', 'https://REDACTED:REDACTED@example.com:8443/a?b=1'],
    ['https://u:p%40ss@example.com/', 'https://REDACTED:REDACTED@example.com/'],
    // an @ in the path or query is not user info
    ['https://example.com/@me?mail=a@b.c', 'https://example.com/@me?mail=a@b.c'],
    // presigned S3 URL: values redacted, names and order kept
    [
      'https://bucket.s3.amazonaws.com/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=abc123&X-Amz-Security-Token=tok',
      'https://bucket.s3.amazonaws.com/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED',
    ],
    [
      'https://storage.googleapis.com/b/o?X-Goog-Signature=deadbeef&alt=media',
      'https://storage.googleapis.com/b/o?X-Goog-Signature=REDACTED&alt=media',
    ],
    [
      'https://acct.blob.core.windows.net/c/b?sv=2024&sig=abc%3D',
      'https://acct.blob.core.windows.net/c/b?sv=2024&sig=REDACTED',
    ],
    [
      'https://s3.amazonaws.com/b?AWSAccessKeyId=AKIA&Signature=xyz&Expires=1',
      'https://s3.amazonaws.com/b?AWSAccessKeyId=REDACTED&Signature=REDACTED&Expires=1',
    ],
    // case-sensitive: these are not the listed names
    [
      'https://example.com/?SIG=1&signature=2&x-amz-signature=3',
      'https://example.com/?SIG=1&signature=2&x-amz-signature=3',
    ],
    // a percent-encoded name is what the server reads, so it is caught
    ['https://example.com/?X%2DAmz%2DSignature=abc', 'https://example.com/?X%2DAmz%2DSignature=REDACTED'],
    // repeated parameters, empty values, a fragment
    ['https://example.com/?sig=a&sig=b&sig=', 'https://example.com/?sig=REDACTED&sig=REDACTED&sig=REDACTED'],
    ['https://example.com/p?sig=a#sig=b', 'https://example.com/p?sig=REDACTED#sig=b'],
    // nothing to redact: returned as is
    ['http://127.0.0.1:8080/items?page=2&sig', 'http://127.0.0.1:8080/items?page=2&sig'],
    ['http://[::1]:3000/', 'http://[::1]:3000/'],
  ])('%s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });

  it('takes the sensitive names as a full override of the default list', () => {
    expect(redactUrl('https://e.com/?token=a&sig=b', ['token'])).toBe('https://e.com/?token=REDACTED&sig=b');
    expect(redactUrl('https://e.com/?token=a&sig=b', new Set<string>())).toBe('https://e.com/?token=a&sig=b');
    expect(redactUrl('https://u:p@e.com/?sig=b', [])).toBe('https://REDACTED:REDACTED@e.com/?sig=b');
  });

  it('never lets a sensitive value through and keeps every other byte, for any query', () => {
    const name = fc.oneof(
      fc.constantFrom(...defaultSensitiveQueryParameters),
      fc.stringMatching(/^[a-zA-Z0-9_.-]{1,12}$/),
    );
    const value = fc.stringMatching(/^[a-zA-Z0-9%._~-]{0,16}$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 8 }), (pairs) => {
        const query = pairs.map(([n, v]) => `${n}=${v}`).join('&');
        const result = redactUrl(`https://example.com/path?${query}`);
        const expected = pairs
          .map(([n, v]) => `${n}=${defaultSensitiveQueryParameters.includes(n) ? 'REDACTED' : v}`)
          .join('&');
        expect(result).toBe(`https://example.com/path?${expected}`);
      }),
    );
  });

  it('never keeps user info, whatever it holds', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-zA-Z0-9%:._~!$&'()*+,;=-]{1,20}$/), (userInfo) => {
        expect(redactUrl(`https://${userInfo}@example.com/x`)).toBe(
          'https://REDACTED:REDACTED@example.com/x',
        );
      }),
    );
  });
});
