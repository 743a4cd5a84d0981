import { describeValue, type NumberBounds } from '@breakwater/core';
import { requiredNumber, snapshotObject } from './snapshot-fields.js';

/** The states of a circuit breaker. */
export type CircuitState = 'closed' | 'open' | 'half-open' | 'isolated';

const states: readonly CircuitState[] = ['closed', 'open', 'half-open', 'isolated'];

/**
 * The full state of a circuit breaker as JSON-compatible data: what `toJSON()` returns and `initialState`
 * takes, so that a short-lived process (serverless) can carry its breaker over to the next one. Times are
 * relative (remaining break, bucket age), because monotonic clocks of two processes share no origin.
 */
export interface CircuitBreakerSnapshot {
  /** The state. */
  readonly state: CircuitState;
  /** Milliseconds left of the current break; present exactly when `state` is `'open'`. */
  readonly remainingBreakMs?: number;
  /**
   * How many probes of the current half-open period have succeeded; present exactly when `state` is
   * `'half-open'`. Probes still in flight are not carried over: their slots are free in the restored circuit.
   */
  readonly probeSuccesses?: number;
  /**
   * How many times in a row the circuit opened without closing in between: where a `breakMs` backoff stands.
   * At least 1 when open or half-open, 0 when closed or isolated.
   */
  readonly breaks: number;
  /** The length of the latest break in ms, the base of the next one for some backoffs; present when `breaks >= 1`. */
  readonly lastBreakMs?: number;
  /** The breaking strategy's own state, e.g. the failure-rate window; see `BreakerCounter.snapshot`. */
  readonly breaker: unknown;
}

const policy = 'circuitBreaker';
const keys = ['state', 'remainingBreakMs', 'probeSuccesses', 'breaks', 'lastBreakMs', 'breaker'] as const;

/** Validates an `initialState` option, with a message naming the field at fault. */
export function readSnapshot(value: unknown, halfOpenProbes: number): CircuitBreakerSnapshot {
  const read = snapshotObject(policy, 'initialState', value, keys);
  const state = read.state;
  if (typeof state !== 'string' || !(states as readonly string[]).includes(state)) {
    throw new TypeError(
      `${policy}: initialState.state must be one of ${states.map((s) => JSON.stringify(s)).join(', ')}, received ${describeValue(state)}`,
    );
  }
  const breaks = requiredNumber(policy, 'initialState.breaks', read.breaks, { min: 0, integer: true });
  if ((state === 'open' || state === 'half-open') !== breaks > 0) {
    throw new RangeError(
      `${policy}: initialState.breaks must be ${breaks > 0 ? '0' : '>= 1'} when state is ${JSON.stringify(state)}, received ${breaks}`,
    );
  }
  const remainingBreakMs = onlyWith(state, 'open', 'remainingBreakMs', read.remainingBreakMs, { min: 0 });
  const probeSuccesses = onlyWith(state, 'half-open', 'probeSuccesses', read.probeSuccesses, {
    min: 0,
    max: halfOpenProbes - 1,
    integer: true,
  });
  let lastBreakMs: number | undefined;
  if (breaks > 0) {
    lastBreakMs = requiredNumber(policy, 'initialState.lastBreakMs', read.lastBreakMs, { min: 0 });
  } else if (read.lastBreakMs !== undefined) {
    throw new TypeError(
      `${policy}: initialState.lastBreakMs is only valid with breaks >= 1, received breaks 0`,
    );
  }
  if (read.breaker === undefined) throw new TypeError(`${policy}: initialState.breaker is required`);
  return {
    state: state as CircuitState,
    ...(remainingBreakMs !== undefined && { remainingBreakMs }),
    ...(probeSuccesses !== undefined && { probeSuccesses }),
    breaks,
    ...(lastBreakMs !== undefined && { lastBreakMs }),
    breaker: read.breaker,
  };
}

/** A number the snapshot has exactly when it is in `state`. */
function onlyWith(
  actual: string,
  state: CircuitState,
  name: string,
  value: unknown,
  bounds: NumberBounds,
): number | undefined {
  if (actual === state) return requiredNumber(policy, `initialState.${name}`, value, bounds);
  if (value === undefined) return undefined;
  throw new TypeError(
    `${policy}: initialState.${name} is only valid with state ${JSON.stringify(state)}, received state ${JSON.stringify(actual)}`,
  );
}
