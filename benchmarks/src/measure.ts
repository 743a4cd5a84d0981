/**
 * One overhead case in a fresh process, so that its call sites stay monomorphic and no JIT state leaks between
 * cases. Prints one JSON line: the median ns per call over timed batches, and the JS heap bytes per call.
 * Usage: node measure.ts <case> [--quick]
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { cases } from './suites/overhead.ts';

const [caseName, mode] = process.argv.slice(2);
const make = cases[caseName!];
if (make === undefined) throw new Error(`unknown overhead case ${caseName}`);
const quick = mode === '--quick';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const call = await make();
const result = await call();
if (result !== 1)
  throw new Error(
    `${caseName} resolved to ${String(result)}, expected 1: the case does not run the operation`,
  );

const batchTargetNs = quick ? 50e6 : 100e6;
const batches = quick ? 5 : 9;

async function runBatch(n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await call();
  return Number(process.hrtime.bigint() - start);
}

// Warm-up long enough for the optimising compiler, then size batches to the target duration.
await runBatch(quick ? 20_000 : 30_000);
const probeNs = await runBatch(2_000);
const perBatch = Math.max(1_000, Math.round((batchTargetNs / probeNs) * 2_000));
const samples: number[] = [];
for (let b = 0; b < batches; b++) samples.push((await runBatch(perBatch)) / perBatch);
samples.sort((a, b) => a - b);

// Heap growth over a run short enough that no scavenge happens inside it (the parent gives this process a
// large young generation), after a full gc.
const allocationCalls = 2_000;
gc();
const before = process.memoryUsage().heapUsed;
for (let i = 0; i < allocationCalls; i++) await call();
const bytesPerOp = Math.max(0, (process.memoryUsage().heapUsed - before) / allocationCalls);

process.stdout.write(`${JSON.stringify({ nsPerOp: samples[batches >> 1], bytesPerOp })}\n`);
