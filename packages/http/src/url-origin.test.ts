import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { urlOrigin } from './url-origin.js';

/** What `new URL(url).origin` gives, or the error it throws. */
function parsed(url: string): { origin: string } | { error: string } {
  try {
    return { origin: new URL(url).origin };
  } catch (error) {
    return { error: String(error) };
  }
}

function fast(url: string): { origin: string } | { error: string } {
  try {
    return { origin: urlOrigin(url) };
  } catch (error) {
    return { error: String(error) };
  }
}

const schemes = [
  'http://',
  'https://',
  'HTTP://',
  'http:/',
  'http:',
  'http:\\\\',
  'http:///',
  'ftp://',
  'data:',
];
const hosts = [
  '127.0.0.1',
  'api.example.com',
  'API.Example.COM',
  'example.com.',
  '0x7f.1',
  '127.1',
  '1.2.3.256',
  'foo.123',
  '[::1]',
  '[::1',
  'bücher.de',
  'xn--nxasmq6b',
  'xn--zz',
  'exa mple.com',
  'ex\tample.com',
  'ex%41mple.com',
  'a_b.test',
  '',
  ' ',
];
const ports = ['', ':80', ':443', ':0080', ':8080', ':65535', ':65536', ':x', ':'];
const userinfos = ['', 'user@', 'user:pass@', 'u@v@', '@'];
const ends = ['', '/', '?', '#', '\\', ' ', ' /', '\t/', '\n/', '/x y', '?q=a b#f', '/a/../b', '/@host'];

const url = fc
  .tuple(
    fc.constantFrom(...schemes),
    fc.constantFrom(...userinfos),
    fc.constantFrom(...hosts),
    fc.constantFrom(...ports),
    fc.constantFrom(...ends),
    fc.string({ maxLength: 12 }),
  )
  .map(([scheme, userinfo, host, port, end, rest]) => `${scheme}${userinfo}${host}${port}${end}${rest}`);

describe('urlOrigin', () => {
  it('gives what new URL(url).origin gives, or throws when it throws, for every URL', () => {
    // Many runs over few hosts: most calls find their host among the recent ones, as a client's calls do.
    fc.assert(
      fc.property(fc.oneof(url, fc.string()), (input) => {
        expect(fast(input)).toEqual(parsed(input));
      }),
      { numRuns: 20_000 },
    );
  });

  it('throws for an empty or invalid URL every time it is asked, also as the first URL, and repeats a valid answer', async () => {
    vi.resetModules();
    const fresh = (await import('./url-origin.js')).urlOrigin;
    for (let i = 0; i < 2; i++) {
      expect(() => fresh('')).toThrow(TypeError);
      expect(() => fresh('http://')).toThrow(TypeError);
      expect(fresh('HTTP://Example.COM:80/a')).toBe('http://example.com');
    }
  });

  it('tells a recent host from a longer host or another port that starts like it', () => {
    expect(urlOrigin('http://a.test/x')).toBe('http://a.test');
    expect(urlOrigin('http://a.test.evil.example/x')).toBe('http://a.test.evil.example');
    expect(urlOrigin('http://a.test:81/x')).toBe('http://a.test:81');
    expect(urlOrigin('http://a.test@b.test/x')).toBe('http://b.test');
    expect(urlOrigin('http://a.test?q')).toBe('http://a.test');
    expect(urlOrigin('http://a.test')).toBe('http://a.test');
    expect(() => urlOrigin('http://a.test /x')).toThrow(TypeError);
  });

  it('keeps answering right once a recent host has been pushed out by others', () => {
    const origins = Array.from({ length: 20 }, (_, i) => `http://host-${i}.test:${8000 + i}`);
    for (let round = 0; round < 3; round++) {
      for (const origin of origins) expect(urlOrigin(`${origin}/items/${round}?q=1`)).toBe(origin);
    }
    expect(urlOrigin('https://api.test:443/a')).toBe('https://api.test');
    expect(() => urlOrigin('http://api.test:99999/a')).toThrow(TypeError);
  });
});
