import type { Context } from './context.js';
import { ExecutionContext } from './context.js';

/** A failed attempt, as policies see it when they decide whether it counts. */
export interface Outcome {
  /** What the operation threw. */
  readonly error: unknown;
  /** The context of the attempt that failed. */
  readonly context: Context;
}

/**
 * Decides whether a failure is handled by a policy (retried, counted by a breaker, replaced by a fallback).
 * The caller's own abort is never handled, whatever this returns.
 */
export type ShouldHandle = (outcome: Outcome) => boolean;

/** The default {@link ShouldHandle}: every failure except the caller's own abort. */
export const handleAll: ShouldHandle = () => true;

/** Whether `error` is the reason of the abort signal the caller passed to `execute`. */
export function isCallerAbort(error: unknown, context: Context): boolean {
  const signal = ExecutionContext.is(context) ? context.callerSignal : undefined;
  return signal?.aborted === true && signal.reason === error;
}

/** Whether a policy with `shouldHandle` handles `error`: never the caller's abort, otherwise as it says. */
export function shouldHandleError(shouldHandle: ShouldHandle, error: unknown, context: Context): boolean {
  if (isCallerAbort(error, context)) return false;
  return shouldHandle === handleAll || shouldHandle({ error, context });
}
