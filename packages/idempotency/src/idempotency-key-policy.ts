import { randomUUID } from 'node:crypto';
import {
  BasePolicy,
  type ContextKey,
  callOperation,
  contextKey,
  type ExecutionContext,
  functionOption,
  type Operation,
  readOptions,
} from '@breakwater/core';
import { checkKey, DEFAULT_MAX_KEY_LENGTH } from './key.js';

/**
 * The context key under which {@link idempotencyKey} keeps the key of the current logical execution: every
 * attempt (retries included) reads the same value with `context.get(idempotencyKeyContext)`.
 */
export const idempotencyKeyContext: ContextKey<string> = contextKey<string>('breakwater.idempotency.key');

/** Options of {@link idempotencyKey}. */
export interface IdempotencyKeyOptions {
  /**
   * Makes a key. Must be unpredictable: the default is a CSPRNG UUIDv4 (122 random bits), and there is no
   * `Math.random()` fallback.
   * @default crypto.randomUUID
   */
  generate?: () => string;
}

/**
 * Gives each logical execution one idempotency key, made before the first attempt and kept in the context
 * under {@link idempotencyKeyContext}, so every retry of the operation sends the same key. A key already in
 * the context (an enclosing policy, or a retry of this one) is kept. Place it outside `retry()`.
 *
 * For `fetch`, use {@link withIdempotencyKey} instead: it puts the key in the `Idempotency-Key` header, which
 * is what `@breakwater/http` looks at. This policy is for other transports (SDK calls, queues, gRPC).
 */
export class IdempotencyKeyPolicy extends BasePolicy {
  readonly #generate: () => string;

  constructor(generate: () => string) {
    super();
    this.#generate = generate;
  }

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    if (context.get(idempotencyKeyContext) === undefined) {
      const key = this.#generate();
      const checked =
        typeof key === 'string'
          ? checkKey(key, { minKeyLength: 1, maxKeyLength: DEFAULT_MAX_KEY_LENGTH })
          : undefined;
      if (!checked?.ok) {
        throw new TypeError(
          `idempotencyKey: generate() must return a key of 1-255 printable ASCII characters`,
        );
      }
      context.set(idempotencyKeyContext, key);
    }
    return callOperation(fn, context);
  }
}

/**
 * Creates an {@link IdempotencyKeyPolicy}.
 *
 * @example
 * const policy = pipeline(idempotencyKey(), retry({ maxAttempts: 3 }));
 * await policy.execute((ctx) => payments.create(order, { idempotencyKey: ctx.get(idempotencyKeyContext) }));
 */
export function idempotencyKey(options?: IdempotencyKeyOptions): IdempotencyKeyPolicy {
  const o = readOptions('idempotencyKey', options, ['generate']);
  return new IdempotencyKeyPolicy(functionOption('idempotencyKey', 'generate', o.generate, randomUUID));
}
