import { join } from 'node:path';
import { BasePolicy, callOperation, type ExecutionContext, type Operation, pipeline } from '@breakwater/core';
import { metric, type RoundResults, runChild, runRounds, sameRoundRatios } from '../lib/rounds.ts';
import { fmt, median, range } from '../lib/stats.ts';
import { table } from '../lib/table.ts';
import { cockatiel, ours } from '../stacks.ts';
import type { RunOptions, Suite, SuiteReport } from '../suite.ts';

/** The measured call, made once per child process. It must resolve to 1 (the child checks). */
export type Call = () => Promise<unknown>;
export type CaseFactory = () => Promise<Call> | Call;

const noop = async (): Promise<number> => 1;
const identity = <T>(value: T): T => value;
const rethrow = (error: unknown): never => {
  throw error;
};
const longLivedSignal = (): AbortSignal => new AbortController().signal;

/** A policy that only passes the call on: what composing policies costs, apart from what they do. */
class PassThrough extends BasePolicy {
  protected run<T>(fn: Operation<T>, context: ExecutionContext): Promise<T> {
    return callOperation(fn, context);
  }
}

export const baseline = 'bare async call';
const names = {
  timeout: 'breakwater timeout',
  retry: 'breakwater retry',
  breaker: 'breakwater circuitBreaker',
  bulkhead: 'breakwater bulkhead',
  stack: 'breakwater pipeline(bulkhead, timeout, retry, breaker)',
  cockatielWrap: 'cockatiel wrap(retry, breaker, timeout, bulkhead)',
  opossum: 'opossum defaults (10 s timeout)',
} as const;

/** The cases in report order, each made in its own child process. */
export const cases: Readonly<Record<string, CaseFactory>> = {
  [baseline]: () => noop,
  // The floors: what any policy that must see the outcome pays (one more promise), and a timeout's clock read.
  'floor: bare call + one .then': () => () => noop().then(identity, rethrow),
  // The reading decides the result (it is never negative), so it cannot be optimised away.
  'floor: bare call + performance.now()': () => () => (performance.now() >= 0 ? noop() : Promise.resolve(0)),
  'breakwater pipeline() (empty)': () => executeNoop(pipeline()),
  'breakwater pipeline of 4 pass-through policies': () =>
    executeNoop(pipeline(new PassThrough(), new PassThrough(), new PassThrough(), new PassThrough())),
  [names.timeout]: async () => executeNoop(await ours.timeout()),
  [names.retry]: async () => executeNoop(await ours.retry()),
  [names.breaker]: async () => executeNoop(await ours.breaker()),
  [names.bulkhead]: async () => executeNoop(await ours.bulkhead()),
  [names.stack]: async () => executeNoop(await ours.stack()),
  'breakwater same 4 + caller signal': async () => {
    const p = await ours.stack();
    const options = { signal: longLivedSignal() };
    return () => p.execute(noop, options);
  },
  'breakwater same 4, operation reads ctx.signal': async () => {
    const p = await ours.stack();
    // What an HTTP call does: hand ctx.signal to undici, which makes the lazy AbortController real.
    const readsSignal = async (ctx: { readonly signal: AbortSignal }): Promise<number> =>
      ctx.signal.aborted ? 0 : 1;
    return () => p.execute(readsSignal);
  },
  'breakwater standardPipeline() (HTTP preset, per origin)': async () => {
    const { standardPipeline } = await import('@breakwater/http');
    const p = standardPipeline();
    const options = { key: 'http://127.0.0.1:8080' };
    return () => p.execute(noop, options);
  },
  'cockatiel retry': async () => executeNoop(await cockatiel.retry()),
  'cockatiel circuitBreaker': async () => executeNoop(await cockatiel.breaker()),
  'cockatiel timeout (cooperative)': async () => executeNoop(await cockatiel.timeout()),
  'cockatiel bulkhead': async () => executeNoop(await cockatiel.bulkhead()),
  [names.cockatielWrap]: async () => executeNoop(await cockatiel.wrap()),
  'cockatiel wrap(4) + caller signal': async () => {
    const p = await cockatiel.wrap();
    const signal = longLivedSignal();
    return () => p.execute(noop, signal);
  },
  [names.opossum]: async () => {
    const { default: CircuitBreaker } = await import('opossum');
    const breaker = new CircuitBreaker(noop);
    return () => breaker.fire();
  },
  'opossum { timeout: false }': async () => {
    const { default: CircuitBreaker } = await import('opossum');
    const breaker = new CircuitBreaker(noop, { timeout: false });
    return () => breaker.fire();
  },
  'p-retry { retries: 3 }': async () => {
    const { default: pRetry } = await import('p-retry');
    return () => pRetry(noop, { retries: 3 });
  },
  'p-retry { retries: 3, signal }': async () => {
    const { default: pRetry } = await import('p-retry');
    const signal = longLivedSignal();
    return () => pRetry(noop, { retries: 3, signal });
  },
};

function executeNoop(policy: { execute(fn: () => Promise<number>): Promise<unknown> }): Call {
  return () => policy.execute(noop);
}

const caseIds: readonly string[] = Object.keys(cases);

/** One case in one round: its time and its ratio to the bare call, both from one child (see measure.ts). */
interface Sample {
  readonly nsPerOp: number;
  readonly baselineNsPerOp: number;
  /** The median over adjacent pairs of batches of case time / bare call time. */
  readonly ratio: number;
  readonly bytesPerOp: number;
}

const childScript = join(new URL('..', import.meta.url).pathname, 'measure.ts');

/** A large young generation, so that no scavenge runs inside the allocation window (performance-anchors §9). */
const allocationFlags = ['--max-semi-space-size=128', '--min-semi-space-size=128'];

interface Target {
  readonly goal: string;
  readonly ratios: number[];
  readonly pass: (value: number) => boolean;
  readonly unit: string;
}

function targets(results: RoundResults<Sample>): Target[] {
  const xBare = (name: string): number[] => metric(results, name, (s) => s.ratio);
  // Each x bare is paired within its process; dividing two of one round compares the cases on the same machine.
  const cheaper = (peer: string): number[] => sameRoundRatios(results, peer, names.stack, (s) => s.ratio);
  return [
    { goal: `${names.stack} <= 4x bare`, ratios: xBare(names.stack), pass: (v) => v <= 4, unit: 'x bare' },
    {
      goal: `${names.cockatielWrap} / ours: >= 20`,
      ratios: cheaper(names.cockatielWrap),
      pass: (v) => v >= 20,
      unit: 'x cheaper',
    },
    {
      goal: `${names.opossum} / ours: >= 5`,
      ratios: cheaper(names.opossum),
      pass: (v) => v >= 5,
      unit: 'x cheaper',
    },
    ...[names.timeout, names.retry, names.breaker, names.bulkhead].map((name) => ({
      goal: `${name} alone <= 1.5x bare`,
      ratios: xBare(name),
      pass: (v: number) => v <= 1.5,
      unit: 'x bare',
    })),
  ];
}

export const overhead: Suite = {
  title: 'Per-call overhead on a succeeding async no-op',
  timed: true,
  async run(options: RunOptions): Promise<SuiteReport> {
    const quick = options.quick ? ['--quick'] : [];
    // Allocation is measured once per case, in its own process (see measure.ts); time in every round.
    const allocation = new Map<string, Promise<number>>();
    const bytesPerOp = (name: string): Promise<number> => {
      let bytes = allocation.get(name);
      if (bytes === undefined) {
        bytes = runChild<{ bytesPerOp: number }>(
          childScript,
          ['alloc', name, ...quick],
          allocationFlags,
        ).then((r) => r.bytesPerOp);
        allocation.set(name, bytes);
      }
      return bytes;
    };
    const results = await runRounds(
      caseIds,
      options.rounds,
      async (name): Promise<Sample> => {
        const timed = await runChild<Omit<Sample, 'bytesPerOp'>>(childScript, ['time', name, ...quick]);
        return { ...timed, bytesPerOp: await bytesPerOp(name) };
      },
      options.log,
    );
    const rows = caseIds.map((name) => {
      if (results.errors.has(name)) return [name, 'failed', '', '', ''];
      const ns = metric(results, name, (s) => s.nsPerOp);
      return [
        name,
        fmt(median(ns)),
        range(ns),
        fmt(median(metric(results, name, (s) => s.ratio)), 2),
        fmt(median(metric(results, name, (s) => s.bytesPerOp))),
      ];
    });
    const targetRows = targets(results).map((t) =>
      t.ratios.length === 0
        ? [t.goal, 'not measured', '']
        : [
            t.goal,
            `${fmt(median(t.ratios), 2)} ${t.unit} (rounds: ${range(t.ratios, 2)})`,
            t.pass(median(t.ratios)) ? 'met' : 'MISSED',
          ],
    );
    const errors = [...results.errors].map(
      ([name, error]) => `- \`${name}\` failed: ${error.replace(/\n/g, ' ')}`,
    );
    const bareNs = caseIds.flatMap((name) => metric(results, name, (s) => s.baselineNsPerOp));
    const markdown = [
      'Sequential `await policy.execute(async () => 1)`, each case in a fresh Node process that times the case',
      'and the bare call in alternating batches of about 20 ms each (25 pairs, 15 with `--quick`, after a',
      "warm-up). ns/op is the median of the case's batches (the table gives its median over rounds and the",
      'range); x bare is the median over pairs of case / bare within a pair, then over rounds. The ratio is',
      'paired because this machine changes pace for seconds at a time: in 14 processes in a row the bare call',
      "took 54–102 ns, and the pipeline's ratio to a bare call timed in the next process ranged 2.7–9.4x,",
      'paired 4.5–5.7x (the spread left is the pace itself: 4.5–4.9x in the 9 where the bare call took 54–59',
      "ns, 5.5–5.7x in 4 of the 5 at 93–102 ns). The bare call's own row is timed against itself, so its",
      "distance from 1.00 is the method's resolution; a peer target divides the peer's x bare by ours from the",
      'same round. Heap bytes per call are measured once per case in a separate process: JS heap growth over',
      '2,000 calls with a young generation large enough that no scavenge runs in between (native timer memory',
      'is not counted). Peer configurations follow performance-anchors §9; ours are configured the same way',
      '(`src/stacks.ts`).',
      '',
      table(
        ['case', 'median ns/op', 'range', 'x bare (paired)', 'JS heap B/op'],
        ['left', 'right', 'right', 'right', 'right'],
        rows,
      ),
      '',
      ...(bareNs.length > 0
        ? [`The bare call took ${range(bareNs)} ns (median of its batches) in the processes of this run.`, '']
        : []),
      '### Targets',
      '',
      table(
        ['target', 'measured (median over rounds of paired ratios)', 'verdict'],
        ['left', 'left', 'left'],
        targetRows,
      ),
      ...(errors.length > 0 ? ['', ...errors] : []),
    ].join('\n');
    return { markdown, data: results.rounds.map((round) => Object.fromEntries(round)) };
  },
};
