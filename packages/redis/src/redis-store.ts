import { describeValue, readOptions } from '@breakwater/core';
import type { ClaimRequest, ClaimResult, IdempotencyStore, StoredResponse } from '@breakwater/idempotency';
import { type EncryptionKey, ResponseCodec, readEncryptionKeys } from './response-codec.js';
import { CLAIM, COMPLETE, RELEASE, RENEW, type Script } from './scripts.js';

/** Arguments of a script call, as node-redis takes them. */
export interface ScriptArguments {
  keys: string[];
  arguments: string[];
}

/**
 * The part of a node-redis (v5) client the store uses: `eval` and `evalSha`. A `createClient()` or
 * `createCluster()` result fits (on a cluster each record is one key, so every script runs on one shard).
 */
export interface RedisScriptingClient {
  evalSha(sha1: string, options: ScriptArguments): Promise<unknown>;
  eval(script: string, options: ScriptArguments): Promise<unknown>;
}

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /** A connected node-redis client. The store never connects, quits or configures it. */
  client: RedisScriptingClient;
  /** Namespace of the store's keys: records are `<prefix>:<base64url SHA-256>`. @default "breakwater:idempotency" */
  prefix?: string;
  /**
   * AES-256-GCM keys that seal stored responses at rest. The first seals new records; all of them open
   * existing ones, so rotate by putting the new key first and dropping the old one after the retention
   * period. Also protect Redis itself with TLS and ACLs.
   * @default no encryption
   */
  encryptionKeys?: readonly EncryptionKey[];
}

/**
 * An idempotency store in Redis, shared by every process and machine of a service. Claims, renewals,
 * completions and releases are single Lua scripts (atomic; owner-conditional except the first claim), expiry
 * runs on the Redis server's clock, and keys are namespaced under `prefix` and hashed by the idempotency core
 * before they arrive, so no client-chosen string ever names a Redis key.
 *
 * @example
 * const client = await createClient({ url: process.env.REDIS_URL }).connect();
 * const idem = idempotency({ store: redisStore({ client }), scope: (req) => req.user.id });
 */
export function redisStore(options: RedisStoreOptions): IdempotencyStore {
  const o = readOptions('redisStore', options, ['client', 'prefix', 'encryptionKeys']);
  const client = o.client as Partial<RedisScriptingClient> | undefined;
  if (
    typeof client !== 'object' ||
    client === null ||
    typeof client.eval !== 'function' ||
    typeof client.evalSha !== 'function'
  ) {
    throw new TypeError(
      `redisStore: client must be a node-redis client (with eval and evalSha), e.g. await createClient({ url }).connect(); received ${describeValue(client)}`,
    );
  }
  const prefix = o.prefix ?? 'breakwater:idempotency';
  if (typeof prefix !== 'string' || prefix.length === 0) {
    throw new TypeError(`redisStore: prefix must be a non-empty string, received ${describeValue(prefix)}`);
  }
  return new RedisStore(
    client as RedisScriptingClient,
    prefix,
    new ResponseCodec(readEncryptionKeys(o.encryptionKeys)),
  );
}

class RedisStore implements IdempotencyStore {
  readonly #client: RedisScriptingClient;
  readonly #prefix: string;
  readonly #codec: ResponseCodec;

  constructor(client: RedisScriptingClient, prefix: string, codec: ResponseCodec) {
    this.#client = client;
    this.#prefix = `${prefix}:`;
    this.#codec = codec;
  }

  async claim(key: string, request: ClaimRequest): Promise<ClaimResult> {
    const recordKey = this.#prefix + key;
    const reply = (await this.#run(CLAIM, recordKey, [
      request.owner,
      request.fingerprint,
      String(request.leaseMs),
      String(request.retentionMs),
      request.takeover ? '1' : '0',
    ])) as [unknown, unknown, unknown?];
    const status = String(reply[0]);
    if (status === 'claimed') return { status, attempt: Number(reply[1]) };
    if (status === 'in_progress') {
      return { status, fingerprint: String(reply[1]), leaseRemainingMs: Number(reply[2]) };
    }
    return {
      status: 'completed',
      fingerprint: String(reply[1]),
      response: this.#codec.decode(recordKey, String(reply[2])),
    };
  }

  async renew(key: string, owner: string, leaseMs: number): Promise<boolean> {
    return Number(await this.#run(RENEW, this.#prefix + key, [owner, String(leaseMs)])) === 1;
  }

  async complete(
    key: string,
    owner: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean> {
    const recordKey = this.#prefix + key;
    const encoded = this.#codec.encode(recordKey, response);
    return Number(await this.#run(COMPLETE, recordKey, [owner, encoded, String(retentionMs)])) === 1;
  }

  async release(key: string, owner: string): Promise<boolean> {
    return Number(await this.#run(RELEASE, this.#prefix + key, [owner])) === 1;
  }

  /** EVALSHA, falling back to EVAL (which also caches the script) when the server does not know it yet. */
  async #run(script: Script, recordKey: string, args: string[]): Promise<unknown> {
    const call = { keys: [recordKey], arguments: args };
    try {
      return await this.#client.evalSha(script.sha, call);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return this.#client.eval(script.source, call);
    }
  }
}
