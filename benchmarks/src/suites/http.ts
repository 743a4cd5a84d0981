import { fork } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { httpCases, rawRequest } from '../http/cases.ts';
import { metric, runChild, runRounds } from '../lib/rounds.ts';
import { fmt, median, range } from '../lib/stats.ts';
import { table } from '../lib/table.ts';
import type { RunOptions, Suite, SuiteReport } from '../suite.ts';

interface SideSummary {
  /** The median of the side's windows. */
  readonly requestsPerSecond: number;
  /** Client CPU time (user + system) per request over the side's windows, in microseconds. */
  readonly cpuUsPerRequest: number;
  readonly errors: number;
}

/** One client process: a case and its raw client in alternating windows (see http/client.ts). */
interface Sample extends SideSummary {
  readonly baseline: SideSummary;
  /** The median over pairs of windows of case / raw requests per second. */
  readonly ratio: number;
  /** The median over pairs of case minus raw client CPU µs per request. */
  readonly extraCpuUs: number;
}

const concurrency = 32;
const windowMs = 100;
const signed = (value: number): string => `${value >= 0 ? '+' : ''}${fmt(value, 1)}`;
const here = new URL('..', import.meta.url).pathname;
const caseIds = Object.keys(httpCases);

const ours = [
  'breakwater: undici.request, Agent().compose(resilience())',
  'breakwater: resilientFetch({ fetch: undici.fetch })',
  'breakwater: undici.fetch, Agent().compose(resilience())',
];

export const http: Suite = {
  title: 'HTTP throughput on loopback, 32 concurrent requests',
  timed: true,
  async run(options: RunOptions): Promise<SuiteReport> {
    // 8 s of windows per process in a full run; raw request against itself then read 96.8–103.1% in ten processes.
    const pairs = options.quick ? 20 : 40;
    const server = fork(join(here, 'http', 'server.ts'), [], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    try {
      const [message] = (await once(server, 'message')) as [{ port: number }];
      const origin = `http://127.0.0.1:${message.port}`;
      const client = join(here, 'http', 'client.ts');
      const results = await runRounds(
        caseIds,
        options.rounds,
        (name) =>
          runChild<Sample>(client, [name, origin, String(windowMs), String(pairs), String(concurrency)]),
        options.log,
      );
      const percent = (name: string): number[] => metric(results, name, (s) => 100 * s.ratio);
      const ofRaw = (name: string): string => {
        const baseline = httpCases[name]!.baseline;
        const value = `${fmt(median(percent(name)), 1)}%`;
        if (baseline === name) return `${value} of itself`;
        return `${value} of ${baseline === rawRequest ? 'request' : 'fetch'}`;
      };

      const rows = caseIds.map((name) => {
        if (results.errors.has(name)) return [name, 'failed', '', '', '', '', '', ''];
        const rps = metric(results, name, (s) => s.requestsPerSecond);
        return [
          name,
          fmt(median(rps)),
          range(rps),
          ofRaw(name),
          range(percent(name), 1),
          fmt(median(metric(results, name, (s) => s.cpuUsPerRequest)), 1),
          signed(median(metric(results, name, (s) => s.extraCpuUs))),
          fmt(metric(results, name, (s) => s.errors + s.baseline.errors).reduce((a, b) => a + b, 0)),
        ];
      });
      const resolution = (baseline: string): string => {
        const values = percent(baseline);
        return values.length === 0 ? '' : `${fmt(median(values), 1)}% (${range(values, 1)})`;
      };
      const targetRows = ours.map((name) => {
        const baseline = httpCases[name]!.baseline;
        const goal = `${name} >= 97% of ${baseline}`;
        const values = percent(name);
        if (values.length === 0) return [goal, 'not measured', resolution(baseline), ''];
        const value = median(values);
        return [
          goal,
          `${fmt(value, 1)}% (rounds: ${range(values, 1)})`,
          resolution(baseline),
          value >= 97 ? 'met' : 'MISSED',
        ];
      });
      const errors = [...results.errors].map(
        ([name, error]) => `- \`${name}\` failed: ${error.replace(/\n/g, ' ')}`,
      );
      const markdown = [
        'A node:http server in another process on 127.0.0.1 answers every request with a 2-byte body (keep-alive).',
        'Each case runs in a fresh client process together with its raw client (`undici.request` or `undici.fetch`,',
        'each side with its own default Agent): after 1.5 s of warm-up load on each, the two take turns in',
        `${windowMs} ms windows (${pairs} pairs, each block of two pairs ABBA or BAAB at random), ${concurrency} loops per window`,
        'sending requests back to back (each reads the whole body and checks the status). This machine changes pace',
        'several times a second, so only windows next to each other see the same machine: "of raw" is the median over',
        'pairs of case / raw req/s within a pair, then the median over rounds (range: over rounds). The raw rows run',
        "against a second raw client of their own: their distance from 100% is the method's resolution (fetch's is",
        "worse: its 30 ms scavenges land in one window of a pair). req/s is the median of the case's windows; client",
        'CPU µs/req is the client process\'s user + system CPU time per request over them ("extra": the median over',
        'pairs of case minus raw). Client and server share the two cores, so client CPU spent in a wrapper shows up as',
        'lost throughput. Our cases use the standard pipeline with its defaults, but for the `retry()` row: our',
        "interceptor doing what undici's retry interceptor does. The pass-through row is what",
        "undici's `compose()` costs with an interceptor that does nothing, and the `AbortSignal.timeout` row what",
        'undici.fetch costs with a signal, which it follows with one of its own (a WeakRef and a FinalizationRegistry',
        "entry per request): resilientFetch's standard pipeline hands fetch one per attempt, for its timeouts to abort.",
        '',
        table(
          [
            'case',
            'req/s (median)',
            'range',
            'of raw (paired)',
            'range',
            'client CPU µs/req',
            'extra CPU µs/req (paired)',
            'errors',
          ],
          ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
          rows,
        ),
        '',
        '### Targets',
        '',
        table(
          ['target', 'measured (median over rounds of paired ratios)', 'raw vs itself', 'verdict'],
          ['left', 'left', 'left', 'left'],
          targetRows,
        ),
        ...(errors.length > 0 ? ['', ...errors] : []),
      ].join('\n');
      return { markdown, data: results.rounds.map((round) => Object.fromEntries(round)) };
    } finally {
      server.disconnect();
    }
  },
};
