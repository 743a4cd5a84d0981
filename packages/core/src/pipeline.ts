import { BasePolicy, callOperation } from './base-policy.js';
import type { Clock } from './clock.js';
import { type CompiledRun, compilePipeline, type Resume } from './compiled-stages.js';
import type { ExecutionContext } from './context.js';
import type { FastPath } from './fast-path.js';
import type { Operation, Policy } from './policy.js';
import { type Settle, type SettlingOperation, settleWith, settlingAsOperation } from './settling.js';
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

/** What a pipeline's calls run through: its policies, outermost first, and the fast path of each, if any. */
interface Stages {
  readonly policies: readonly Policy[];
  readonly stages: readonly (Stage | undefined)[];
}

/**
 * One call that some policy admitted on its fast path, from the outcome of the work inside those policies until
 * every entered policy has settled.
 */
class PipelineCall {
  readonly #parts: Stages;
  readonly #start: number;
  /** By level: what each entered policy's `enter` returned. */
  readonly #tickets: readonly unknown[];
  readonly #context: ExecutionContext;
  readonly #fn: Operation<unknown>;
  /** The innermost level not yet settled. */
  #last = -1;

  constructor(
    parts: Stages,
    start: number,
    tickets: readonly unknown[],
    context: ExecutionContext,
    fn: Operation<unknown>,
  ) {
    this.#parts = parts;
    this.#start = start;
    this.#tickets = tickets;
    this.#context = context;
    this.#fn = fn;
  }

  /** Settles the policies entered from `start` to `last` with the outcome of `work`. */
  settle(last: number, work: Promise<unknown>): Promise<unknown> {
    if (last < this.#start) return work;
    this.#last = last;
    return work.then(
      (value) => this.#succeeded(value),
      (error: unknown) => this.fail(this.#last, error),
    );
  }

  #succeeded(value: unknown): unknown {
    const stages = this.#parts.stages;
    for (let level = this.#last; level >= this.#start; level--) {
      try {
        const stage = stages[level]!;
        stage.succeeded.call(stage.path, this.#tickets[level]);
      } catch (error) {
        // What the policy's own promise would have done: reject, so the policies outside see a failure.
        return this.fail(level - 1, error);
      }
    }
    return value;
  }

  /**
   * Hands a failure to the entered policies from `level` outwards. A policy that throws from `failed` passes the
   * failure on at once, so that bookkeeping-only policies settle in the same microtask as the operation.
   */
  fail(level: number, error: unknown): Promise<unknown> {
    const parts = this.#parts;
    for (; level >= this.#start; level--) {
      let outcome: Promise<unknown>;
      try {
        const stage = parts.stages[level]!;
        outcome = stage.failed.call(
          stage.path,
          this.#tickets[level],
          // Only failures need it, so it is not kept per call.
          contextAt(parts, this.#tickets, this.#start, level, this.#context),
          error,
          operationFrom(parts, level + 1, this.#fn),
        );
      } catch (thrown) {
        error = thrown;
        continue;
      }
      return this.settle(level - 1, outcome);
    }
    throw error;
  }
}

/** Runs the policies from level `start` inwards, then `fn`. */
function runFrom<T>(parts: Stages, start: number, fn: Operation<T>, context: ExecutionContext): Promise<T> {
  const stages = parts.stages;
  const end = stages.length;
  const tickets: unknown[] = [];
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
      tickets[level] = ticket;
      if (stage.contextInside !== undefined) inside = stage.contextInside.call(stage.path, ticket, inside);
    }
    work =
      level === end
        ? callOperation(fn, inside)
        : parts.policies[level]!.execute(operationFrom(parts, level + 1, fn), inside);
  } catch (error) {
    work = Promise.reject(error);
  }
  if (level === start) return work;
  return new PipelineCall(parts, start, tickets, context, fn as Operation<unknown>).settle(
    level - 1,
    work,
  ) as Promise<T>;
}

/** How a compiled pipeline hands over to {@link PipelineCall} everything but the success of every policy. */
function resumeFor(parts: Stages): Resume {
  return {
    declined(tickets, level, context, fn) {
      let work: Promise<unknown>;
      try {
        work = parts.policies[level]!.execute(
          operationFrom(parts, level + 1, fn),
          contextAt(parts, tickets, 0, level, context),
        );
      } catch (error) {
        work = Promise.reject(error);
      }
      return new PipelineCall(parts, 0, tickets, context, fn).settle(level - 1, work);
    },
    threw(tickets, context, fn, error) {
      let entered = 0;
      while (entered < tickets.length && tickets[entered] !== undefined) entered++;
      return new PipelineCall(parts, 0, tickets, context, fn).settle(entered - 1, Promise.reject(error));
    },
    failed(tickets, level, context, fn, error) {
      return new PipelineCall(parts, 0, tickets, context, fn).fail(level, error);
    },
  };
}

/** The context the policy at `level` entered with, the one at `start` having entered with `context`. */
function contextAt(
  parts: Stages,
  tickets: readonly unknown[],
  start: number,
  level: number,
  context: ExecutionContext,
): ExecutionContext {
  let inside = context;
  for (let i = start; i < level; i++) {
    const stage = parts.stages[i]!;
    if (stage.contextInside !== undefined) inside = stage.contextInside.call(stage.path, tickets[i], inside);
  }
  return inside;
}

/** The work inside the policy at `level - 1`: the policies from `level` inwards around `fn`. */
function operationFrom<T>(parts: Stages, level: number, fn: Operation<T>): Operation<T> {
  if (level === parts.stages.length) return fn;
  return (context) => runFrom(parts, level, fn, context as ExecutionContext);
}

/**
 * How many calls a pipeline runs through its loop before it compiles its fast path. Compiling costs about
 * 60 µs, and more on the first compiled call: a pipeline built for one call, or a few, must not pay that.
 */
export const callsBeforeCompiling = 64;

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
  readonly #parts: Stages;
  /** The fast path as code of its own, once the pipeline is hot and if every policy has one. */
  #compiled: CompiledRun | undefined;
  /** Calls left until the pipeline compiles its fast path; `-1`: it never will, or it has. */
  #callsToCompile: number;

  constructor(policies: readonly Policy[]) {
    super();
    this.policies = Object.freeze(
      policies.flatMap((policy) => (policy instanceof Pipeline ? policy.policies : [policy])),
    );
    const stages = this.policies.map((policy) =>
      policy instanceof BasePolicy && policy.fastPath !== undefined ? new Stage(policy.fastPath) : undefined,
    );
    this.#parts = { policies: this.policies, stages };
    const compilable = stages.length > 0 && stages.every((stage) => stage !== undefined);
    this.#callsToCompile = compilable ? callsBeforeCompiling : -1;
  }

  /**
   * Runs `operation` under the pipeline within `context` (a root context, or that of an enclosing policy) and
   * hands the outcome to `settle`. Once the pipeline is hot, a call that every policy admits on its fast path
   * makes no promise at all: for transports that complete by callback, where a promise per call is most of what
   * the pipeline costs.
   */
  executeSettling(operation: SettlingOperation, context: ExecutionContext, settle: Settle): void {
    const compiled = this.#compiled;
    if (compiled !== undefined) compiled.runSettling(operation, context, settle);
    else settleWith(this.execute(settlingAsOperation(operation), context), settle);
  }

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    const compiled = this.#compiled;
    if (compiled !== undefined) return compiled.run(fn as Operation<unknown>, context) as Promise<T>;
    if (this.#callsToCompile > 0 && --this.#callsToCompile === 0) this.#compile();
    return runFrom(this.#parts, 0, fn, context);
  }

  #compile(): void {
    const paths = this.#parts.stages.map((stage) => stage!.path);
    this.#compiled = compilePipeline(paths, resumeFor(this.#parts));
    this.#callsToCompile = -1;
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
