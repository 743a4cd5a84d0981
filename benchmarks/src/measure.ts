/**
 * Runs in a fresh child process per case, so that each case's call sites stay monomorphic and no JIT state
 * leaks between cases. Prints one JSON line: the median ns per call and the JS heap bytes allocated per call.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { suites } from './suites/index.ts';

const [suiteName, caseName] = process.argv.slice(2);
const suite = suites[suiteName!];
const make = suite?.cases[caseName!];
if (make === undefined) throw new Error(`unknown case ${suiteName}/${caseName}`);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const call = await make();
const batchTargetNs = 100e6;
const batches = 9;

async function runBatch(n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await call();
  return Number(process.hrtime.bigint() - start);
}

// Calibrate the batch size to about 100 ms, after a warm-up long enough for the optimising compiler.
await runBatch(30_000);
const probeNs = await runBatch(2_000);
const perBatch = Math.max(1_000, Math.round((batchTargetNs / probeNs) * 2_000));
const samples: number[] = [];
for (let b = 0; b < batches; b++) samples.push((await runBatch(perBatch)) / perBatch);
samples.sort((a, b) => a - b);

// Allocation: heap growth over a run short enough that no scavenge happens inside it (the parent gives this
// process a large young generation), after a gc.
const allocationCalls = 2_000;
gc();
const before = process.memoryUsage().heapUsed;
for (let i = 0; i < allocationCalls; i++) await call();
const bytesPerOp = Math.max(0, (process.memoryUsage().heapUsed - before) / allocationCalls);

process.stdout.write(`${JSON.stringify({ nsPerOp: samples[batches >> 1], bytesPerOp })}\n`);
