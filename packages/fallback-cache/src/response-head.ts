import type { IncomingHttpHeaders } from 'node:http';

/** Status line and header fields of a response, as the storage rules read them on either path. */
export interface ResponseHead {
  readonly status: number;
  readonly statusText: string;
  /** The field's lines combined with `, `, or `null` when absent (`set-cookie` is never combined). */
  get(name: string): string | null;
  /** Every field line as `[lower-case name, value]`. */
  entries(): Iterable<readonly [string, string]>;
}

/** A fetch `Response`'s head. */
export class FetchResponseHead implements ResponseHead {
  readonly #response: Response;

  constructor(response: Response) {
    this.#response = response;
  }

  get status(): number {
    return this.#response.status;
  }

  get statusText(): string {
    return this.#response.statusText;
  }

  get(name: string): string | null {
    return this.#response.headers.get(name);
  }

  entries(): Iterable<readonly [string, string]> {
    return this.#response.headers;
  }
}

/** The head undici hands to `onResponseStart`: lower-case names, repeated fields as arrays. */
export class DispatchResponseHead implements ResponseHead {
  readonly status: number;
  readonly statusText: string;
  readonly #headers: IncomingHttpHeaders;

  constructor(status: number, statusText: string | undefined, headers: IncomingHttpHeaders) {
    this.status = status;
    this.statusText = statusText ?? '';
    this.#headers = headers;
  }

  get(name: string): string | null {
    const value = this.#headers[name];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : String(value);
  }

  *entries(): Iterable<readonly [string, string]> {
    for (const name of Object.keys(this.#headers)) {
      const value = this.#headers[name];
      if (value === undefined) continue;
      const lower = name.toLowerCase();
      if (Array.isArray(value)) for (const line of value) yield [lower, String(line)];
      else yield [lower, String(value)];
    }
  }
}
