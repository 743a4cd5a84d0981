import { type Clock, type Policy, pipeline } from '@breakwater/core';
import { exponentialBackoff, type RetryBudget, retry, retryBudget } from '@breakwater/retry';
import { seededRandom } from '@breakwater/testing';
import { fmt } from '../lib/stats.ts';
import { svgChart } from '../lib/svg.ts';
import { table } from '../lib/table.ts';
import { type StormResult, simulateStorm } from '../sim/storm.ts';
import type { RunOptions, Suite, SuiteReport } from '../suite.ts';

const clients = 40;
const ratePerClient = 50;
const rate = clients * ratePerClient;
const outage = { fromMs: 10_000, toMs: 40_000 };
const durationMs = 60_000;
const latencyMs = 5;

interface Config {
  readonly name: string;
  readonly color: string;
  readonly dashed?: boolean;
  /** A fresh factory per run, so that state shared between clients (a budget) is per run. */
  readonly policy: () => (clock: Clock, index: number) => Policy;
  /** The most calls per logical request the configuration allows under a 100% outage. */
  readonly bound: string;
  readonly target?: number;
}

const jitterFor = (index: number): (() => number) => seededRandom(7_919 * (index + 1));

const configs: readonly Config[] = [
  { name: 'no retry', color: '#999999', policy: () => () => pipeline(), bound: '1' },
  {
    name: 'naive: 4 attempts, 1 s doubling, no jitter (p-retry { retries: 3 } schedule)',
    color: '#d62728',
    policy: () => (clock) =>
      retry({ maxAttempts: 4, backoff: exponentialBackoff({ initialMs: 1_000, jitter: 'none' }), clock }),
    bound: '4',
  },
  {
    name: 'retry() defaults (3 attempts, full jitter), no budget',
    color: '#ff7f0e',
    policy: () => (clock, index) => retry({ clock, random: jitterFor(index) }),
    bound: '3',
  },
  {
    name: 'retry() + one retryBudget() shared by all clients',
    color: '#2ca02c',
    policy: () => {
      let budget: RetryBudget | undefined;
      return (clock, index) => {
        budget ??= retryBudget({ clock });
        return retry({ clock, random: jitterFor(index), budget });
      };
    },
    bound: `1 + max(0.1, 10/s / ${fmt(rate)}/s) = ${fmt(1 + Math.max(0.1, 10 / rate), 3)}`,
    target: 1.1,
  },
  {
    name: 'retry() + a retryBudget() per client',
    color: '#1f77b4',
    dashed: true,
    policy: () => (clock, index) =>
      retry({ clock, random: jitterFor(index), budget: retryBudget({ clock }) }),
    bound: `1 + max(0.1, 10/s / ${fmt(ratePerClient)}/s) = ${fmt(1 + Math.max(0.1, 10 / ratePerClient), 2)}`,
  },
];

export const retryStorm: Suite = {
  title: 'Retry storm: calls that reach a failing dependency per logical request',
  timed: false,
  async run(options: RunOptions): Promise<SuiteReport> {
    const results = new Map<string, StormResult>();
    for (const config of configs) {
      options.log(`  ${config.name}`);
      results.set(
        config.name,
        await simulateStorm({
          clients,
          ratePerClient,
          durationMs,
          outage,
          latencyMs,
          policy: config.policy(),
        }),
      );
    }
    const rows = configs.map((config) => {
      const r = results.get(config.name)!;
      const amplification = r.outageCalls / r.outageLogical;
      const verdict =
        config.target === undefined
          ? ''
          : amplification <= config.target
            ? `<= ${config.target}: met`
            : `<= ${config.target}: MISSED by ${fmt(amplification - config.target, 3)}`;
      return [
        config.name,
        fmt(r.outageLogical),
        fmt(r.outageCalls),
        fmt(amplification, 3),
        config.bound,
        fmt(r.calls / r.logical, 3),
        verdict,
      ];
    });
    const svg = svgChart(
      [
        {
          title: 'Calls reaching the dependency',
          width: 900,
          xLabel: 'seconds',
          yLabel: 'calls per second',
          shade: { from: outage.fromMs / 1_000, to: outage.toMs / 1_000, label: '100% failure' },
          series: configs.map((config) => ({
            name: config.name,
            color: config.color,
            dashed: config.dashed === true,
            points: results
              .get(config.name)!
              .callsPerSecond.map((calls, second) => [second + 0.5, calls] as const),
          })),
        },
      ],
      `${clients} clients x ${ratePerClient} requests/s (open loop), dependency latency ${latencyMs} ms, outage ${outage.fromMs / 1_000}-${outage.toMs / 1_000} s; virtual clock`,
    );
    const markdown = [
      `${clients} clients each start ${ratePerClient} logical requests per second (${fmt(rate)}/s in all, open loop, evenly`,
      `staggered) against one dependency that answers in ${latencyMs} ms and fails every call that reaches it from`,
      `${outage.fromMs / 1_000} s to ${outage.toMs / 1_000} s of a ${durationMs / 1_000} s run. Each client runs its requests through`,
      'the policy in the first column. On a virtual clock (deterministic, seeded jitter), so this is behaviour, not',
      'timing. Amplification = calls that reached the dependency during the outage / logical requests started during',
      'it. `retryBudget()` defaults: ratio 0.1 of first attempts, at least 10 retries/s (the floor), over a 10 s window.',
      '',
      '![calls per second during the outage](retry-storm.svg)',
      '',
      table(
        [
          'policy',
          'requests in outage',
          'calls in outage',
          'amplification',
          'bound',
          'whole run calls/request',
          'target',
        ],
        ['left', 'right', 'right', 'right', 'left', 'right', 'left'],
        rows,
      ),
      '',
      'How to read it: with a budget, retries per request = max(ratio, floor / traffic): 0.1 of first attempts, or the',
      'floor (10 retries/s) when a budget sees 100 requests/s or less. The floor is a minimum, not an addition, and it',
      `is per budget: shared by all clients of a process (${fmt(rate)} requests/s here) it never counts, so the ratio alone`,
      `bounds the outage; one budget per small client of ${ratePerClient} requests/s gets the floor, a ${fmt((100 * 10) / ratePerClient)}% allowance. Share one`,
      'budget per downstream service. The budget spends its allowance in a burst whenever the window frees it (every',
      '10 s here), which the chart shows as spikes.',
    ].join('\n');
    return {
      markdown,
      files: { 'retry-storm.svg': svg },
      data: Object.fromEntries([...results].map(([name, r]) => [name, r])),
    };
  },
};
