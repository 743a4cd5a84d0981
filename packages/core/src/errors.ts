const brand = Symbol.for('breakwater.error');

/** Options of {@link BreakwaterError}. */
export interface BreakwaterErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * The base of every error breakwater creates. `code` is stable across versions. `instanceof` works across
 * duplicate installs of this package: it compares codes along the prototype chain, not constructors.
 */
export class BreakwaterError extends Error {
  /** The code of errors created by this class; subclasses set their own. */
  static readonly code: string = 'ERR_BREAKWATER';
  /** Stable machine-readable code, e.g. `ERR_BREAKWATER_TIMEOUT`. */
  readonly code: string;

  constructor(message: string, options?: BreakwaterErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = (new.target as typeof BreakwaterError).code;
    this.name = new.target.name;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null || !(brand in value)) return false;
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class on the right of `instanceof`, a subclass included.
    const code = this.code;
    for (let proto = Object.getPrototypeOf(value); proto !== null; proto = Object.getPrototypeOf(proto)) {
      if ((proto.constructor as { code?: unknown } | undefined)?.code === code) return true;
    }
    return false;
  }
}

Object.defineProperty(BreakwaterError.prototype, brand, { value: true });

/** Thrown by a timeout when its own time ran out (never when the caller aborted). */
export class TimeoutError extends BreakwaterError {
  static override readonly code: string = 'ERR_BREAKWATER_TIMEOUT';
  /** The timeout that fired, in milliseconds. */
  readonly timeoutMs: number;

  constructor(timeoutMs: number, options?: BreakwaterErrorOptions) {
    super(`operation timed out after ${timeoutMs} ms`, options);
    this.timeoutMs = timeoutMs;
  }
}

/** Thrown by a circuit breaker that is open (or half-open with every probe slot taken). */
export class BrokenCircuitError extends BreakwaterError {
  static override readonly code: string = 'ERR_BREAKWATER_CIRCUIT_OPEN';
  /** Milliseconds until the breaker admits a probe call again; 0 when a probe slot may free up any moment. */
  readonly retryAfterMs: number;

  constructor(
    retryAfterMs: number,
    message = `circuit is open; retry after ${retryAfterMs} ms`,
    options?: BreakwaterErrorOptions,
  ) {
    super(message, options);
    this.retryAfterMs = retryAfterMs;
  }
}

/** Thrown by a circuit breaker held open by `isolate()`. */
export class IsolatedCircuitError extends BrokenCircuitError {
  static override readonly code: string = 'ERR_BREAKWATER_CIRCUIT_ISOLATED';

  constructor(options?: BreakwaterErrorOptions) {
    super(Number.POSITIVE_INFINITY, 'circuit is isolated', options);
  }
}

/** Thrown by a bulkhead whose running slots and queue are full, or whose queue wait timed out. */
export class BulkheadRejectedError extends BreakwaterError {
  static override readonly code: string = 'ERR_BREAKWATER_BULKHEAD_FULL';
  /** The bulkhead's concurrency limit. */
  readonly limit: number;
  /** The bulkhead's queue size. */
  readonly queue: number;

  constructor(limit: number, queue: number, message = `bulkhead is full (limit ${limit}, queue ${queue})`) {
    super(message);
    this.limit = limit;
    this.queue = queue;
  }
}

/** Whether `value` is any breakwater error, from this or another copy of the package. */
export function isBreakwaterError(value: unknown): value is BreakwaterError {
  return value instanceof BreakwaterError;
}
