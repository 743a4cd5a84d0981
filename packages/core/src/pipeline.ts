import { BasePolicy, callOperation } from './base-policy.js';
import type { ExecutionContext } from './context.js';
import type { Operation, Policy } from './policy.js';
import { describeValue } from './validation.js';

/** A policy made of other policies, applied outermost first. */
export class Pipeline extends BasePolicy {
  /** The policies, outermost first, with nested pipelines flattened. */
  readonly policies: readonly Policy[];

  constructor(policies: readonly Policy[]) {
    super();
    this.policies = Object.freeze(
      policies.flatMap((policy) => (policy instanceof Pipeline ? policy.policies : [policy])),
    );
  }

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    const policies = this.policies;
    if (policies.length === 0) return callOperation(fn, context);
    let next: Operation<T> = fn;
    for (let i = policies.length - 1; i > 0; i--) {
      const policy = policies[i]!;
      const inner = next;
      next = (innerContext) => policy.execute(inner, innerContext as ExecutionContext);
    }
    return policies[0]!.execute(next, context);
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
