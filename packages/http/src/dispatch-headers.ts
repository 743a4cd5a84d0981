import type { Dispatcher } from 'undici';
import type { HttpHeaderReader } from './request-info.js';

/**
 * Reads the request headers of an undici dispatch (`opts.headers` in an interceptor) in any shape undici
 * accepts (a flat array, `Headers`, a plain object), case-insensitively and without copying them. A one-shot
 * iterable is opaque: reading it here would take it from undici.
 */
export function dispatchHeaderReader(headers: Dispatcher.DispatchOptions['headers']): HttpHeaderReader {
  return new DispatchHeaders(headers);
}

class DispatchHeaders implements HttpHeaderReader {
  readonly #headers: Dispatcher.DispatchOptions['headers'];

  constructor(headers: Dispatcher.DispatchOptions['headers']) {
    this.#headers = headers;
  }

  get(name: string): string | null {
    const headers = this.#headers as unknown;
    if (headers === null || headers === undefined) return null;
    const wanted = name.toLowerCase();
    if (Array.isArray(headers)) {
      let found: string | null = null;
      for (let i = 0; i + 1 < headers.length; i += 2) {
        if (String(headers[i]).toLowerCase() === wanted) {
          found = found === null ? String(headers[i + 1]) : `${found}, ${String(headers[i + 1])}`;
        }
      }
      return found;
    }
    // Headers (global or undici's own class) compare names case-insensitively; a Map's get would not.
    if (Object.prototype.toString.call(headers) === '[object Headers]') return (headers as Headers).get(name);
    // A Map can be read again; any other one-shot iterable cannot without taking it from undici: opaque.
    if (headers instanceof Map) return findEntry(headers, wanted);
    if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') return null;
    return findEntry(Object.entries(headers as Record<string, unknown>), wanted);
  }

  has(name: string): boolean {
    return this.get(name) !== null;
  }
}

/** The value of the entries named `wanted` (lower case), joined as HTTP joins repeated fields. */
function findEntry(entries: Iterable<[unknown, unknown]>, wanted: string): string | null {
  for (const [key, value] of entries) {
    if (String(key).toLowerCase() === wanted && value !== undefined) {
      return Array.isArray(value) ? value.join(', ') : String(value);
    }
  }
  return null;
}
