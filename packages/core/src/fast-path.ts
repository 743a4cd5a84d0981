import type { Clock } from './clock.js';
import type { ExecutionContext } from './context.js';
import type { Operation } from './policy.js';

/**
 * How a pipeline runs a policy without giving it a promise of its own: a {@link BasePolicy} offers one as its
 * `fastPath`, and a pipeline runs a policy without one through `execute` as usual. Awaiting is what a policy costs on the
 * success path: a pipeline of four policies that each chain on the promise of the one inside makes four
 * promises and four microtask turns per call. Instead, a pipeline lets each policy admit the call
 * synchronously (`enter`), awaits the operation once, and hands the outcome to every policy in turn, innermost
 * first, as `succeeded` or `failed`.
 *
 * The rules a policy author must keep:
 * - `enter` either admits the call and returns a ticket (anything but `undefined`), or returns `undefined`
 *   without changing any state; the pipeline then calls the policy's `execute`, which must handle the call
 *   (queue it, reject it, probe with it...).
 * - Every admitted call gets exactly one `succeeded` or `failed` with its ticket, once the work inside the
 *   policy has settled. What they do must be what the policy's own `execute` would have done with that
 *   outcome.
 * - `succeeded` only does bookkeeping. `failed` throws the error the policy fails with, or returns the promise
 *   it settles with, which may run the work inside again through `again` (a retry).
 * - `contextInside` returns a context the ticket holds: a pipeline asks again on every failure rather than
 *   keep the contexts of every call.
 *
 * @typeParam Ticket what `enter` hands on to `succeeded` and `failed`: the state of one admitted call.
 */
export interface FastPath<Ticket> {
  /**
   * The clock `enter` reads, if it reads one. A pipeline reads each clock once per call and hands the time to
   * every policy that shares it: a clock read costs as much as a bare async call on some machines.
   */
  readonly clock?: Clock | undefined;
  /**
   * Admits a call and returns its ticket, or `undefined` to have the pipeline call `execute` instead. `now` is
   * the time on `clock` as the call enters, or `NaN` when the caller did not read it (read it yourself then).
   */
  enter(context: ExecutionContext, now: number): Ticket | undefined;
  /** The context the work inside runs with, when it is not the one the call entered with. Pure and cheap. */
  contextInside?(ticket: Ticket, context: ExecutionContext): ExecutionContext;
  /** The work inside fulfilled. */
  succeeded(ticket: Ticket): void;
  /**
   * The work inside rejected with `error`. Throws what the policy fails with, or returns the promise it settles
   * with, such as a later outcome of `again(context)`, which runs the work inside anew. Innermost in a pipeline,
   * `again` is the operation itself, which may return a plain value or throw: call it through `callOperation`.
   */
  failed<T>(ticket: Ticket, context: ExecutionContext, error: unknown, again: Operation<T>): Promise<T>;
}
