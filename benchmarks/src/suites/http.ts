import { fork } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { httpCases, rawFetch, rawRequest } from '../http/cases.ts';
import { runChild } from '../lib/rounds.ts';
import { fmt, median, range } from '../lib/stats.ts';
import { table } from '../lib/table.ts';
import type { RunOptions, Suite, SuiteReport } from '../suite.ts';

interface Sample {
  readonly requestsPerSecond: number;
  /** Client CPU time (user + system) per request, in microseconds. */
  readonly cpuUsPerRequest: number;
  readonly errors: number;
}

const concurrency = 32;
const signed = (value: number): string => `${value >= 0 ? '+' : ''}${fmt(value, 1)}`;
const here = new URL('..', import.meta.url).pathname;

const ours = [
  'breakwater: undici.request, Agent().compose(resilience())',
  'breakwater: resilientFetch({ fetch: undici.fetch })',
];

/** What the paired runs collected. */
interface PairResults {
  /** Requests/s of every run of a case (a raw client runs once per pair it is the baseline of). */
  readonly samples: Map<string, Sample[]>;
  /** Case over its baseline in requests/s, one per pair measured back to back. */
  readonly ratios: Map<string, number[]>;
  /** Case minus its baseline in client CPU µs per request, one per pair. */
  readonly extraCpu: Map<string, number[]>;
  readonly errors: Map<string, string>;
}

/**
 * Measures every case right next to its raw baseline, the pair in an order that alternates by round, and the
 * pairs in an order rotated by round. On a shared machine, load changes over seconds: a ratio taken from two
 * back-to-back runs is far less exposed to that than one taken against a baseline measured a minute earlier.
 */
async function runPairs(
  rounds: number,
  measure: (name: string) => Promise<Sample>,
  log: (line: string) => void,
): Promise<PairResults> {
  const compared = Object.keys(httpCases).filter((name) => httpCases[name]!.baseline !== name);
  const samples = new Map<string, Sample[]>(Object.keys(httpCases).map((name) => [name, []]));
  const ratios = new Map<string, number[]>(compared.map((name) => [name, []]));
  const extraCpu = new Map<string, number[]>(compared.map((name) => [name, []]));
  const errors = new Map<string, string>();
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < compared.length; i++) {
      const name = compared[(i + round) % compared.length]!;
      const baseline = httpCases[name]!.baseline;
      if (errors.has(name) || errors.has(baseline)) continue;
      log(`  round ${round + 1}/${rounds}, pair ${i + 1}/${compared.length}: ${name}`);
      const pair: Record<string, Sample> = {};
      for (const which of round % 2 === 0 ? [baseline, name] : [name, baseline]) {
        try {
          pair[which] = await measure(which);
          samples.get(which)!.push(pair[which]);
        } catch (error) {
          errors.set(which, error instanceof Error ? error.message : String(error));
          log(`  FAILED ${which}: ${errors.get(which)}`);
          break;
        }
      }
      const [a, b] = [pair[name], pair[baseline]];
      if (a !== undefined && b !== undefined) {
        ratios.get(name)!.push(a.requestsPerSecond / b.requestsPerSecond);
        extraCpu.get(name)!.push(a.cpuUsPerRequest - b.cpuUsPerRequest);
      }
    }
  }
  return { samples, ratios, extraCpu, errors };
}

export const http: Suite = {
  title: 'HTTP throughput on loopback, 32 concurrent requests',
  timed: true,
  async run(options: RunOptions): Promise<SuiteReport> {
    const durationMs = options.quick ? 1_000 : 2_000;
    const server = fork(join(here, 'http', 'server.ts'), [], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    try {
      const [message] = (await once(server, 'message')) as [{ port: number }];
      const origin = `http://127.0.0.1:${message.port}`;
      const client = join(here, 'http', 'client.ts');
      const measure = (name: string): Promise<Sample> =>
        runChild<Sample>(client, [name, origin, String(durationMs), String(concurrency)]);
      // The server's own JIT warm-up must not land on whichever case runs first.
      options.log('  warming up the server');
      await measure(rawRequest);
      const results = await runPairs(options.rounds, measure, options.log);

      const rows = Object.keys(httpCases).map((name) => {
        const samples = results.samples.get(name)!;
        if (results.errors.has(name)) return [name, 'failed', '', '', '', '', '', ''];
        const values = samples.map((s) => s.requestsPerSecond);
        const baseline = httpCases[name]!.baseline;
        const percent = (results.ratios.get(name) ?? [1]).map((r) => 100 * r);
        return [
          name,
          fmt(median(values)),
          range(values),
          baseline === name
            ? 'baseline'
            : `${fmt(median(percent), 1)}% of ${baseline === rawRequest ? 'request' : 'fetch'}`,
          baseline === name ? '' : range(percent, 1),
          fmt(median(samples.map((s) => s.cpuUsPerRequest)), 1),
          baseline === name ? '' : signed(median(results.extraCpu.get(name)!)),
          fmt(samples.reduce((sum, s) => sum + s.errors, 0)),
        ];
      });
      const targetRows = ours.map((name) => {
        const baseline = httpCases[name]!.baseline;
        const percent = (results.ratios.get(name) ?? []).map((r) => 100 * r);
        if (percent.length === 0) return [`${name} >= 97% of ${baseline}`, 'not measured', ''];
        const value = median(percent);
        return [
          `${name} >= 97% of ${baseline}`,
          `${fmt(value, 1)}% (pairs: ${range(percent, 1)})`,
          value >= 97 ? 'met' : 'MISSED',
        ];
      });
      const errors = [...results.errors].map(
        ([name, error]) => `- \`${name}\` failed: ${error.replace(/\n/g, ' ')}`,
      );
      const markdown = [
        'A node:http server in another process on 127.0.0.1 answers every request with a 2-byte body (keep-alive).',
        `Each run is a fresh client process: ${concurrency} loops send requests back to back (each reads the whole body and`,
        `checks the status) for ${fmt(durationMs / 1000, 0)} s after a warm-up. Every case runs right next to its raw`,
        `client (\`${rawRequest}\` for request-based cases, \`${rawFetch}\` for fetch), the pair's order`,
        'alternating by round; "of raw" is the median over rounds of case / raw within each pair. The raw clients run',
        'once per pair, so they have more samples. Both cores serve the client and the server, so client CPU spent in',
        "a wrapper shows up directly as lost throughput. Client CPU µs/req is the client process's user + system CPU",
        "time per request over the measured window: the wrapper's cost, and much steadier than req/s when other work",
        'shares the machine ("extra" is case minus raw within each pair). Our cases use the standard pipeline with its',
        'defaults.',
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
        table(['target', 'measured (median of pairs)', 'verdict'], ['left', 'left', 'left'], targetRows),
        ...(errors.length > 0 ? ['', ...errors] : []),
      ].join('\n');
      return {
        markdown,
        data: {
          samples: Object.fromEntries(results.samples),
          ratios: Object.fromEntries(results.ratios),
          extraCpu: Object.fromEntries(results.extraCpu),
        },
      };
    } finally {
      server.disconnect();
    }
  },
};
