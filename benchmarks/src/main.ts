/**
 * Runs benchmark suites: each case in its own child process, several rounds in rotated order, and reports
 * the median across rounds, the range, and the ratio to the suite's baseline measured in the same round
 * (absolute times on a shared machine are noisy; same-round ratios are not).
 * Usage: node src/main.ts [suite ...] [--rounds N]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { suites } from './suites/index.ts';

const args = process.argv.slice(2);
const roundsFlag = args.indexOf('--rounds');
const rounds = roundsFlag >= 0 ? Number(args[roundsFlag + 1]) : 3;
const selected = args.filter((arg, i) => !arg.startsWith('--') && args[i - 1] !== '--rounds');
const names = selected.length > 0 ? selected : Object.keys(suites);
const here = new URL('.', import.meta.url).pathname;

interface Sample {
  nsPerOp: number;
  bytesPerOp: number;
}

function measure(suite: string, name: string): Sample {
  const out = execFileSync(
    process.execPath,
    ['--max-semi-space-size=128', '--min-semi-space-size=128', join(here, 'measure.ts'), suite, name],
    { encoding: 'utf8' },
  );
  return JSON.parse(out.trim().split('\n').at(-1)!) as Sample;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const header = `Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, ${rounds} rounds, ${new Date().toISOString()}`;
const report: string[] = [`# Benchmarks\n\n${header}\n`];
console.log(header);

for (const suiteName of names) {
  const suite = suites[suiteName];
  if (suite === undefined)
    throw new Error(`unknown suite ${suiteName}; known: ${Object.keys(suites).join(', ')}`);
  const caseNames = Object.keys(suite.cases);
  const ns = new Map<string, number[]>(caseNames.map((c) => [c, []]));
  const bytes = new Map<string, number[]>(caseNames.map((c) => [c, []]));
  const ratios = new Map<string, number[]>(caseNames.map((c) => [c, []]));
  for (let round = 0; round < rounds; round++) {
    const order = caseNames.map((_, i) => caseNames[(i + round) % caseNames.length]!);
    const inRound = new Map<string, Sample>();
    for (const name of order) inRound.set(name, measure(suiteName, name));
    const base = inRound.get(suite.baseline)!.nsPerOp;
    for (const [name, sample] of inRound) {
      ns.get(name)!.push(sample.nsPerOp);
      bytes.get(name)!.push(sample.bytesPerOp);
      ratios.get(name)!.push(sample.nsPerOp / base);
    }
  }
  const rows = caseNames.map((name) => {
    const values = ns.get(name)!;
    return `| ${name} | ${fmt(median(values))} | ${fmt(Math.min(...values))}–${fmt(Math.max(...values))} | ${fmt(median(ratios.get(name)!), 2)} | ${fmt(median(bytes.get(name)!))} |`;
  });
  const table = [
    `## ${suite.title}\n`,
    `| case | median ns/op | range | x ${suite.baseline} (same round) | JS heap B/op |`,
    '|---|---:|---:|---:|---:|',
    ...rows,
    '',
  ].join('\n');
  console.log(`\n${table}`);
  report.push(table);
}

const resultsDir = join(here, '..', 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `${names.join('-')}.md`);
writeFileSync(file, `${report.join('\n')}\n`);
console.log(`\nreport written to ${file}`);
