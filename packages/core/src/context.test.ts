import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { neverAbortedSignal } from './cancellation-scope.js';
import { ExecutionContext } from './context.js';
import { contextKey } from './context-key.js';
import { isCallerAbort } from './outcome.js';

describe('ExecutionContext', () => {
  it('starts at attempt 1 with the caller key and signal, and no deadline', () => {
    const signal = new AbortController().signal;
    const ctx = ExecutionContext.create({ signal, key: 'k' });
    expect([ctx.attempt, ctx.key, ctx.deadline, ctx.signal, ctx.callerSignal]).toEqual([
      1,
      'k',
      undefined,
      signal,
      signal,
    ]);
  });

  it('uses one shared never-aborting signal when the caller gives none', () => {
    expect(ExecutionContext.create().signal).toBe(neverAbortedSignal);
    expect(ExecutionContext.create().callerSignal).toBeUndefined();
  });

  it('shares data across attempts and forks of one execution, but not across executions', () => {
    const key = contextKey<number>('n');
    const root = ExecutionContext.create();
    root.fork(10).withAttempt(2).set(key, 7);
    expect(root.get(key)).toBe(7);
    expect(ExecutionContext.create().get(key)).toBeUndefined();
  });

  it('keeps every key apart, the first stored and any later ones, and overwrites each in place', () => {
    const [a, b, c] = [contextKey<string>('a'), contextKey<string>('b'), contextKey<string>('c')];
    const root = ExecutionContext.create();
    const attempt = root.withAttempt(2);
    root.set(a, 'a1');
    attempt.set(b, 'b1');
    expect([root.get(a), root.get(b), root.get(c)]).toEqual(['a1', 'b1', undefined]);
    attempt.set(a, 'a2');
    root.set(b, 'b2');
    root.set(c, 'c1');
    expect([attempt.get(a), attempt.get(b), attempt.get(c)]).toEqual(['a2', 'b2', 'c1']);
  });

  it('keeps the caller signal and data of the execution in every derived context', () => {
    const key = contextKey<string>('s');
    const signal = new AbortController().signal;
    const root = ExecutionContext.create({ signal, key: 'origin' });
    const derived = root.withAttempt(3).fork(5).withAttempt(4);
    derived.set(key, 'shared');
    expect([derived.callerSignal, derived.key, derived.attempt, derived.deadline]).toEqual([
      signal,
      'origin',
      4,
      5,
    ]);
    expect(root.get(key)).toBe('shared');
  });

  it('cannot abort or release the root of a call without a signal, which all such calls share', () => {
    const first = ExecutionContext.create();
    first.abort(new Error('not the caller'));
    first.release();
    const forked = ExecutionContext.create().fork();
    expect(first.aborted).toBe(false);
    expect(forked.aborted).toBe(false);
    forked.abort('own reason');
    expect(forked.signal.reason).toBe('own reason');
    expect(ExecutionContext.create().aborted).toBe(false);
  });

  it('tells abort watchers of nested forks once, with the reason, without creating any signal', () => {
    const controller = new AbortController();
    const outer = ExecutionContext.create({ signal: controller.signal }).fork(100);
    const inner = outer.fork(50);
    const seen: unknown[] = [];
    const watcher = { handleEvent: () => seen.push(inner.abortReason) };
    inner.watchAbort(watcher);
    // One listener on the caller's signal, for the outer fork; the inner one watches the outer fork.
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort('caller reason');
    expect(seen).toEqual(['caller reason']);
    expect([outer.aborted, inner.aborted, inner.abortReason]).toEqual([true, true, 'caller reason']);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    inner.abort('late');
    expect(seen).toHaveLength(1);
    expect(inner.signal.reason).toBe('caller reason');
  });

  it('aborts a fork nobody watches or reads with a flag, and a signal read later carries the reason', () => {
    const forked = ExecutionContext.create().fork();
    const child = forked.fork();
    forked.abort('own reason');
    expect([forked.aborted, child.aborted, child.abortReason]).toEqual([true, true, 'own reason']);
    expect(child.signal.aborted).toBe(true);
    expect(child.signal.reason).toBe('own reason');
  });

  it('stops telling a watcher after unwatchAbort, and tells none after release', () => {
    const controller = new AbortController();
    const forked = ExecutionContext.create({ signal: controller.signal }).fork();
    let told = 0;
    const watcher = { handleEvent: () => told++ };
    forked.watchAbort(watcher);
    forked.unwatchAbort(watcher);
    forked.abort('x');
    expect(told).toBe(0);

    const released = ExecutionContext.create({ signal: controller.signal }).fork();
    released.watchAbort(watcher);
    released.release();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    controller.abort('caller');
    expect(told).toBe(0);
  });

  it('tells every watcher of a scope once, in order, except those unwatched', () => {
    const forked = ExecutionContext.create().fork();
    const told: string[] = [];
    const watchers = ['a', 'b', 'c', 'd'].map((name) => ({ handleEvent: () => told.push(name) }));
    for (const watcher of watchers) forked.watchAbort(watcher);
    forked.unwatchAbort(watchers[0]!);
    forked.unwatchAbort(watchers[2]!);
    forked.abort('x');
    forked.abort('y');
    expect(told).toEqual(['b', 'd']);
  });

  it('makes a context its creator cancels, whose abort counts as the caller’s', () => {
    const context = ExecutionContext.createCancellable('k');
    const forked = context.fork(10);
    let told = 0;
    forked.watchAbort({ handleEvent: () => told++ });
    const reason = new Error('handler aborted');
    context.abort(reason);
    expect([told, forked.aborted, forked.abortReason, context.key]).toEqual([1, true, reason, 'k']);
    expect(context.callerSignal?.reason).toBe(reason);
    expect(isCallerAbort(reason, forked)).toBe(true);
    expect(isCallerAbort(new Error('other'), forked)).toBe(false);
    expect(ExecutionContext.createCancellable().callerSignal?.aborted).toBe(false);
  });

  it('returns itself for the same attempt, so a first attempt allocates nothing', () => {
    const ctx = ExecutionContext.create();
    expect(ctx.withAttempt(1)).toBe(ctx);
    expect(ctx.withAttempt(2).attempt).toBe(2);
  });

  it('creates no signal for a fork until someone reads it, and then follows the parent', () => {
    const controller = new AbortController();
    const forked = ExecutionContext.create({ signal: controller.signal }).fork();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    const signal = forked.signal;
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort('parent reason');
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe('parent reason');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('release() removes the listener on the parent signal', () => {
    const controller = new AbortController();
    const forked = ExecutionContext.create({ signal: controller.signal }).fork();
    forked.signal;
    forked.release();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    controller.abort();
    expect(forked.signal.aborted).toBe(false);
  });

  it('a fork whose signal is first read after release still reports a parent abort, without listening', () => {
    const controller = new AbortController();
    const forked = ExecutionContext.create({ signal: controller.signal }).fork();
    forked.release();
    controller.abort('gone');
    expect(forked.signal.aborted).toBe(true);
    expect(forked.signal.reason).toBe('gone');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('abort() aborts the fork and its own forks, never the parent or the caller', () => {
    const controller = new AbortController();
    const root = ExecutionContext.create({ signal: controller.signal });
    const forked = root.fork();
    const grandchild = forked.fork();
    expect(grandchild.aborted).toBe(false);
    forked.abort('timeout');
    expect(forked.aborted).toBe(true);
    expect(grandchild.aborted).toBe(true);
    expect(grandchild.signal.reason).toBe('timeout');
    expect(root.aborted).toBe(false);
    expect(controller.signal.aborted).toBe(false);
    root.abort('not mine');
    expect(controller.signal.aborted).toBe(false);
  });

  it('a fork made after the parent aborted starts aborted with the parent reason', () => {
    const forked = ExecutionContext.create({ signal: AbortSignal.abort('early') }).fork();
    expect(forked.aborted).toBe(true);
    expect(forked.signal.reason).toBe('early');
  });

  it('keeps the earliest deadline of nested forks', () => {
    const root = ExecutionContext.create();
    expect(root.fork(50).fork(80).deadline).toBe(50);
    expect(root.fork(80).fork(50).deadline).toBe(50);
    expect(root.fork().deadline).toBeUndefined();
    // Through attempts and forks without a deadline of their own, and from a source read only when asked.
    expect(root.fork(50).withAttempt(2).fork().fork(80).deadline).toBe(50);
    let reads = 0;
    const lazy = {
      get deadline() {
        reads++;
        return 30;
      },
    };
    const inner = root.fork(50).withAttempt(3).fork(lazy).withAttempt(4).fork(40);
    expect(reads).toBe(0);
    expect(inner.deadline).toBe(30);
  });

  it('recognises contexts by brand, not by class identity', () => {
    expect(ExecutionContext.is(ExecutionContext.create())).toBe(true);
    expect(ExecutionContext.is({ signal: neverAbortedSignal, key: 'k' })).toBe(false);
    expect(ExecutionContext.is(null)).toBe(false);
  });
});
