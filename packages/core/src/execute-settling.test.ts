import { describe, expect, it } from 'vitest';
import { BasePolicy, callOperation } from './base-policy.js';
import { ExecutionContext } from './context.js';
import { executeSettling } from './execute-settling.js';
import type { FastPath } from './fast-path.js';
import { callsBeforeCompiling, pipeline } from './pipeline.js';
import type { Operation, Policy } from './policy.js';
import type { SettlingOperation } from './settling.js';

/** Counts what its fast path is told; a failure passes through. */
class Counting extends BasePolicy {
  entered = 0;
  succeeded = 0;
  failed = 0;
  override readonly fastPath: FastPath<true> = {
    enter: () => {
      this.entered++;
      return true;
    },
    succeeded: () => {
      this.succeeded++;
    },
    failed: (_ticket, _context, error) => {
      this.failed++;
      throw error;
    },
  };

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    return callOperation(fn, context);
  }
}

/** Runs `operation` and records every settlement, and whether it came before `executeSettling` returned. */
function run(policy: Policy, operation: SettlingOperation) {
  const settlements: { failed: boolean; outcome: unknown; beforeReturn: boolean }[] = [];
  let returned = false;
  executeSettling(policy, operation, ExecutionContext.create(), (failed, outcome) => {
    settlements.push({ failed, outcome, beforeReturn: !returned });
  });
  returned = true;
  return settlements;
}

async function hot(...policies: Policy[]) {
  const hotPipeline = pipeline(...policies);
  for (let call = 0; call < callsBeforeCompiling; call++) await hotPipeline.execute(() => call);
  return hotPipeline;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('executeSettling', () => {
  it('settles on a hot pipeline in the same call stack as the operation: no promise in between', async () => {
    const outer = new Counting();
    const inner = new Counting();
    const policy = await hot(outer, inner);
    const ok = run(policy, (_context, settle) => settle(false, 'value'));
    expect(ok).toEqual([{ failed: false, outcome: 'value', beforeReturn: true }]);
    const error = new Error('boom');
    const failed = run(policy, (_context, settle) => settle(true, error));
    expect(failed).toEqual([{ failed: true, outcome: error, beforeReturn: true }]);
    expect([outer.entered, outer.succeeded, outer.failed]).toEqual([
      callsBeforeCompiling + 2,
      callsBeforeCompiling + 1,
      1,
    ]);
    expect([inner.entered, inner.succeeded, inner.failed]).toEqual([
      callsBeforeCompiling + 2,
      callsBeforeCompiling + 1,
      1,
    ]);
    await flush();
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(1);
  });

  it('settles once a later settlement comes, with the context the policies give the work inside', async () => {
    const policy = await hot(new Counting());
    let inside: ExecutionContext | undefined;
    const settlements = run(policy, (context, settle) => {
      inside = context;
      setTimeout(() => settle(false, 'late'), 1);
    });
    expect(settlements).toEqual([]);
    expect(inside).toBeInstanceOf(ExecutionContext);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(settlements).toEqual([{ failed: false, outcome: 'late', beforeReturn: false }]);
  });

  it('runs a cold pipeline, and a policy that is not a pipeline, through execute, with the same outcome', async () => {
    const cold = new Counting();
    const coldPipeline = pipeline(cold);
    const plain: Policy = { execute: (fn, options) => coldPipeline.execute(fn, options) };
    for (const policy of [coldPipeline, plain]) {
      const settlements = run(policy, (_context, settle) => settle(false, 'value'));
      expect(settlements).toEqual([]);
      await flush();
      expect(settlements).toEqual([{ failed: false, outcome: 'value', beforeReturn: false }]);
    }
    expect([cold.entered, cold.succeeded]).toEqual([2, 2]);
  });

  it('runs the operation of an empty pipeline with the caller’s context', async () => {
    const context = ExecutionContext.create();
    let seen: unknown;
    const settlements: unknown[] = [];
    executeSettling(
      pipeline(),
      (inside, settle) => {
        seen = inside;
        settle(false, 'direct');
      },
      context,
      (failed, outcome) => settlements.push([failed, outcome]),
    );
    await flush();
    expect(seen).toBe(context);
    expect(settlements).toEqual([[false, 'direct']]);
  });

  it('on a hot pipeline, as a promise would: counts only the first settlement, and a throw before it as a failure', async () => {
    const counting = new Counting();
    const policy = await hot(counting);
    const twice = run(policy, (_context, settle) => {
      settle(false, 'first');
      settle(true, new Error('second'));
      settle(false, 'third');
    });
    expect(twice).toEqual([{ failed: false, outcome: 'first', beforeReturn: true }]);
    const error = new Error('thrown');
    const thrown = run(policy, () => {
      throw error;
    });
    expect(thrown).toEqual([{ failed: true, outcome: error, beforeReturn: true }]);
    expect([counting.succeeded, counting.failed]).toEqual([callsBeforeCompiling + 1, 1]);
    const late = new Error('after settling');
    expect(() =>
      run(policy, (_context, settle) => {
        settle(false, 'settled');
        throw late;
      }),
    ).toThrow(late);
    expect([counting.entered, counting.succeeded, counting.failed]).toEqual([
      callsBeforeCompiling + 3,
      callsBeforeCompiling + 2,
      1,
    ]);
  });
});
