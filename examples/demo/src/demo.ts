import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { breakwaterFetch } from './breakwater-fetch.ts';
import { startInventoryService } from './inventory-service.ts';
import { driveLoad } from './load.ts';
import { startOrderService } from './order-service.ts';
import { percentile, Stats } from './stats.ts';
import { phaseAt } from './timeline.ts';

export interface DemoOptions {
  /** How long the load runs. @default 20_000 */
  durationMs?: number;
  /** Requests per second sent to each order service. @default 40 */
  ratePerSecond?: number;
  /** Where live rows and the summary go; `undefined` keeps quiet. */
  print?: ((line: string) => void) | undefined;
}

export interface ClientResult {
  readonly successRate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly calls: number;
  /** Requests that reached the inventory service. */
  readonly dependencyCalls: number;
}

export interface DemoResult {
  readonly plain: ClientResult;
  readonly breakwater: ClientResult & {
    readonly retries: number;
    readonly fallbacks: number;
    /** One letter per second: C closed, O open, H half-open. */
    readonly breakerTimeline: string;
  };
}

/** Runs the whole scenario on loopback and returns what it measured. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const durationMs = options.durationMs ?? 20_000;
  const ratePerSecond = options.ratePerSecond ?? 40;
  const print = options.print;
  const startedAt = performance.now();
  const inventory = {
    plain: await startInventoryService({ startedAt, durationMs, slowMs: 1_500 }),
    breakwater: await startInventoryService({ startedAt, durationMs, slowMs: 1_500 }),
  };
  const orders = {
    plain: await startOrderService({ inventoryOrigin: inventory.plain.origin, fetch: globalThis.fetch }),
    breakwater: await startOrderService({
      inventoryOrigin: inventory.breakwater.origin,
      fetch: breakwaterFetch(),
    }),
  };
  const stats = { plain: new Stats(), breakwater: new Stats() };

  let retries = 0;
  let fallbacks = 0;
  let breakerState = 'closed';
  const onRetry = (): void => {
    retries++;
  };
  const onFallback = (): void => {
    fallbacks++;
  };
  const onStateChange = (message: unknown): void => {
    breakerState = (message as { to: string }).to;
  };
  subscribe('breakwater:retry:retry', onRetry);
  subscribe('breakwater:fallback-cache:fallback-served', onFallback);
  subscribe('breakwater:circuit-breaker:state-change', onStateChange);

  const timeline: string[] = [];
  const seen = { plain: 0, breakwater: 0 };
  print?.(
    `${'time'.padEnd(6)}${'inventory'.padEnd(16)}${'plain fetch'.padEnd(20)}${'breakwater'.padEnd(20)}${'breaker'.padEnd(11)}inventory calls/s (plain | breakwater)\n${''.padEnd(22)}(orders that finished in the last second: success rate and p99)`,
  );
  const ticker = setInterval(() => {
    const elapsed = performance.now() - startedAt;
    const phase = phaseAt(elapsed / durationMs);
    const plain = stats.plain.takeWindow();
    const bw = stats.breakwater.takeWindow();
    timeline.push(breakerState === 'open' ? 'O' : breakerState === 'half-open' ? 'H' : 'C');
    const reached = {
      plain: inventory.plain.received - seen.plain,
      breakwater: inventory.breakwater.received - seen.breakwater,
    };
    seen.plain = inventory.plain.received;
    seen.breakwater = inventory.breakwater.received;
    print?.(
      `${`${Math.round(elapsed / 1000)}s`.padEnd(6)}${phase.name.padEnd(16)}${cell(plain).padEnd(20)}${cell(bw).padEnd(20)}${breakerState.padEnd(11)}${String(reached.plain).padStart(4)} | ${reached.breakwater}`,
    );
  }, 1_000);

  try {
    await driveLoad({
      targets: [
        { origin: orders.plain.origin, stats: stats.plain },
        { origin: orders.breakwater.origin, stats: stats.breakwater },
      ],
      ratePerSecond,
      durationMs,
      giveUpMs: 3_000,
    });
  } finally {
    clearInterval(ticker);
    unsubscribe('breakwater:retry:retry', onRetry);
    unsubscribe('breakwater:fallback-cache:fallback-served', onFallback);
    unsubscribe('breakwater:circuit-breaker:state-change', onStateChange);
    await Promise.all([orders.plain.close(), orders.breakwater.close()]);
    await Promise.all([inventory.plain.close(), inventory.breakwater.close()]);
  }

  const result: DemoResult = {
    plain: summarize(stats.plain, inventory.plain.received),
    breakwater: {
      ...summarize(stats.breakwater, inventory.breakwater.received),
      retries,
      fallbacks,
      breakerTimeline: timeline.join(''),
    },
  };
  print?.(`\n${summaryTable(result)}`);
  return result;
}

function cell(window: { successRate: number; p99Ms: number; calls: number }): string {
  if (window.calls === 0) return '  - (none finished)';
  return `${(window.successRate * 100).toFixed(0).padStart(3)}% p99 ${String(Math.round(window.p99Ms)).padStart(5)} ms`;
}

function summarize(stats: Stats, dependencyCalls: number): ClientResult {
  return {
    successRate: stats.total === 0 ? 0 : stats.ok / stats.total,
    p50Ms: percentile(stats.latenciesMs, 0.5),
    p99Ms: percentile(stats.latenciesMs, 0.99),
    calls: stats.total,
    dependencyCalls,
  };
}

function summaryTable({ plain, breakwater }: DemoResult): string {
  const pct = (n: number): string => `${(n * 100).toFixed(1)}%`;
  const ms = (n: number): string => `${Math.round(n)} ms`;
  const rows: [string, string, string][] = [
    ['orders checked', String(plain.calls), String(breakwater.calls)],
    ['success rate', pct(plain.successRate), pct(breakwater.successRate)],
    ['p50 latency', ms(plain.p50Ms), ms(breakwater.p50Ms)],
    ['p99 latency', ms(plain.p99Ms), ms(breakwater.p99Ms)],
    ['retries', '-', String(breakwater.retries)],
    ['fallbacks served (stale stock levels)', '-', String(breakwater.fallbacks)],
    [
      'calls that reached the inventory service',
      String(plain.dependencyCalls),
      String(breakwater.dependencyCalls),
    ],
    ['breaker state, one letter a second', '-', breakwater.breakerTimeline],
  ];
  const widths = [0, 1, 2].map((i) =>
    Math.max(...rows.map((row) => row[i]!.length), ['', 'plain fetch', 'breakwater'][i]!.length),
  );
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(['', 'plain fetch', 'breakwater']),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
    '',
    'Breaker: C closed, O open (calls fail fast instead of piling onto the outage), H half-open (one probe).',
  ].join('\n');
}
