import { describe, expect, it } from 'vitest';
import { ExecutionContext } from './context.js';
import { handleAll, isCallerAbort, shouldHandleError } from './outcome.js';

describe('outcome', () => {
  it('recognises the caller abort reason, and nothing else', () => {
    const controller = new AbortController();
    const context = ExecutionContext.create({ signal: controller.signal });
    const reason = new Error('stop');
    expect(isCallerAbort(reason, context)).toBe(false);
    controller.abort(reason);
    expect(isCallerAbort(reason, context)).toBe(true);
    expect(isCallerAbort(new Error('stop'), context)).toBe(false);
    expect(isCallerAbort(reason, ExecutionContext.create())).toBe(false);
  });

  it('a timeout aborting a fork is not the caller abort', () => {
    const context = ExecutionContext.create({ signal: new AbortController().signal }).fork();
    const reason = new Error('timeout');
    context.abort(reason);
    expect(isCallerAbort(reason, context)).toBe(false);
  });

  it('never handles the caller abort, whatever shouldHandle says, and asks shouldHandle otherwise', () => {
    const controller = new AbortController();
    const context = ExecutionContext.create({ signal: controller.signal });
    const seen: unknown[] = [];
    const onlyTypeErrors = (outcome: { error: unknown }): boolean => {
      seen.push(outcome.error);
      return outcome.error instanceof TypeError;
    };
    expect(shouldHandleError(onlyTypeErrors, new TypeError('t'), context)).toBe(true);
    expect(shouldHandleError(onlyTypeErrors, new Error('e'), context)).toBe(false);
    expect(shouldHandleError(handleAll, new Error('e'), context)).toBe(true);
    controller.abort('bye');
    expect(shouldHandleError(handleAll, 'bye', context)).toBe(false);
    expect(shouldHandleError(() => true, 'bye', context)).toBe(false);
    expect(seen).toHaveLength(2);
  });
});
