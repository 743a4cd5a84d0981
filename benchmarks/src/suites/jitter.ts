import type { Clock, Policy } from '@breakwater/core';
import { type Backoff, exponentialBackoff, retry } from '@breakwater/retry';
import { fmt } from '../lib/stats.ts';
import { type Series, svgChart } from '../lib/svg.ts';
import { table } from '../lib/table.ts';
import { simulateOcc } from '../sim/occ.ts';
import type { RunOptions, Suite, SuiteReport } from '../suite.ts';

/**
 * Brooker's simulator uses base 5 ms and cap 2 s with `expo(n) = min(cap, 2^n * base)` for the n-th retry, so
 * its first ceiling is 10 ms: that is our `initialMs` for none/full/equal. Decorrelated jitter starts from
 * `sleep = base` and draws from [base, 3 * sleep], so there `initialMs` is the base itself.
 */
interface Mode {
  readonly name: string;
  readonly color: string;
  /** The backoff, or a constant number of milliseconds. */
  readonly backoff: () => Backoff | number;
  /** Performance-anchors §1 reproduction (100 trials, seed 42): clients -> [calls, time ms]. */
  readonly reference: Readonly<Record<number, readonly [number, number]>>;
}

const modes: readonly Mode[] = [
  {
    name: 'no backoff',
    color: '#999999',
    backoff: () => 0,
    reference: { 10: [51, 379], 50: [690, 1_141], 100: [2_420, 2_028] },
  },
  {
    name: 'exponential, no jitter',
    color: '#d62728',
    backoff: () => exponentialBackoff({ initialMs: 10, maxMs: 2_000, jitter: 'none' }),
    reference: { 10: [51, 3_487], 50: [620, 36_179], 100: [1_861, 63_129] },
  },
  {
    name: 'full jitter',
    color: '#2ca02c',
    backoff: () => exponentialBackoff({ initialMs: 10, maxMs: 2_000, jitter: 'full' }),
    reference: { 10: [39, 463], 50: [333, 2_964], 100: [797, 5_013] },
  },
  {
    name: 'equal jitter',
    color: '#1f77b4',
    backoff: () => exponentialBackoff({ initialMs: 10, maxMs: 2_000, jitter: 'equal' }),
    reference: { 10: [43, 713], 50: [347, 4_299], 100: [812, 6_583] },
  },
  {
    name: 'decorrelated jitter',
    color: '#9467bd',
    backoff: () => exponentialBackoff({ initialMs: 5, maxMs: 2_000, jitter: 'decorrelated' }),
    reference: { 10: [37, 432], 50: [374, 2_173], 100: [1_006, 4_543] },
  },
];

const clientCounts = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];

/** Mean calls and completion time over `trials` seeded runs; trial `t` uses the same seed in every mode. */
async function sweep(
  mode: Mode,
  clients: number,
  trials: number,
): Promise<{ calls: number; timeMs: number }> {
  let calls = 0;
  let timeMs = 0;
  for (let trial = 0; trial < trials; trial++) {
    const result = await simulateOcc({
      clients,
      seed: clients * 1_000 + trial,
      policy: (clock: Clock, random: () => number): Policy =>
        // Clients keep trying until they win, as in the simulator; only the cap bounds a single wait.
        retry({
          maxAttempts: Number.MAX_SAFE_INTEGER,
          allowUnsafeRetries: true,
          backoff: mode.backoff(),
          maxDelayMs: 2_000,
          clock,
          random,
        }),
    });
    calls += result.calls;
    timeMs += result.timeMs;
  }
  return { calls: calls / trials, timeMs: timeMs / trials };
}

interface Point {
  readonly clients: number;
  readonly calls: number;
  readonly timeMs: number;
}

const cell = (value: number, reference: number | undefined, digits = 0): string =>
  reference === undefined ? fmt(value, digits) : `${fmt(value, digits)} (${fmt(reference, digits)})`;

export const jitter: Suite = {
  title: "Backoff and jitter: Brooker's optimistic-concurrency simulation, driven by retry()",
  timed: false,
  async run(options: RunOptions): Promise<SuiteReport> {
    const trials = options.quick ? 10 : 100;
    const results = new Map<string, Point[]>();
    for (const mode of modes) {
      const points: Point[] = [];
      for (const clients of clientCounts) {
        options.log(`  ${mode.name}, ${clients} clients, ${trials} trials`);
        points.push({ clients, ...(await sweep(mode, clients, trials)) });
      }
      results.set(mode.name, points);
    }
    const at = (mode: string, clients: number): Point =>
      results.get(mode)!.find((p) => p.clients === clients)!;
    const rows = (pick: (p: Point) => number, ref: 0 | 1, digits: number): string[][] =>
      clientCounts.map((clients) => [
        String(clients),
        ...modes.map((mode) => cell(pick(at(mode.name, clients)), mode.reference[clients]?.[ref], digits)),
      ]);
    const headers = ['clients', ...modes.map((m) => m.name)];
    const aligns = ['right' as const, ...modes.map(() => 'right' as const)];

    const full = at('full jitter', 100);
    const none = at('exponential, no jitter', 100);
    const equal = at('equal jitter', 100);
    const decorrelated = at('decorrelated jitter', 100);
    const checks: [string, string, boolean][] = [
      [
        'full jitter needs less than half the calls of un-jittered exponential (100 clients)',
        `${fmt(full.calls)} / ${fmt(none.calls)} = ${fmt(full.calls / none.calls, 2)}`,
        full.calls / none.calls < 0.5,
      ],
      [
        'performance-anchors §10: full jitter <= 45% of no-jitter calls (100 clients)',
        `${fmt((100 * full.calls) / none.calls, 1)}%`,
        full.calls / none.calls <= 0.45,
      ],
      [
        'Brooker: full and equal jitter need about the same calls (within 10%)',
        `${fmt(full.calls)} vs ${fmt(equal.calls)}`,
        Math.abs(equal.calls / full.calls - 1) <= 0.1,
      ],
      [
        'Brooker: equal jitter takes longer than full jitter',
        `${fmt(equal.timeMs)} ms vs ${fmt(full.timeMs)} ms`,
        equal.timeMs > full.timeMs,
      ],
      [
        'Brooker: decorrelated needs more calls but less time than full jitter',
        `${fmt(decorrelated.calls)} calls / ${fmt(decorrelated.timeMs)} ms vs ${fmt(full.calls)} / ${fmt(full.timeMs)} ms`,
        decorrelated.calls > full.calls && decorrelated.timeMs < full.timeMs,
      ],
    ];

    const series = (pick: (p: Point) => number): Series[] =>
      modes.map((mode) => ({
        name: mode.name,
        color: mode.color,
        points: results.get(mode.name)!.map((p) => [p.clients, pick(p)] as const),
      }));
    const svg = svgChart(
      [
        {
          title: 'Writes that reach the server',
          xLabel: 'contending clients',
          yLabel: 'calls',
          series: series((p) => p.calls),
        },
        {
          title: 'Time until the last client succeeds',
          xLabel: 'contending clients',
          yLabel: 'milliseconds (log scale)',
          series: series((p) => p.timeMs),
          logY: true,
        },
      ],
      `retry() with each backoff, ${trials} seeded trials per point, virtual clock; model and parameters of Brooker's simulator (base 5 ms, cap 2 s, network |N(10, 2)| ms)`,
    );

    const markdown = [
      `N clients start together and each updates one shared row once with optimistic concurrency (read the`,
      `version, then write conditionally on it); a stale write fails and the client retries under`,
      '`retry({ maxAttempts: Number.MAX_SAFE_INTEGER, allowUnsafeRetries: true, backoff, maxDelayMs: 2_000, clock, random })`. This is the',
      "model of Brooker's published simulator (every message takes |N(10 ms, 2 ms)|, base 5 ms, cap 2 s), run on",
      '`virtualClock()` from `@breakwater/testing` with `seededRandom()`: the numbers are deterministic. Each point',
      `is the mean of ${trials} trials (trial t uses the same seed for every backoff). Calls are writes that reach the`,
      'server. In parentheses: the reference reproduction in performance-anchors §1 (an independent JS port, 100',
      'trials, seed 42), which our numbers should match within a few percent.',
      '',
      '![calls and time per backoff](jitter.svg)',
      '',
      '### Calls (mean writes per run)',
      '',
      table(
        headers,
        aligns,
        rows((p) => p.calls, 0, 0),
      ),
      '',
      '### Completion time (ms)',
      '',
      table(
        headers,
        aligns,
        rows((p) => p.timeMs, 1, 0),
      ),
      '',
      '### Checks',
      '',
      table(
        ['claim', 'measured', 'verdict'],
        ['left', 'left', 'left'],
        checks.map(([claim, measured, ok]) => [claim, measured, ok ? 'holds' : 'FAILS']),
      ),
    ].join('\n');
    return { markdown, files: { 'jitter.svg': svg }, data: Object.fromEntries(results) };
  },
};
