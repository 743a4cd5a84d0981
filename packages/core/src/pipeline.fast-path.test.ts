import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BasePolicy, callOperation } from './base-policy.js';
import type { Clock } from './clock.js';
import { ExecutionContext } from './context.js';
import { executeSettling } from './execute-settling.js';
import type { FastPath } from './fast-path.js';
import { callsBeforeCompiling, pipeline } from './pipeline.js';
import type { Operation, Policy } from './policy.js';
import { type SettlingOperation, settleWith } from './settling.js';

/**
 * How a probe takes a call: `admit` and `throw` through its fast path (`throw` makes `enter` throw), `decline`
 * has a fast path whose `enter` returns undefined, `none` has no fast path, `plain` is hidden behind an object
 * with only `execute`.
 */
type Admission = 'admit' | 'decline' | 'throw' | 'none' | 'plain';

interface ProbeSpec {
  readonly admission: Admission;
  /** The attempt number the work inside sees (through `contextInside`); unset, it sees the context as is. */
  readonly attemptInside?: number | undefined;
  /** `succeeded` throws after its bookkeeping. */
  readonly succeededThrows?: boolean | undefined;
  /** `failed` throws (synchronously) after its bookkeeping, instead of returning a promise. */
  readonly failedThrows?: boolean | undefined;
  /** How many times a failure runs the work inside again (through `again`) before giving up. */
  readonly again?: number | undefined;
  /** A failure left after `again` turns into a value. */
  readonly recover?: boolean | undefined;
}

/** What a probe hands from `enter` to `succeeded` / `failed`. */
class Ticket {
  readonly entered: ExecutionContext;
  readonly inside: ExecutionContext;
  settlements = 0;

  constructor(entered: ExecutionContext, inside: ExecutionContext) {
    this.entered = entered;
    this.inside = inside;
  }
}

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * A policy whose fast path and `run` do the same thing, so that a pipeline can run it either way and the log
 * must come out the same. It logs what it sees, and keeps its tickets to check that each is settled once.
 */
class Probe extends BasePolicy {
  readonly name: string;
  readonly spec: ProbeSpec;
  readonly log: string[];
  readonly tickets: Ticket[] = [];
  /** Broken promises of the protocol, e.g. `failed` getting another context than the call entered with. */
  readonly faults: string[] = [];
  /** How many calls went through `run` rather than the fast path. */
  runs = 0;
  override readonly fastPath: FastPath<Ticket> | undefined;

  constructor(name: string, spec: ProbeSpec, log: string[]) {
    super();
    this.name = name;
    this.spec = spec;
    this.log = log;
    if (spec.admission === 'none' || spec.admission === 'plain') {
      this.fastPath = undefined;
      return;
    }
    const path: FastPath<Ticket> = {
      enter: (context) => (spec.admission === 'decline' ? undefined : this.#enter(context)),
      succeeded: (ticket) => this.#succeeded(ticket),
      failed: (ticket, context, error, again) => this.#failed(ticket, context, error, again),
    };
    if (spec.attemptInside !== undefined) path.contextInside = (ticket) => ticket.inside;
    this.fastPath = path;
  }

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    this.runs++;
    const ticket = this.#enter(context);
    return callOperation(fn, ticket.inside).then(
      (value) => {
        this.#succeeded(ticket);
        return value;
      },
      (error: unknown) => this.#failed(ticket, context, error, fn),
    );
  }

  #enter(context: ExecutionContext): Ticket {
    if (this.spec.admission === 'throw') {
      this.log.push(`${this.name}:throw`);
      throw new Error(`${this.name} refused`);
    }
    const attempt = this.spec.attemptInside;
    const ticket = new Ticket(context, attempt === undefined ? context : context.withAttempt(attempt));
    this.tickets.push(ticket);
    this.log.push(`${this.name}:enter@${context.attempt}`);
    return ticket;
  }

  #settle(ticket: Ticket): void {
    if (!this.tickets.includes(ticket)) this.faults.push(`${this.name}: settled a ticket it never issued`);
    ticket.settlements++;
  }

  #succeeded(ticket: Ticket): void {
    this.#settle(ticket);
    this.log.push(`${this.name}:ok`);
    if (this.spec.succeededThrows) throw new Error(`${this.name} succeeded threw`);
  }

  #failed<T>(ticket: Ticket, context: ExecutionContext, error: unknown, again: Operation<T>): Promise<T> {
    this.#settle(ticket);
    if (context !== ticket.entered) this.faults.push(`${this.name}: failed() got another context`);
    this.log.push(`${this.name}:fail(${message(error)})@${context.attempt}`);
    if (this.spec.failedThrows) throw new Error(`${this.name} failed threw`);
    return this.#again(ticket, error, again);
  }

  async #again<T>(ticket: Ticket, error: unknown, again: Operation<T>): Promise<T> {
    let last = error;
    for (let i = 1; i <= (this.spec.again ?? 0); i++) {
      try {
        return await callOperation(again, ticket.inside.withAttempt(ticket.inside.attempt + i));
      } catch (againError) {
        last = againError;
        this.log.push(`${this.name}:again-fail(${message(againError)})`);
      }
    }
    if (this.spec.recover) {
      this.log.push(`${this.name}:recover`);
      return `${this.name}-recovered` as T;
    }
    throw last;
  }
}

/** Hides a policy's fast path: a pipeline sees only `execute`, and runs it as a nested policy. */
const wrapPlain = (policy: Policy): Policy => ({ execute: (fn, options) => policy.execute(fn, options) });

/** What the n-th invocation of a scripted operation does. */
type Step = 'value' | 'throw' | 'resolve' | 'reject' | 'late-resolve' | 'late-reject';

/** An operation that follows `steps` (the last one repeats), logging each invocation and its attempt. */
function scripted(steps: readonly Step[], log: string[]): Operation<string> {
  let invocations = 0;
  return (context) => {
    const n = ++invocations;
    const step = steps[Math.min(n, steps.length) - 1] ?? 'value';
    log.push(`op#${n}@${context.attempt}`);
    const value = `v${n}`;
    const error = new Error(`e${n}`);
    switch (step) {
      case 'value':
        return value;
      case 'throw':
        throw error;
      case 'resolve':
        return Promise.resolve(value);
      case 'reject':
        return Promise.reject(error);
      case 'late-resolve':
        return Promise.resolve().then(() => Promise.resolve(value));
      case 'late-reject':
        return Promise.resolve().then(() => Promise.reject(error));
    }
  };
}

/** `operation` as a {@link SettlingOperation}: a value or a throw settles at once, a promise when it settles. */
function settling(operation: Operation<string>): SettlingOperation {
  return (context, settle) => {
    let result: string | PromiseLike<string>;
    try {
      result = operation(context);
    } catch (error) {
      settle(true, error);
      return;
    }
    if (typeof result === 'string') settle(false, result);
    else settleWith(result, settle);
  };
}

const outcome = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    (value) => `ok:${String(value)}`,
    (error: unknown) => `err:${message(error)}`,
  );

/** Runs `operation` through `executeSettling`; the outcome as `outcome` gives it, and how often it was settled. */
function outcomeSettling(
  policy: Policy,
  operation: SettlingOperation,
): { outcome: Promise<string>; settlements: () => number } {
  let settlements = 0;
  const settled = new Promise((resolve, reject) => {
    executeSettling(policy, operation, ExecutionContext.create(), (failed, value) => {
      settlements++;
      if (failed) reject(value);
      else resolve(value);
    });
  });
  return { outcome: outcome(settled), settlements: () => settlements };
}

interface Setup {
  readonly probes: Probe[];
  readonly log: string[];
  readonly policy: Policy;
}

/** The probes of `specs` in a pipeline; `nested` hides every fast path, which gives the reference behaviour. */
/**
 * Runs `build` as if Node ran with `--disallow-code-generation-from-strings`: a pipeline built then runs its
 * general loop instead of compiled code. Returns what it built and how often code generation was attempted.
 */
function withoutCodeGeneration<T>(build: () => T): { built: T; attempts: number } {
  const original = globalThis.Function;
  let attempts = 0;
  globalThis.Function = function disallowed() {
    attempts++;
    throw new EvalError('Code generation from strings disallowed for this context');
  } as unknown as FunctionConstructor;
  try {
    return { built: build(), attempts };
  } finally {
    globalThis.Function = original;
  }
}

/**
 * Runs a pipeline until it compiles its fast path (if it can), checking that every warm-up call settled every
 * ticket once, then forgets the warm-up. With `codeGeneration: false` the compiling call runs as if Node
 * disallowed code generation; returns how often code generation was attempted.
 */
async function warm(setup: Setup, codeGeneration = true): Promise<number> {
  let attempts = 0;
  for (let call = 1; call <= callsBeforeCompiling; call++) {
    const run = (): Promise<unknown> => setup.policy.execute(() => 'warm');
    let running: Promise<unknown>;
    if (call === callsBeforeCompiling && !codeGeneration) {
      const attempt = withoutCodeGeneration(run);
      attempts += attempt.attempts;
      running = attempt.built;
    } else {
      running = run();
    }
    await outcome(running);
  }
  for (const probe of setup.probes) {
    expect(probe.faults).toEqual([]);
    for (const ticket of probe.tickets) expect(ticket.settlements).toBe(1);
    probe.tickets.length = 0;
    probe.runs = 0;
  }
  setup.log.length = 0;
  return attempts;
}

function setup(specs: readonly ProbeSpec[], nested = false): Setup {
  const log: string[] = [];
  const probes = specs.map((spec, i) => new Probe(String.fromCharCode(97 + i), spec, log));
  const policies = probes.map((probe) =>
    nested || probe.spec.admission === 'plain' ? wrapPlain(probe) : probe,
  );
  return { probes, log, policy: pipeline(...policies) };
}

const admit: ProbeSpec = { admission: 'admit' };

describe('pipeline fast path', () => {
  it('enters outermost first and hands the outcome back innermost first, without running any policy', async () => {
    const { probes, log, policy } = setup([admit, admit, admit]);
    expect(await outcome(policy.execute(scripted(['resolve'], log)))).toBe('ok:v1');
    expect(log).toEqual(['a:enter@1', 'b:enter@1', 'c:enter@1', 'op#1@1', 'c:ok', 'b:ok', 'a:ok']);
    expect(probes.map((p) => p.runs)).toEqual([0, 0, 0]);

    log.length = 0;
    expect(await outcome(policy.execute(scripted(['reject'], log)))).toBe('err:e1');
    expect(log).toEqual([
      'a:enter@1',
      'b:enter@1',
      'c:enter@1',
      'op#1@1',
      'c:fail(e1)@1',
      'b:fail(e1)@1',
      'a:fail(e1)@1',
    ]);
    expect(probes.map((p) => p.runs)).toEqual([0, 0, 0]);
  });

  it.each(['decline', 'none', 'plain'] as const)(
    'runs a policy that is %s through execute, the ones outside it settled and the ones inside fast',
    async (admission) => {
      const { probes, log, policy } = setup([admit, { admission }, admit]);
      expect(await outcome(policy.execute(scripted(['value'], log)))).toBe('ok:v1');
      expect(log).toEqual(['a:enter@1', 'b:enter@1', 'c:enter@1', 'op#1@1', 'c:ok', 'b:ok', 'a:ok']);
      expect(probes.map((p) => p.runs)).toEqual([0, 1, 0]);

      log.length = 0;
      expect(await outcome(policy.execute(scripted(['throw'], log)))).toBe('err:e1');
      expect(log).toEqual([
        'a:enter@1',
        'b:enter@1',
        'c:enter@1',
        'op#1@1',
        'c:fail(e1)@1',
        'b:fail(e1)@1',
        'a:fail(e1)@1',
      ]);
      expect(probes.map((p) => p.runs)).toEqual([0, 2, 0]);
      expect(probes.flatMap((p) => p.faults)).toEqual([]);
    },
  );

  it('hands the failure of a throwing enter to the policies already entered, and none to those inside', async () => {
    const { probes, log, policy } = setup([admit, admit, { admission: 'throw' }, admit]);
    const operation = scripted(['value'], log);
    const promise = policy.execute(operation);
    expect(log).toEqual(['a:enter@1', 'b:enter@1', 'c:throw']);
    expect(await outcome(promise)).toBe('err:c refused');
    expect(log).toEqual(['a:enter@1', 'b:enter@1', 'c:throw', 'b:fail(c refused)@1', 'a:fail(c refused)@1']);
    expect(probes[3]!.tickets).toEqual([]);
    expect(probes.flatMap((p) => p.tickets.map((t) => t.settlements))).toEqual([1, 1]);
  });

  it('rejects rather than throws when the outermost enter throws', async () => {
    const { log, policy } = setup([{ admission: 'throw' }, admit]);
    const promise = policy.execute(scripted(['value'], log));
    expect(promise).toBeInstanceOf(Promise);
    expect(await outcome(promise)).toBe('err:a refused');
    expect(log).toEqual(['a:throw']);
  });

  it('turns a throwing succeeded into a failure for the policies outside it, as its own promise would', async () => {
    const { probes, log, policy } = setup([
      admit,
      admit,
      { admission: 'admit', succeededThrows: true },
      admit,
    ]);
    expect(await outcome(policy.execute(scripted(['resolve'], log)))).toBe('err:c succeeded threw');
    expect(log).toEqual([
      'a:enter@1',
      'b:enter@1',
      'c:enter@1',
      'd:enter@1',
      'op#1@1',
      'd:ok',
      'c:ok',
      'b:fail(c succeeded threw)@1',
      'a:fail(c succeeded threw)@1',
    ]);
    // c got its one outcome (succeeded); it is not told about its own throw a second time.
    expect(probes.map((p) => p.tickets.map((t) => t.settlements))).toEqual([[1], [1], [1], [1]]);

    const recovering = setup([
      { admission: 'admit', recover: true },
      { admission: 'admit', succeededThrows: true },
    ]);
    expect(await outcome(recovering.policy.execute(scripted(['value'], recovering.log)))).toBe(
      'ok:a-recovered',
    );
    expect(recovering.log).toEqual([
      'a:enter@1',
      'b:enter@1',
      'op#1@1',
      'b:ok',
      'a:fail(b succeeded threw)@1',
      'a:recover',
    ]);
  });

  it('turns a throwing failed into a failure with that error for the policies outside it', async () => {
    const { probes, log, policy } = setup([admit, { admission: 'admit', failedThrows: true }, admit]);
    expect(await outcome(policy.execute(scripted(['reject'], log)))).toBe('err:b failed threw');
    expect(log).toEqual([
      'a:enter@1',
      'b:enter@1',
      'c:enter@1',
      'op#1@1',
      'c:fail(e1)@1',
      'b:fail(e1)@1',
      'a:fail(b failed threw)@1',
    ]);
    expect(probes.flatMap((p) => p.tickets.map((t) => t.settlements))).toEqual([1, 1, 1]);
  });

  it('runs only the policies inside a failed one again, each entering anew, when failed returns again()', async () => {
    const { probes, log, policy } = setup([admit, { admission: 'admit', again: 2 }, admit, admit]);
    expect(await outcome(policy.execute(scripted(['reject', 'throw', 'resolve'], log)))).toBe('ok:v3');
    expect(log).toEqual([
      'a:enter@1',
      'b:enter@1',
      'c:enter@1',
      'd:enter@1',
      'op#1@1',
      'd:fail(e1)@1',
      'c:fail(e1)@1',
      'b:fail(e1)@1',
      'c:enter@2',
      'd:enter@2',
      'op#2@2',
      'd:fail(e2)@2',
      'c:fail(e2)@2',
      'b:again-fail(e2)',
      'c:enter@3',
      'd:enter@3',
      'op#3@3',
      'd:ok',
      'c:ok',
      'a:ok',
    ]);
    expect(probes.map((p) => p.tickets.length)).toEqual([1, 1, 3, 3]);
    expect(probes.flatMap((p) => p.tickets.map((t) => t.settlements))).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    expect(probes.map((p) => p.runs)).toEqual([0, 0, 0, 0]);
  });

  it('gives the policies inside and the operation the context from contextInside, and failed the one it entered with', async () => {
    const { probes, log, policy } = setup([
      { admission: 'admit', attemptInside: 5 },
      admit,
      { admission: 'admit', attemptInside: 7 },
      admit,
    ]);
    const seen: ExecutionContext[] = [];
    const result = await outcome(
      policy.execute((context) => {
        seen.push(context as ExecutionContext);
        log.push(`op@${context.attempt}`);
        throw new Error('x');
      }),
    );
    expect(result).toBe('err:x');
    expect(log).toEqual([
      'a:enter@1',
      'b:enter@5',
      'c:enter@5',
      'd:enter@7',
      'op@7',
      'd:fail(x)@7',
      'c:fail(x)@5',
      'b:fail(x)@5',
      'a:fail(x)@1',
    ]);
    expect(seen[0]).toBe(probes[2]!.tickets[0]!.inside);
    expect(probes[1]!.tickets[0]!.entered).toBe(probes[0]!.tickets[0]!.inside);
    // failed() is handed the very context object each policy entered with, not a copy.
    expect(probes.flatMap((p) => p.faults)).toEqual([]);
  });

  it('settles with a value-returning operation and a sync-throwing one, without throwing from execute', async () => {
    const { log, policy } = setup([admit, admit]);
    expect(await outcome(policy.execute(() => 42))).toBe('ok:42');
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = policy.execute(() => {
        throw new Error('sync');
      });
    }).not.toThrow();
    expect(await outcome(promise!)).toBe('err:sync');
    expect(log).toEqual([
      'a:enter@1',
      'b:enter@1',
      'b:ok',
      'a:ok',
      'a:enter@1',
      'b:enter@1',
      'b:fail(sync)@1',
      'a:fail(sync)@1',
    ]);
  });

  it('flattens nested pipelines, so their policies run on the one fast path', async () => {
    const log: string[] = [];
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => new Probe(name, admit, log)) as [
      Probe,
      Probe,
      Probe,
      Probe,
    ];
    const policy = pipeline(a, pipeline(b, pipeline(c)), pipeline(), d);
    expect(policy.policies).toEqual([a, b, c, d]);
    expect(await outcome(policy.execute(scripted(['late-reject'], log)))).toBe('err:e1');
    expect(log).toEqual([
      'a:enter@1',
      'b:enter@1',
      'c:enter@1',
      'd:enter@1',
      'op#1@1',
      'd:fail(e1)@1',
      'c:fail(e1)@1',
      'b:fail(e1)@1',
      'a:fail(e1)@1',
    ]);
    expect([a, b, c, d].map((p) => p.runs)).toEqual([0, 0, 0, 0]);
  });

  it('behaves like the nested policies for every mix, and settles every admitted call exactly once', async () => {
    const spec: fc.Arbitrary<ProbeSpec> = fc.record({
      admission: fc.constantFrom<Admission>('admit', 'admit', 'admit', 'decline', 'throw', 'none', 'plain'),
      attemptInside: fc.option(fc.integer({ min: 2, max: 9 }), { nil: undefined }),
      succeededThrows: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
      failedThrows: fc.integer({ min: 0, max: 6 }).map((n) => n === 0),
      again: fc.integer({ min: 0, max: 2 }),
      recover: fc.boolean(),
    });
    const step = fc.constantFrom<Step>('value', 'throw', 'resolve', 'reject', 'late-resolve', 'late-reject');
    await fc.assert(
      fc.asyncProperty(
        fc.array(spec, { minLength: 1, maxLength: 6 }),
        fc.array(step, { minLength: 1, maxLength: 8 }),
        async (specs, steps) => {
          // The pipeline compiled, the same pipeline where code generation is disallowed (its general loop),
          // and the same policies nested (the reference).
          // The same compiled, run with an operation that settles by callback, makes a fourth.
          const fast = setup(specs);
          const loop = setup(specs);
          const nested = setup(specs, true);
          const settled = setup(specs);
          if (specs.every((spec) => spec.admission !== 'none' && spec.admission !== 'plain')) {
            await warm(fast);
            await warm(loop, false);
            await warm(settled);
          }
          const fastOutcome = await outcome(fast.policy.execute(scripted(steps, fast.log)));
          const loopOutcome = await outcome(loop.policy.execute(scripted(steps, loop.log)));
          const nestedOutcome = await outcome(nested.policy.execute(scripted(steps, nested.log)));
          const bySettle = outcomeSettling(settled.policy, settling(scripted(steps, settled.log)));
          expect(fastOutcome).toBe(nestedOutcome);
          expect(loopOutcome).toBe(nestedOutcome);
          expect(await bySettle.outcome).toBe(nestedOutcome);
          expect(fast.log).toEqual(nested.log);
          expect(loop.log).toEqual(nested.log);
          expect(settled.log).toEqual(nested.log);
          await new Promise((resolve) => setImmediate(resolve));
          expect(bySettle.settlements()).toBe(1);
          for (const { probes } of [fast, loop, nested, settled]) {
            expect(probes.flatMap((p) => p.faults)).toEqual([]);
            for (const probe of probes) {
              for (const ticket of probe.tickets) expect(ticket.settlements).toBe(1);
            }
          }
          // Only the policies that cannot take the fast path ran through execute.
          for (const probe of [...fast.probes, ...loop.probes, ...settled.probes]) {
            if (probe.spec.admission === 'admit' || probe.spec.admission === 'throw')
              expect(probe.runs).toBe(0);
          }
        },
      ),
      { numRuns: 500 },
    );
  }, 30_000);
});

/** A fast path that records the time it was handed, on a clock that counts its readings. */
class TimedProbe extends BasePolicy {
  readonly seen: number[] = [];
  override readonly fastPath: FastPath<true>;

  constructor(clock: Clock | undefined) {
    super();
    this.fastPath = {
      clock,
      enter: (_context, now) => {
        this.seen.push(now);
        return true;
      },
      succeeded: () => {},
      failed: (_ticket, _context, error) => {
        throw error;
      },
    };
  }

  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    return callOperation(fn, context);
  }
}

function countingClock(start: number): Clock & { readings: number } {
  let time = start;
  return {
    readings: 0,
    now() {
      this.readings++;
      return time++;
    },
    setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  };
}

describe('pipeline compiled fast path', () => {
  it('compiles a hot pipeline whose policies all have a fast path, and runs the loop where that is disallowed', async () => {
    const cold = setup([admit, admit]);
    const { built: calls, attempts } = withoutCodeGeneration(() =>
      Array.from({ length: callsBeforeCompiling - 1 }, (_, call) => cold.policy.execute(() => call)),
    );
    expect(attempts).toBe(0);
    await Promise.all(calls);
    const compiling = setup([admit, admit]);
    expect(await warm(compiling, false)).toBe(1);
    const partly = setup([admit, { admission: 'none' }]);
    expect(await warm(partly, false)).toBe(0);
    for (const built of [compiling, partly]) {
      await expect(built.policy.execute(() => 'done')).resolves.toBe('done');
      expect(built.probes.flatMap((p) => p.tickets.map((t) => t.settlements))).toEqual([1, 1]);
    }
  });

  it('keeps pipelines of different policies apart when they run interleaved', async () => {
    const log: string[] = [];
    const names = Array.from({ length: 8 }, (_, i) =>
      Array.from({ length: 1 + (i % 4) }, (_, j) => `${i}.${j}`),
    );
    const pipelines = names.map((row) => pipeline(...row.map((name) => new Probe(name, admit, log))));
    for (const p of pipelines)
      for (let call = 0; call < callsBeforeCompiling; call++) await p.execute(() => call);
    log.length = 0;
    const values = await Promise.all(
      Array.from({ length: 64 }, (_, call) => pipelines[call % 8]!.execute(() => call)),
    );
    expect(values).toEqual(Array.from({ length: 64 }, (_, call) => call));
    // Each of the 8 pipelines took 8 calls, and each of its policies entered and succeeded once per call.
    const count = (line: string): number => log.filter((entry) => entry === line).length;
    for (const name of names.flat()) expect([count(`${name}:enter@1`), count(`${name}:ok`)]).toEqual([8, 8]);
    expect(log).toHaveLength(names.flat().length * 16);
  });
});

describe('pipeline fast path clock', () => {
  it('reads a clock once per call for every policy that shares it, and never for policies without one', async () => {
    const clock = countingClock(100);
    const outer = new TimedProbe(clock);
    const middle = new TimedProbe(undefined);
    const inner = new TimedProbe(clock);
    const p = pipeline(outer, middle, inner);
    await p.execute(() => 1);
    await p.execute(() => 2);
    expect(clock.readings).toBe(2);
    expect(outer.seen).toEqual([100, 101]);
    expect(inner.seen).toEqual([100, 101]);
    expect(middle.seen).toEqual([Number.NaN, Number.NaN]);
  });

  it('reads each of several clocks for the policies that use it', async () => {
    const a = countingClock(0);
    const b = countingClock(50);
    const first = new TimedProbe(a);
    const second = new TimedProbe(b);
    const third = new TimedProbe(b);
    await pipeline(first, second, third).execute(() => 1);
    expect([a.readings, b.readings]).toEqual([1, 1]);
    expect([first.seen, second.seen, third.seen]).toEqual([[0], [50], [50]]);
  });
});
