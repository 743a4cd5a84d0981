import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { StoredResponse } from '@breakwater/idempotency';

/** An AES-256-GCM key for responses at rest, with the id stored beside each record (for rotation). */
export interface EncryptionKey {
  /** 1-64 characters of `[A-Za-z0-9_-]`. */
  readonly id: string;
  /** 32 bytes. */
  readonly key: Uint8Array;
}

interface Wire {
  s: number;
  h: [string, string][];
  b: string | null;
}

const ENCRYPTED = 'enc1.';
const KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Turns stored responses into the string kept in Redis and back: JSON with the body in base64, optionally
 * sealed with AES-256-GCM (random 96-bit IV, the record key as associated data so a sealed response cannot be
 * moved to another key). New records use the first key; every listed key can still open older ones. With keys,
 * an unsealed record is refused.
 */
export class ResponseCodec {
  readonly #keys: readonly EncryptionKey[];

  constructor(keys: readonly EncryptionKey[]) {
    this.#keys = keys;
  }

  encode(recordKey: string, response: StoredResponse): string {
    const wire: Wire = {
      s: response.status,
      h: response.headers.map(([name, value]) => [name, value]),
      b: response.body === null ? null : Buffer.from(response.body).toString('base64'),
    };
    const json = JSON.stringify(wire);
    const key = this.#keys[0];
    if (key === undefined) return json;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.key, iv);
    cipher.setAAD(Buffer.from(recordKey, 'utf8'));
    const sealed = Buffer.concat([iv, Buffer.alloc(16), cipher.update(json, 'utf8'), cipher.final()]);
    cipher.getAuthTag().copy(sealed, 12);
    return `${ENCRYPTED}${key.id}.${sealed.toString('base64')}`;
  }

  decode(recordKey: string, value: string): StoredResponse {
    let json = value;
    if (value.startsWith(ENCRYPTED)) {
      const dot = value.indexOf('.', ENCRYPTED.length);
      const id = value.slice(ENCRYPTED.length, dot);
      const key = this.#keys.find((k) => k.id === id);
      if (dot < 0 || key === undefined) {
        throw new Error(
          `redisStore: a stored response is sealed with an unknown encryption key id ${JSON.stringify(id.slice(0, 64))}`,
        );
      }
      const sealed = Buffer.from(value.slice(dot + 1), 'base64');
      const decipher = createDecipheriv('aes-256-gcm', key.key, sealed.subarray(0, 12));
      decipher.setAAD(Buffer.from(recordKey, 'utf8'));
      decipher.setAuthTag(sealed.subarray(12, 28));
      json = Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8');
    } else if (this.#keys.length > 0) {
      // With keys, only a sealed record is trusted: a plain one could have been planted by anyone who can
      // write to Redis, and the seal's tamper check would never run.
      throw new Error('redisStore: a stored response is not sealed, but encryptionKeys are set');
    }
    const wire = JSON.parse(json) as Wire;
    return {
      status: wire.s,
      headers: wire.h.map(([name, value]) => [name, value] as const),
      body: wire.b === null ? null : new Uint8Array(Buffer.from(wire.b, 'base64')),
    };
  }
}

/** Validates the `encryptionKeys` option. */
export function readEncryptionKeys(value: unknown): readonly EncryptionKey[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(
      'redisStore: encryptionKeys must be a non-empty array of { id, key } (the first one seals new records)',
    );
  }
  const ids = new Set<string>();
  return Object.freeze(
    value.map((entry: unknown, i) => {
      const { id, key } = (entry ?? {}) as { id?: unknown; key?: unknown };
      if (typeof id !== 'string' || !KEY_ID.test(id)) {
        throw new TypeError(`redisStore: encryptionKeys[${i}].id must be 1-64 characters of [A-Za-z0-9_-]`);
      }
      if (!(key instanceof Uint8Array) || key.byteLength !== 32) {
        throw new RangeError(`redisStore: encryptionKeys[${i}].key must be 32 bytes (AES-256)`);
      }
      if (ids.has(id))
        throw new TypeError(`redisStore: encryptionKeys ids must be unique, ${JSON.stringify(id)} repeats`);
      ids.add(id);
      return Object.freeze({ id, key: new Uint8Array(key) });
    }),
  );
}
