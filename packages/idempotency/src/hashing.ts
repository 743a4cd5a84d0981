import { createHash, type Hash, timingSafeEqual } from 'node:crypto';

/**
 * Hashing of keys and requests. Every field goes in length-prefixed (`<bytes>:<value>,`, a netstring), so no
 * choice of values can make two different tuples hash alike (no delimiter ambiguity: `a:b` + `c` vs `a` + `b:c`).
 */

function field(hash: Hash, value: string): void {
  hash.update(`${Buffer.byteLength(value)}:`);
  hash.update(value);
  hash.update(',');
}

/**
 * The store key of a request: base64url SHA-256 over scope, method, route and client key. The client key never
 * reaches a store in clear, and a key such as `sess:abc` cannot name any other key of a shared database.
 */
export function lookupKey(scope: string, method: string, route: string, clientKey: string): string {
  const hash = createHash('sha256');
  field(hash, 'breakwater-idempotency-v1');
  field(hash, scope);
  field(hash, method);
  field(hash, route);
  field(hash, clientKey);
  return hash.digest('base64url');
}

/** A short SHA-256 of a key for telemetry and events: never the key itself. */
export function keyHash(clientKey: string): string {
  return createHash('sha256').update(clientKey).digest('hex').slice(0, 12);
}

/** The parts of a request that its fingerprint covers besides the body. */
export interface FingerprintParts {
  readonly method: string;
  readonly route: string;
  /** The raw query string, without `?`, as received (no reordering). */
  readonly query: string;
  readonly contentType: string;
  /** Extra request headers the server configured, as name/value pairs. */
  readonly headers: readonly (readonly [string, string])[];
}

/**
 * Computes a request fingerprint incrementally: SHA-256 hex over the length-prefixed parts and then the body
 * bytes, which come last so they can be streamed. The body is hashed, never kept.
 */
export class Fingerprinter {
  readonly #hash: Hash;
  #bytes = 0;

  constructor(parts: FingerprintParts) {
    this.#hash = createHash('sha256');
    field(this.#hash, 'breakwater-fingerprint-v1');
    field(this.#hash, parts.method);
    field(this.#hash, parts.route);
    field(this.#hash, parts.query);
    field(this.#hash, parts.contentType);
    field(this.#hash, String(parts.headers.length));
    for (const [name, value] of parts.headers) {
      field(this.#hash, name);
      field(this.#hash, value);
    }
  }

  /** Body bytes hashed so far. */
  get bytes(): number {
    return this.#bytes;
  }

  update(chunk: Uint8Array | string): void {
    this.#bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
    this.#hash.update(chunk);
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}

/** Compares two fingerprints (hex) in constant time. */
export function sameFingerprint(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Serializes a JSON value with object keys sorted (RFC 8785-style key order), so that two encodings of one
 * document that differ only in key order or whitespace fingerprint alike.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.keys(value)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}
