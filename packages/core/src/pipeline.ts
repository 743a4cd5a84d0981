import { BasePolicy, callOperation } from './base-policy.js';
import type { Clock } from './clock.js';
import type { ExecutionContext } from './context.js';
import type { FastPath } from './fast-path.js';
import type { Operation, Policy } from './policy.js';
import { describeValue } from './validation.js';

/**
 * A policy's fast path as a pipeline calls it. Every stage has this one shape, so the pipeline's loops read its
 * members directly; reading them from fast path objects of many shapes costs a lookup each, which adds up to
 * more than the policies' own work.
 */
class Stage {
  readonly path: FastPath<unknown>;
  readonly clock: Clock | undefined;
  readonly enter: FastPath<unknown>['enter'];
  readonly contextInside: FastPath<unknown>['contextInside'];
  readonly succeeded: FastPath<unknown>['succeeded'];
  readonly failed: FastPath<unknown>['failed'];

  constructor(path: FastPath<unknown>) {
    this.path = path;
    this.clock = path.clock;
    this.enter = path.enter;
    this.contextInside = path.contextInside;
    this.succeeded = path.succeeded;
    this.failed = path.failed;
  }
}

/**
 * A policy made of other policies, applied outermost first.
 *
 * A call admitted by every policy's {@link FastPath} costs one promise however many policies there are: the
 * policies enter synchronously, the operation is awaited once, and its outcome is handed to each policy,
 * innermost first. A policy that cannot admit a call synchronously (a full bulkhead, an open circuit) or offers
 * no fast path is run through its `execute`, with the policies inside it as its operation.
 */
export class Pipeline extends BasePolicy {
  /** The policies, outermost first, with nested pipelines flattened. */
  readonly policies: readonly Policy[];
  readonly #stages: readonly (Stage | undefined)[];

  constructor(policies: readonly Policy[]) {
    super();
    this.policies = Object.freeze(
      policies.flatMap((policy) => (policy instanceof Pipeline ? policy.policies : [policy])),
    );
    this.#stages = this.policies.map((policy) =>
      policy instanceof BasePolicy && policy.fastPath !== undefined ? new Stage(policy.fastPath) : undefined,
    );
  }

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    return this.#runFrom(0, fn, context);
  }

  /** Runs the policies from index `start` inwards, then `fn`. */
  #runFrom<T>(start: number, fn: Operation<T>, context: ExecutionContext): Promise<T> {
    const stages = this.#stages;
    const end = stages.length;
    const tickets: unknown[] = new Array(end - start);
    let inside = context;
    let level = start;
    let clock: Clock | undefined;
    let now = Number.NaN;
    let work: Promise<T>;
    try {
      for (; level < end; level++) {
        const stage = stages[level];
        if (stage === undefined) break;
        const stageClock = stage.clock;
        if (stageClock !== clock && stageClock !== undefined) {
          clock = stageClock;
          now = stageClock.now();
        }
        const ticket = stage.enter.call(stage.path, inside, stageClock === undefined ? Number.NaN : now);
        if (ticket === undefined) break;
        tickets[level - start] = ticket;
        if (stage.contextInside !== undefined) inside = stage.contextInside.call(stage.path, ticket, inside);
      }
      work =
        level === end
          ? callOperation(fn, inside)
          : this.policies[level]!.execute(this.#operationFrom(level + 1, fn), inside);
    } catch (error) {
      work = Promise.reject(error);
    }
    return this.#settle(start, level - 1, tickets, context, fn, work);
  }

  /** The work inside the policy at `level - 1`: the policies from `level` inwards around `fn`. */
  #operationFrom<T>(level: number, fn: Operation<T>): Operation<T> {
    if (level === this.policies.length) return fn;
    return (context) => this.#runFrom(level, fn, context as ExecutionContext);
  }

  /** Hands the outcome of `work` to the entered policies from `last` out to `start`. */
  #settle<T>(
    start: number,
    last: number,
    tickets: unknown[],
    context: ExecutionContext,
    fn: Operation<T>,
    work: Promise<T>,
  ): Promise<T> {
    if (last < start) return work;
    return work.then(
      (value) => {
        const stages = this.#stages;
        for (let level = last; level >= start; level--) {
          try {
            const stage = stages[level]!;
            stage.succeeded.call(stage.path, tickets[level - start]);
          } catch (error) {
            // What the policy's own promise would have done: reject, so the policies outside see a failure.
            return this.#fail(start, level - 1, tickets, context, fn, error);
          }
        }
        return value;
      },
      (error: unknown) => this.#fail(start, last, tickets, context, fn, error),
    );
  }

  /**
   * Hands a failure to the entered policies from `level` outwards. A policy that throws from `failed` passes the
   * failure on at once, so that bookkeeping-only policies settle in the same microtask as the operation.
   */
  #fail<T>(
    start: number,
    level: number,
    tickets: unknown[],
    context: ExecutionContext,
    fn: Operation<T>,
    error: unknown,
  ): Promise<T> {
    for (; level >= start; level--) {
      let outcome: Promise<T>;
      try {
        const stage = this.#stages[level]!;
        outcome = stage.failed.call(
          stage.path,
          tickets[level - start],
          this.#contextAt(start, level, tickets, context),
          error,
          this.#operationFrom(level + 1, fn),
        ) as Promise<T>;
      } catch (thrown) {
        error = thrown;
        continue;
      }
      return this.#settle(start, level - 1, tickets, context, fn, outcome);
    }
    return Promise.reject(error);
  }

  /** The context the policy at `level` entered with; only failures need it, so it is not kept per call. */
  #contextAt(start: number, level: number, tickets: unknown[], context: ExecutionContext): ExecutionContext {
    let inside = context;
    for (let i = start; i < level; i++) {
      const stage = this.#stages[i]!;
      if (stage.contextInside !== undefined)
        inside = stage.contextInside.call(stage.path, tickets[i - start], inside);
    }
    return inside;
  }
}

/**
 * Composes policies into one. **The first argument is the outermost**: `pipeline(timeout, retry)` gives the
 * whole retry loop one deadline, `pipeline(retry, timeout)` gives each attempt its own. (undici's
 * `compose(a, b)` is the other way round: there `b` runs first.) With no policies it runs the operation as is.
 */
export function pipeline(...policies: Policy[]): Pipeline {
  policies.forEach((policy, index) => {
    if (typeof policy !== 'object' || policy === null || typeof policy.execute !== 'function') {
      throw new TypeError(
        `pipeline: argument ${index + 1} must be a policy (an object with an execute method), received ${describeValue(policy)}`,
      );
    }
  });
  return new Pipeline(policies);
}
