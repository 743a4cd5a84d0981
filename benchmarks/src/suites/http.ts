import { fork } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { httpCases, rawFetch, rawRequest } from '../http/cases.ts';
import { metric, runChild, runRounds, sameRoundRatios } from '../lib/rounds.ts';
import { fmt, median, range } from '../lib/stats.ts';
import { table } from '../lib/table.ts';
import type { RunOptions, Suite, SuiteReport } from '../suite.ts';

interface Sample {
  readonly requestsPerSecond: number;
  readonly errors: number;
}

const concurrency = 32;
const here = new URL('..', import.meta.url).pathname;

const ours = [
  'breakwater: undici.request, Agent().compose(resilience())',
  'breakwater: resilientFetch({ fetch: undici.fetch })',
];

export const http: Suite = {
  title: 'HTTP throughput on loopback, 32 concurrent requests',
  timed: true,
  async run(options: RunOptions): Promise<SuiteReport> {
    const durationMs = options.quick ? 1_000 : 3_000;
    const server = fork(join(here, 'http', 'server.ts'), [], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    try {
      const [message] = (await once(server, 'message')) as [{ port: number }];
      const origin = `http://127.0.0.1:${message.port}`;
      const names = Object.keys(httpCases);
      const client = join(here, 'http', 'client.ts');
      // The server's own JIT warm-up must not land on whichever case runs first.
      options.log('  warming up the server');
      await runChild(client, [rawRequest, origin, String(durationMs), String(concurrency)]);
      const results = await runRounds(
        names,
        options.rounds,
        (name) => runChild<Sample>(client, [name, origin, String(durationMs), String(concurrency)]),
        options.log,
      );
      const rps = (s: Sample): number => s.requestsPerSecond;
      const rows = names.map((name) => {
        if (results.errors.has(name)) return [name, 'failed', '', '', '', ''];
        const baseline = httpCases[name]!.baseline;
        const values = metric(results, name, rps);
        const percent = sameRoundRatios(results, name, baseline, rps).map((r) => 100 * r);
        return [
          name,
          fmt(median(values)),
          range(values),
          `${fmt(median(percent), 1)}% of ${baseline === rawRequest ? 'request' : 'fetch'}`,
          percent.length > 1 ? range(percent, 1) : '',
          fmt(metric(results, name, (s) => s.errors).reduce((a, b) => a + b, 0)),
        ];
      });
      const targetRows = ours.map((name) => {
        const baseline = httpCases[name]!.baseline;
        const percent = sameRoundRatios(results, name, baseline, rps).map((r) => 100 * r);
        if (percent.length === 0) return [`${name} >= 97% of ${baseline}`, 'not measured', ''];
        const value = median(percent);
        return [`${name} >= 97% of ${baseline}`, `${fmt(value, 1)}%`, value >= 97 ? 'met' : 'MISSED'];
      });
      const errors = [...results.errors].map(
        ([name, error]) => `- \`${name}\` failed: ${error.replace(/\n/g, ' ')}`,
      );
      const markdown = [
        `A node:http server in another process on 127.0.0.1 answers every request with a 2-byte body (keep-alive).`,
        `Each case runs in a fresh client process: ${concurrency} loops send requests back to back (each reads the whole`,
        `body and checks the status) for ${fmt(durationMs / 1000, 0)} s after a warm-up; the table gives requests per second`,
        `(median over rounds, and range) and the ratio to the raw client measured in the same round: \`${rawRequest}\``,
        `for request-based cases, \`${rawFetch}\` for fetch. Both cores serve the client and the server, so client CPU`,
        'spent in a wrapper shows up directly as lost throughput. Our cases use the standard pipeline with its defaults.',
        '',
        table(
          ['case', 'req/s', 'range', 'of raw (same round)', 'range', 'errors'],
          ['left', 'right', 'right', 'right', 'right', 'right'],
          rows,
        ),
        '',
        '### Targets',
        '',
        table(['target', 'measured (median)', 'verdict'], ['left', 'left', 'left'], targetRows),
        ...(errors.length > 0 ? ['', ...errors] : []),
      ].join('\n');
      return { markdown, data: results.rounds.map((round) => Object.fromEntries(round)) };
    } finally {
      server.disconnect();
    }
  },
};
