import { describeValue, type NumberBounds, numberOption } from '@breakwater/core';

/**
 * Checks that a field of a snapshot is a plain object with only `known` keys (and, when `type` is given, that
 * its `type` field says so), for messages like `failureRate: initialState.breaker.type must be "failureRate",
 * received "consecutiveFailures"`.
 */
export function snapshotObject<K extends string>(
  owner: string,
  path: string,
  value: unknown,
  known: readonly K[],
  type?: string,
): { readonly [P in K]?: unknown } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${owner}: ${path} must be an object, received ${describeValue(value)}`);
  }
  const read = value as { readonly [P in K]?: unknown } & { readonly type?: unknown };
  if (type !== undefined && read.type !== type) {
    throw new TypeError(
      `${owner}: ${path}.type must be ${JSON.stringify(type)} (a snapshot of this kind of breaker), received ${describeValue(read.type)}`,
    );
  }
  for (const key of Object.keys(value)) {
    if (!(known as readonly string[]).includes(key)) {
      throw new TypeError(
        `${owner}: ${path} has an unknown key ${JSON.stringify(key)}; known keys: ${known.join(', ')}`,
      );
    }
  }
  return read;
}

/** A number that must be given: like `numberOption`, but `undefined` is an error too. */
export function requiredNumber(owner: string, path: string, value: unknown, bounds: NumberBounds): number {
  if (value === undefined) throw new TypeError(`${owner}: ${path} is required`);
  return numberOption(owner, path, value, 0, bounds);
}
