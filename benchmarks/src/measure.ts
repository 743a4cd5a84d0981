/**
 * One overhead case in a fresh process, so that its call sites stay monomorphic and no JIT state leaks between
 * cases. Prints one JSON line.
 * - `time`: the median ns per call over timed batches, after a warm-up. Runs with Node's default heap settings:
 *   a huge young generation makes timings bimodal between processes (memory the allocator walks through).
 * - `alloc`: JS heap bytes per call, in a process the parent starts with a young generation large enough that no
 *   scavenge runs inside the measured window (performance-anchors §9 does the same in a separate process).
 * Usage: node measure.ts time|alloc <case> [--quick]
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { cases } from './suites/overhead.ts';

const [mode, caseName, flag] = process.argv.slice(2);
const make = cases[caseName!];
if (make === undefined) throw new Error(`unknown overhead case ${caseName}`);
const quick = flag === '--quick';

const call = await make();
const result = await call();
if (result !== 1) {
  throw new Error(
    `${caseName} resolved to ${String(result)}, expected 1: the case does not run the operation`,
  );
}

async function runBatch(n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await call();
  return Number(process.hrtime.bigint() - start);
}

// Warm-up long enough for the optimising compiler.
await runBatch(quick ? 20_000 : 30_000);

if (mode === 'time') {
  const batchTargetNs = quick ? 50e6 : 100e6;
  const batches = quick ? 5 : 9;
  const probeNs = await runBatch(2_000);
  const perBatch = Math.max(1_000, Math.round((batchTargetNs / probeNs) * 2_000));
  const samples: number[] = [];
  for (let b = 0; b < batches; b++) samples.push((await runBatch(perBatch)) / perBatch);
  samples.sort((a, b) => a - b);
  process.stdout.write(`${JSON.stringify({ nsPerOp: samples[batches >> 1] })}\n`);
} else if (mode === 'alloc') {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const calls = 2_000;
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < calls; i++) await call();
  const bytesPerOp = Math.max(0, (process.memoryUsage().heapUsed - before) / calls);
  process.stdout.write(`${JSON.stringify({ bytesPerOp })}\n`);
} else {
  throw new Error(`unknown mode ${mode}: time or alloc`);
}
