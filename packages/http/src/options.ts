import { booleanOption, describeValue, type Policy, pipeline, readOptions } from '@breakwater/core';
import { defaultFailureStatuses } from './failures.js';
import {
  type StandardPipelineOptions,
  standardPipeline,
  standardPipelineOptionNames,
} from './standard-pipeline.js';

/** Options shared by `resilientFetch` and the `resilience()` interceptor, whatever pipeline runs. */
export interface HttpBehaviourOptions {
  /**
   * Whether a final response with a failure status is thrown as an `HttpStatusError` (its `response`, body
   * unread, attached for fetch) instead of being returned. Open breakers, full bulkheads and timeouts are
   * always thrown.
   * @default false
   */
  throwOnStatus?: boolean | undefined;
  /**
   * Whether the target honours `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header): `true` for
   * every origin, or a list of origins (`'https://api.example.com'`). A POST, PATCH or other non-idempotent
   * request is retried only when it carries an `Idempotency-Key` header and its origin honours keys; the
   * same key is then sent on every attempt. Without this, non-idempotent requests are never retried.
   * @default false
   */
  honorsIdempotencyKeys?: boolean | readonly string[] | undefined;
  /**
   * Response statuses that count as failures inside the pipeline (retried, counted by the breaker): integers
   * from 400 to 599.
   * @default [408, 429, 500, 502, 503, 504]
   */
  failureStatuses?: readonly number[] | undefined;
}

/** Run your own pipeline: the request's origin is the `key` it gets, so `keyed()` partitions by origin. */
export interface CustomPipelineOptions extends HttpBehaviourOptions {
  /** The policy each request runs under, e.g. `pipeline(timeout(...), retry(...))`. */
  pipeline: Policy;
}

type Never<T> = { [K in keyof T]?: never };

/**
 * Options of `resilientFetch` and `resilience()`: either `{ pipeline }` with your own policy, or the
 * standard pipeline's options (all optional: `{}` is the standard preset with its defaults).
 */
export type ResilienceOptions =
  | (CustomPipelineOptions & Never<StandardPipelineOptions>)
  | (HttpBehaviourOptions & StandardPipelineOptions & { pipeline?: undefined });

const behaviourOptionNames = ['throwOnStatus', 'honorsIdempotencyKeys', 'failureStatuses'] as const;

/** `resilientFetch` and `resilience()` settings, validated. */
export interface HttpResilience {
  readonly policy: Policy;
  readonly throwOnStatus: boolean;
  /** Indexed by status code: 1 where the status counts as a failure. */
  readonly failureStatuses: Uint8Array;
  /** Whether requests to `origin` may be retried on the strength of an Idempotency-Key. */
  honorsIdempotencyKeys(origin: string): boolean;
}

/** Reads and validates `ResilienceOptions`; `extra` are the caller's own extra option names (e.g. `fetch`). */
export function readResilienceOptions(
  name: string,
  options: unknown,
  extra: readonly string[] = [],
): { readonly settings: HttpResilience; readonly read: { readonly [key: string]: unknown } } {
  const read = readOptions(name, options, [
    'pipeline',
    ...behaviourOptionNames,
    ...standardPipelineOptionNames,
    ...extra,
  ]) as { readonly [key: string]: unknown };
  let policy: Policy;
  if (read.pipeline !== undefined) {
    const custom = read.pipeline as Policy;
    if (typeof custom !== 'object' || custom === null || typeof custom.execute !== 'function') {
      throw new TypeError(`${name}: pipeline must be a policy, received ${describeValue(custom)}`);
    }
    const mixed = standardPipelineOptionNames.filter((key) => read[key] !== undefined);
    if (mixed.length > 0) {
      throw new TypeError(
        `${name}: pass either pipeline or the standard pipeline options, not both (received pipeline and ${mixed.join(', ')})`,
      );
    }
    // A lone policy runs as a pipeline of one, which the interceptor runs without a promise per request.
    policy = pipeline(custom);
  } else {
    const standard: Record<string, unknown> = {};
    for (const key of standardPipelineOptionNames) if (read[key] !== undefined) standard[key] = read[key];
    policy = standardPipeline(standard as StandardPipelineOptions);
  }
  const statuses = new Uint8Array(600);
  const failureStatuses = read.failureStatuses ?? defaultFailureStatuses;
  if (!Array.isArray(failureStatuses)) {
    throw new TypeError(
      `${name}: failureStatuses must be an array of status codes, received ${describeValue(failureStatuses)}`,
    );
  }
  for (const status of failureStatuses as unknown[]) {
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(
        `${name}: failureStatuses must hold integers from 400 to 599, received ${describeValue(status)}`,
      );
    }
    statuses[status] = 1;
  }
  return {
    read,
    settings: {
      policy,
      throwOnStatus: booleanOption(name, 'throwOnStatus', read.throwOnStatus, false),
      failureStatuses: statuses,
      honorsIdempotencyKeys: honorsOption(name, read.honorsIdempotencyKeys),
    },
  };
}

function honorsOption(name: string, value: unknown): (origin: string) => boolean {
  if (value === undefined || value === false) return () => false;
  if (value === true) return () => true;
  if (!Array.isArray(value)) {
    throw new TypeError(
      `${name}: honorsIdempotencyKeys must be a boolean or an array of origins, received ${describeValue(value)}`,
    );
  }
  const origins = new Set<string>();
  for (const entry of value as unknown[]) {
    let origin: string | undefined;
    try {
      origin = typeof entry === 'string' ? new URL(entry).origin : undefined;
    } catch {
      origin = undefined;
    }
    if (origin === undefined || origin === 'null') {
      throw new TypeError(
        `${name}: honorsIdempotencyKeys must list origins such as "https://api.example.com", received ${describeValue(entry)}`,
      );
    }
    origins.add(origin);
  }
  return (origin) => origins.has(origin);
}
