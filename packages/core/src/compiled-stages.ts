import { callOperation } from './base-policy.js';
import type { Clock } from './clock.js';
import type { ExecutionContext } from './context.js';
import type { FastPath } from './fast-path.js';
import type { Operation } from './policy.js';
import { type Settle, type SettlingOperation, settleWith, settlingAsOperation } from './settling.js';

/**
 * Where a compiled pipeline hands a call over to the general code: whenever something other than "every policy
 * admits and the operation succeeds" happens. `tickets` are those of the policies entered, by level.
 */
export interface Resume {
  /** The policy at `level` declined the call: it runs the policies inside it through its own execute. */
  declined(
    tickets: unknown[],
    level: number,
    context: ExecutionContext,
    fn: Operation<unknown>,
  ): Promise<unknown>;
  /** An `enter` threw: the policies entered so far (those with a ticket) fail with `error`. */
  threw(
    tickets: unknown[],
    context: ExecutionContext,
    fn: Operation<unknown>,
    error: unknown,
  ): Promise<unknown>;
  /** The policies from `level` outwards get the failure `error`: throws or returns what they settle with. */
  failed(
    tickets: unknown[],
    level: number,
    context: ExecutionContext,
    fn: Operation<unknown>,
    error: unknown,
  ): Promise<unknown>;
}

/** A pipeline's fast path, compiled: for an operation that returns a promise, and for one that settles. */
export interface CompiledRun {
  readonly run: (fn: Operation<unknown>, context: ExecutionContext) => Promise<unknown>;
  readonly runSettling: (fn: SettlingOperation, context: ExecutionContext, settle: Settle) => void;
}

let compiled = 0;

/**
 * Writes the fast path of a pipeline whose policies all have one as functions of its own, one for an operation
 * that returns a promise and one for a {@link SettlingOperation}: every policy gets call sites of its own, which
 * V8 inlines, and the tickets live in the callbacks' scope rather than in an array. A loop over the policies
 * calls several functions from one site instead, which V8 never inlines: on a pipeline of four trivial policies
 * that costs more than a bare async call (benchmarks/README.md).
 *
 * The source depends only on the number of policies and on which of them read a clock or change the context,
 * never on user input. It is unique per pipeline, so that no two pipelines share type feedback. Returns
 * `undefined` where code generation is disallowed (`--disallow-code-generation-from-strings`): the pipeline then
 * runs its loop.
 */
export function compilePipeline(
  paths: readonly FastPath<unknown>[],
  resume: Resume,
): CompiledRun | undefined {
  const clocks: Clock[] = [];
  const tickets = paths.map((_, level) => `t${level}`);
  /** The policies' `enter` calls; `declined` is what the code returns when the policy at `level` declines. */
  const enterAll = (declined: (tickets: string, level: number) => string): string => {
    const lines: string[] = [];
    let current: Clock | undefined;
    paths.forEach((path, level) => {
      const clock = path.clock;
      if (clock !== undefined && clock !== current) {
        current = clock;
        let index = clocks.indexOf(clock);
        if (index < 0) index = clocks.push(clock) - 1;
        lines.push(`now = c${index}.now();`);
      }
      lines.push(
        `t${level} = p${level}.enter(inside, ${clock === undefined ? 'NaN' : 'now'});`,
        `if (t${level} === undefined) return ${declined(`[${tickets.slice(0, level).join(', ')}]`, level)};`,
      );
      if (path.contextInside !== undefined)
        lines.push(`inside = p${level}.contextInside(t${level}, inside);`);
    });
    return lines.join('\n    ');
  };
  const succeed: string[] = [];
  for (let level = paths.length - 1; level >= 0; level--) {
    succeed.push(`level = ${level};`, `p${level}.succeeded(t${level});`);
  }
  const all = `[${tickets.join(', ')}]`;
  const last = paths.length - 1;
  const source = `// breakwater pipeline ${++compiled}
function run(fn, context) {
  let inside = context, now = NaN, work, ${tickets.join(', ')};
  try {
    ${enterAll((entered, level) => `resume.declined(${entered}, ${level}, context, fn)`)}
    work = callOperation(fn, inside);
  } catch (error) {
    return resume.threw(${all}, context, fn, error);
  }
  return work.then(
    (value) => {
      let level;
      try {
        ${succeed.join('\n        ')}
      } catch (error) {
        return resume.failed(${all}, level - 1, context, fn, error);
      }
      return value;
    },
    (error) => resume.failed(${all}, ${last}, context, fn, error),
  );
}
function runSettling(fn, context, settle) {
  let inside = context, now = NaN, ${tickets.join(', ')};
  try {
    ${enterAll((entered, level) => `settleWith(resume.declined(${entered}, ${level}, context, settlingAsOperation(fn)), settle)`)}
  } catch (error) {
    return settleWith(resume.threw(${all}, context, settlingAsOperation(fn), error), settle);
  }
  let settled = false;
  const inner = (failed, outcome) => {
    if (settled) return;
    settled = true;
    let level = ${last};
    if (!failed) {
      try {
        ${succeed.join('\n        ')}
      } catch (error) {
        failed = true;
        outcome = error;
        level--;
      }
      if (!failed) return settle(false, outcome);
    }
    let settling;
    try {
      settling = resume.failed(${all}, level, context, settlingAsOperation(fn), outcome);
    } catch (error) {
      return settle(true, error);
    }
    settleWith(settling, settle);
  };
  try {
    fn(inside, inner);
  } catch (error) {
    // As a promise would: a throw before the operation settled is its failure; one after it is not swallowed.
    if (settled) throw error;
    inner(true, error);
  }
}
return { run, runSettling };`;
  const names = [
    'resume',
    'callOperation',
    'settleWith',
    'settlingAsOperation',
    ...paths.map((_, level) => `p${level}`),
    ...clocks.map((_, index) => `c${index}`),
  ];
  try {
    const make = new Function(...names, source) as (...args: unknown[]) => CompiledRun;
    return make(resume, callOperation, settleWith, settlingAsOperation, ...paths, ...clocks);
  } catch {
    return undefined;
  }
}
