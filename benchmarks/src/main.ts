/**
 * Runs benchmark suites and writes one markdown report per suite to `benchmarks/results/<suite>.md` (plus its
 * charts, and the raw data as JSON, which is not committed).
 * Usage: node src/main.ts [suite ...] [--rounds N] [--quick]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchmarksDir, cpuTimes, describeEnvironment, stealPercent } from './lib/environment.ts';
import { fmt } from './lib/stats.ts';
import { suites } from './suites/index.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string' }, quick: { type: 'boolean', default: false } },
});
const quick = values.quick === true;
const rounds = values.rounds === undefined ? (quick ? 1 : 3) : Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1)
  throw new RangeError(`--rounds must be an integer >= 1, received ${values.rounds}`);
const names = positionals.length > 0 ? positionals : Object.keys(suites);
for (const name of names) {
  if (suites[name] === undefined)
    throw new Error(`unknown suite ${name}; known: ${Object.keys(suites).join(', ')}`);
}

const environment = describeEnvironment();
console.log(environment.join('\n'));
// Quick runs must not overwrite the committed reports.
const resultsDir = join(benchmarksDir, 'results', ...(quick ? ['quick'] : []));
mkdirSync(resultsDir, { recursive: true });
const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

for (const name of names) {
  const suite = suites[name]!;
  console.log(`\n## ${name}: ${suite.title}\n`);
  const started = performance.now();
  const cpuBefore = cpuTimes();
  const report = await suite.run({ rounds, quick, log });
  const seconds = (performance.now() - started) / 1000;
  const steal = stealPercent(cpuBefore, cpuTimes());
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const run = [
    `- Run: ${new Date().toISOString()}`,
    ...(quick ? ['**quick mode**'] : []),
    ...(suite.timed ? [`${rounds} round(s)`] : ['one run (behaviour, not timing)']),
    `${fmt(seconds, 1)} s`,
    ...(steal === undefined ? [] : [`CPU steal ${fmt(steal, 1)}%`]),
    `load average at the end ${load}`,
  ].join(', ');
  // A suite keeps at most both cores busy (client and server); a higher load means other work competed with it.
  const busy = suite.timed && loadavg()[0]! > 1.5 * cpus().length;
  const warning = busy
    ? `\n\n> **Busy machine:** the load average reached ${load.split(' ')[0]} on ${cpus().length} cores during this run, so other work competed with the measurements; re-run on an idle machine before trusting small differences.`
    : '';
  console.log(report.markdown);
  console.log(`\n${run}${warning}`);
  const file = join(resultsDir, `${name}.md`);
  writeFileSync(
    file,
    `# ${suite.title}\n\n${[...environment, run].join('\n')}${warning}\n\n${report.markdown}\n`,
  );
  for (const [fileName, content] of Object.entries(report.files ?? {}))
    writeFileSync(join(resultsDir, fileName), content);
  writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(report.data, null, 1)}\n`);
  console.log(`report: ${file}`);
}
