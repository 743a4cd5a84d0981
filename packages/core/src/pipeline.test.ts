import { describe, expect, it } from 'vitest';
import { BasePolicy, callOperation } from './base-policy.js';
import type { Context, ExecutionContext } from './context.js';
import { contextKey } from './context-key.js';
import { pipeline } from './pipeline.js';
import type { Operation } from './policy.js';

/** Records when it enters and leaves, around the inner call. */
class Recorder extends BasePolicy {
  readonly name: string;
  readonly log: string[];

  constructor(name: string, log: string[]) {
    super();
    this.name = name;
    this.log = log;
  }

  protected async run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    this.log.push(`${this.name}:enter`);
    try {
      return await callOperation(fn, context);
    } finally {
      this.log.push(`${this.name}:leave`);
    }
  }
}

/** Calls the inner operation `times` times, each as a new attempt, and returns the last result. */
class Repeat extends BasePolicy {
  readonly times: number;

  constructor(times: number) {
    super();
    this.times = times;
  }

  protected async run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    let result!: T;
    for (let attempt = 1; attempt <= this.times; attempt++) {
      result = await callOperation(fn, context.withAttempt(attempt));
    }
    return result;
  }
}

/** Gives the inner call a forked context with a deadline. */
class Deadline extends BasePolicy {
  readonly deadline: number;

  constructor(deadline: number) {
    super();
    this.deadline = deadline;
  }

  protected async run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    const forked = context.fork(this.deadline);
    try {
      return await callOperation(fn, forked);
    } finally {
      forked.release();
    }
  }
}

describe('pipeline', () => {
  it('runs the first policy outermost and the last innermost', async () => {
    const log: string[] = [];
    const p = pipeline(new Recorder('a', log), new Recorder('b', log), new Recorder('c', log));
    const result = await p.execute(() => {
      log.push('operation');
      return 42;
    });
    expect(result).toBe(42);
    expect(log).toEqual(['a:enter', 'b:enter', 'c:enter', 'operation', 'c:leave', 'b:leave', 'a:leave']);
  });

  it('re-runs only the policies inside a repeating one, and the operation sees each attempt', async () => {
    const log: string[] = [];
    const attempts: number[] = [];
    const p = pipeline(new Recorder('outer', log), new Repeat(3), new Recorder('inner', log));
    await p.execute((ctx) => {
      attempts.push(ctx.attempt);
    });
    expect(attempts).toEqual([1, 2, 3]);
    expect(log).toEqual([
      'outer:enter',
      ...['inner:enter', 'inner:leave', 'inner:enter', 'inner:leave', 'inner:enter', 'inner:leave'],
      'outer:leave',
    ]);
  });

  it('propagates signal, key, attempt, deadline and shared data through every policy', async () => {
    const controller = new AbortController();
    const seen = contextKey<string>('seen');
    const contexts: Context[] = [];
    const p = pipeline(new Deadline(500), new Repeat(2), new Deadline(100));
    await p.execute(
      (ctx) => {
        contexts.push(ctx);
        if (ctx.attempt === 1) ctx.set(seen, 'from attempt 1');
      },
      { signal: controller.signal, key: 'https://a.example' },
    );
    expect(contexts.map((c) => [c.attempt, c.key, c.deadline])).toEqual([
      [1, 'https://a.example', 100],
      [2, 'https://a.example', 100],
    ]);
    expect(contexts[1]!.get(seen)).toBe('from attempt 1');
    expect(contexts[0]!.signal.aborted).toBe(false);
  });

  it('keeps the earlier deadline when an inner policy asks for a later one', async () => {
    let deadline: number | undefined;
    await pipeline(new Deadline(100), new Deadline(500)).execute((ctx) => {
      deadline = ctx.deadline;
    });
    expect(deadline).toBe(100);
  });

  it('runs the operation as is with no policies, sync values and sync throws included', async () => {
    const p = pipeline();
    expect(await p.execute(() => 'sync')).toBe('sync');
    expect(await p.execute(async (ctx) => ctx.attempt)).toBe(1);
    await expect(
      p.execute(() => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
  });

  it('flattens nested pipelines without changing the order', async () => {
    const log: string[] = [];
    const a = new Recorder('a', log);
    const b = new Recorder('b', log);
    const c = new Recorder('c', log);
    const nested = pipeline(a, pipeline(b, c));
    expect(nested.policies).toEqual([a, b, c]);
    await nested.execute(() => undefined);
    expect(log.filter((entry) => entry.endsWith('enter'))).toEqual(['a:enter', 'b:enter', 'c:enter']);
  });

  it('accepts user policies that only implement execute', async () => {
    const calls: string[] = [];
    const plain = {
      execute<T>(fn: Operation<T>, options?: { signal?: AbortSignal }): Promise<T> {
        calls.push('plain');
        return pipeline().execute(fn, options);
      },
    };
    expect(await pipeline(plain, new Repeat(2)).execute((ctx) => ctx.attempt)).toBe(2);
    expect(calls).toEqual(['plain']);
  });

  it('rejects arguments that are not policies, naming the position', () => {
    expect(() => pipeline(new Repeat(1), {} as never)).toThrow(
      new TypeError(
        'pipeline: argument 2 must be a policy (an object with an execute method), received an object',
      ),
    );
    expect(() => pipeline(null as never)).toThrow(/argument 1 .* received null/);
  });
});
