import { type Clock, systemClock } from './clock.js';

/**
 * Option validation shared by every policy, so that bad input fails when a policy is built, with a message
 * that names the policy, the option and the value received: `retry: maxAttempts must be an integer >= 1,
 * received -1`. Wrong types are `TypeError`s, values out of range `RangeError`s.
 */

/** Describes a received value for an error message. */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'function':
      return 'a function';
    case 'symbol':
      return value.toString();
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return 'an array';
      const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor
        ?.name;
      return name && name !== 'Object' ? `an instance of ${name}` : 'an object';
    }
    default:
      return String(value);
  }
}

/**
 * Checks that `options` is `undefined` or a plain object whose keys are all in `known`, and returns it (or an
 * empty object) without copying or mutating it.
 */
export function readOptions<K extends string>(
  policy: string,
  options: unknown,
  known: readonly K[],
): { readonly [P in K]?: unknown } {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${policy}: options must be an object, received ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!(known as readonly string[]).includes(key)) {
      const suggestion = closest(key, known);
      throw new TypeError(
        `${policy}: unknown option ${JSON.stringify(key)}${suggestion ? ` (did you mean ${JSON.stringify(suggestion)}?)` : ''}; known options: ${known.join(', ')}`,
      );
    }
  }
  return options as { readonly [P in K]?: unknown };
}

/** Bounds of a numeric option. */
export interface NumberBounds {
  /** Smallest allowed value. @default -Infinity */
  min?: number;
  /** Largest allowed value. @default Infinity */
  max?: number;
  /** Whether `min` itself is excluded. @default false */
  minExclusive?: boolean;
  /** Whether the value must be an integer. @default false */
  integer?: boolean;
  /** Whether `Infinity` is accepted (it still must be within `max`). @default false */
  allowInfinity?: boolean;
}

/** Validates a numeric option; `undefined` yields `fallback`. */
export function numberOption(
  policy: string,
  name: string,
  value: unknown,
  fallback: number,
  bounds: NumberBounds = {},
): number {
  if (value === undefined) return fallback;
  const { min = Number.NEGATIVE_INFINITY, max = Number.POSITIVE_INFINITY } = bounds;
  const kind = bounds.integer ? 'an integer' : 'a number';
  const range =
    (min !== Number.NEGATIVE_INFINITY ? ` ${bounds.minExclusive ? '>' : '>='} ${min}` : '') +
    (max !== Number.POSITIVE_INFINITY ? `${min !== Number.NEGATIVE_INFINITY ? ' and' : ''} <= ${max}` : '');
  const expected = `${kind}${range}${bounds.allowInfinity ? ' (Infinity allowed)' : ''}`;
  if (typeof value !== 'number') {
    throw new TypeError(`${policy}: ${name} must be ${expected}, received ${describeValue(value)}`);
  }
  const finiteOk =
    Number.isFinite(value) || (bounds.allowInfinity === true && value === Number.POSITIVE_INFINITY);
  if (
    !finiteOk ||
    (bounds.integer && Number.isFinite(value) && !Number.isInteger(value)) ||
    value < min ||
    (bounds.minExclusive && value === min) ||
    value > max
  ) {
    throw new RangeError(`${policy}: ${name} must be ${expected}, received ${describeValue(value)}`);
  }
  return value;
}

/** Validates an integer option; `undefined` yields `fallback`. */
export function integerOption(
  policy: string,
  name: string,
  value: unknown,
  fallback: number,
  bounds: Omit<NumberBounds, 'integer'> = {},
): number {
  return numberOption(policy, name, value, fallback, { ...bounds, integer: true });
}

/** Validates a duration in milliseconds: a finite number >= `min` (default 0); `undefined` yields `fallback`. */
export function durationOption(
  policy: string,
  name: string,
  value: unknown,
  fallback: number,
  bounds: Omit<NumberBounds, 'integer'> = {},
): number {
  return numberOption(policy, name, value, fallback, { min: 0, ...bounds });
}

/** Validates a boolean option; `undefined` yields `fallback`. */
export function booleanOption(policy: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new TypeError(`${policy}: ${name} must be a boolean, received ${describeValue(value)}`);
  }
  return value;
}

/** Validates a function option; `undefined` yields `fallback`. */
export function functionOption<F extends (...args: never[]) => unknown>(
  policy: string,
  name: string,
  value: unknown,
  fallback: F,
): F;
export function functionOption<F extends (...args: never[]) => unknown>(
  policy: string,
  name: string,
  value: unknown,
): F | undefined;
export function functionOption<F extends (...args: never[]) => unknown>(
  policy: string,
  name: string,
  value: unknown,
  fallback?: F,
): F | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') {
    throw new TypeError(`${policy}: ${name} must be a function, received ${describeValue(value)}`);
  }
  return value as F;
}

/** Validates an option that must be one of a few strings; `undefined` yields `fallback`. */
export function oneOfOption<const V extends string>(
  policy: string,
  name: string,
  value: unknown,
  allowed: readonly V[],
  fallback: V,
): V {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    const expected = allowed.map((a) => JSON.stringify(a)).join(', ');
    const ErrorType = typeof value === 'string' ? RangeError : TypeError;
    throw new ErrorType(`${policy}: ${name} must be one of ${expected}, received ${describeValue(value)}`);
  }
  return value as V;
}

function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance =
      candidate.toLowerCase() === key.toLowerCase()
        ? 0
        : editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** Validates a `clock` option: `undefined` yields {@link systemClock}, anything else must look like a {@link Clock}. */
export function clockOption(policy: string, value: unknown): Clock {
  if (value === undefined) return systemClock;
  const clock = value as Partial<Record<keyof Clock, unknown>> | null;
  if (
    typeof clock !== 'object' ||
    clock === null ||
    typeof clock.now !== 'function' ||
    typeof clock.setTimeout !== 'function' ||
    typeof clock.clearTimeout !== 'function'
  ) {
    throw new TypeError(
      `${policy}: clock must be an object with now(), setTimeout() and clearTimeout() methods, received ${describeValue(value)}`,
    );
  }
  return value as Clock;
}
