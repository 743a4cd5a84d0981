import { BasePolicy } from './base-policy.js';
import type { ExecutionContext } from './context.js';
import type { FastPath } from './fast-path.js';
import type { Operation, Policy } from './policy.js';
import { describeValue, integerOption, readOptions } from './validation.js';

/** Options of {@link keyed}. */
export interface KeyedOptions {
  /**
   * How many per-key policies are kept. Past that, the least recently used one is dropped; its in-flight
   * calls finish normally, and its key gets a fresh policy (fresh state) when it is next used.
   * @default 1000
   */
  maxKeys?: number;
}

/** A call admitted by a per-key policy's fast path: which path, and its ticket. */
class KeyedTicket {
  readonly path: FastPath<unknown>;
  readonly ticket: unknown;

  constructor(path: FastPath<unknown>, ticket: unknown) {
    this.path = path;
    this.ticket = ticket;
  }
}

/** A policy that keeps one policy per partition key (`ExecuteOptions.key`), made on first use. */
export class KeyedPolicy extends BasePolicy {
  readonly #make: (key: string) => Policy;
  readonly #maxKeys: number;
  readonly #policies = new Map<string, Policy>();
  #mostRecentKey: string | undefined;
  #mostRecentPolicy: Policy | undefined;

  constructor(make: (key: string) => Policy, maxKeys: number) {
    super();
    this.#make = make;
    this.#maxKeys = maxKeys;
  }

  /** How many per-key policies are held now. */
  get size(): number {
    return this.#policies.size;
  }

  /** The policy for `key`, made (and possibly evicting the least recently used one) if there is none. */
  policyFor(key: string): Policy {
    // Consecutive calls mostly share a key (one origin): they need no lookup and no reordering.
    if (key === this.#mostRecentKey) return this.#mostRecentPolicy!;
    const policies = this.#policies;
    let policy = policies.get(key);
    if (policy === undefined) {
      policy = this.#make(key);
      if (typeof policy !== 'object' || policy === null || typeof policy.execute !== 'function') {
        throw new TypeError(
          `keyed: make(${JSON.stringify(key)}) must return a policy, received ${describeValue(policy)}`,
        );
      }
      policies.set(key, policy);
      if (policies.size > this.#maxKeys) policies.delete(policies.keys().next().value!);
    } else {
      policies.delete(key);
      policies.set(key, policy);
    }
    this.#mostRecentKey = key;
    this.#mostRecentPolicy = policy;
    return policy;
  }

  override readonly fastPath: FastPath<KeyedTicket> = {
    enter: (context) => {
      const key = context.key;
      if (key === undefined) return undefined;
      const policy = this.policyFor(key);
      const path = policy instanceof BasePolicy ? policy.fastPath : undefined;
      // The per-key policy's clock is not known before the key is: it reads its own.
      const ticket = path?.enter(context, Number.NaN);
      return ticket === undefined ? undefined : new KeyedTicket(path!, ticket);
    },
    contextInside: ({ path, ticket }, context) => path.contextInside?.(ticket, context) ?? context,
    succeeded: ({ path, ticket }) => path.succeeded(ticket),
    failed: ({ path, ticket }, context, error, again) => path.failed(ticket, context, error, again),
  };

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    const key = context.key;
    if (key === undefined) {
      return Promise.reject(new TypeError('keyed: execute() needs options.key to choose the per-key policy'));
    }
    return this.policyFor(key).execute(fn, context);
  }
}

/**
 * One policy per partition key, e.g. a circuit breaker per HTTP origin, so that one failing key does not
 * affect the others. Memory stays bounded: at most `maxKeys` policies are kept, least recently used evicted.
 */
export function keyed(make: (key: string) => Policy, options?: KeyedOptions): KeyedPolicy {
  const read = readOptions('keyed', options, ['maxKeys']);
  const maxKeys = integerOption('keyed', 'maxKeys', read.maxKeys, 1000, { min: 1 });
  if (typeof make !== 'function')
    throw new TypeError(`keyed: make must be a function, received ${describeValue(make)}`);
  return new KeyedPolicy(make, maxKeys);
}
