/**
 * One overhead case in a fresh process, so that its call sites stay monomorphic and no JIT state leaks between
 * cases. Prints one JSON line.
 * - `time`: the case and the bare call (the baseline) timed in the same process, batch for batch; prints both
 *   medians in ns per call and the median of the ratio within each adjacent pair of batches. On a shared VM the
 *   whole machine changes speed for seconds at a time (the bare call alone measured 54–102 ns from one process to
 *   the next), so a ratio to a baseline timed in another process moves with it; two batches timed next to each
 *   other see the same machine. Runs with Node's default heap settings: a huge young generation makes timings
 *   bimodal between processes (memory the allocator walks through).
 * - `alloc`: JS heap bytes per call, in a process the parent starts with a young generation large enough that no
 *   scavenge runs inside the measured window (performance-anchors §9 does the same in a separate process).
 * Usage: node measure.ts time|alloc <case> [--quick]
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { median } from './lib/stats.ts';
import { baseline, type Call, cases } from './suites/overhead.ts';

const [mode, caseName, flag] = process.argv.slice(2);
const quick = flag === '--quick';
const warmUpCalls = quick ? 20_000 : 30_000;

/**
 * Makes a case's call and checks that it resolves to 1, so that a case that never runs the operation fails instead
 * of looking fast.
 */
async function checkedCall(name: string): Promise<Call> {
  const make = cases[name];
  if (make === undefined) throw new Error(`unknown overhead case ${name}`);
  const call = await make();
  const result = await call();
  if (result !== 1) {
    throw new Error(`${name} resolved to ${String(result)}, expected 1: the case does not run the operation`);
  }
  return call;
}

/** Times `n` sequential calls; resolves to ns per call. */
type RunBatch = (n: number) => Promise<number>;

const batchLoopSource = `return async function runBatch(n) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await call();
  return Number(process.hrtime.bigint() - start) / n;
}`;

/**
 * A batch loop of its own for one call. V8 keeps type feedback per function literal, shared by every closure
 * made from it: one loop timing both the case and the baseline would see two callees at `call()`, turn
 * polymorphic and stop inlining, and time both unlike a process that only ever calls one. Compiling the source
 * anew gives each loop its own literal, feedback and optimised code.
 */
function batchLoop(call: Call): RunBatch {
  const compile = new Function('call', batchLoopSource) as (call: Call) => RunBatch;
  return compile(call);
}

const batchTargetNs = 20e6;

/**
 * Calls per batch of about `batchTargetNs`: a probe doubled until it lasts a quarter of that, then one batch of the
 * size it gives, timed again. Right after the warm-up a probe alone gave batches of 5–21 ms; with the second
 * sizing they took 13–31 ms.
 */
async function callsPerBatch(run: RunBatch): Promise<number> {
  const size = (nsPerCall: number): number => Math.max(1_000, Math.round(batchTargetNs / nsPerCall));
  let calls = 1_000;
  let nsPerCall = await run(calls);
  while (nsPerCall * calls < batchTargetNs / 4) {
    calls *= 2;
    nsPerCall = await run(calls);
  }
  return size(await run(size(nsPerCall)));
}

if (mode === 'time') {
  // The baseline timed against itself (two loops over the bare call) shows how far from 1 the method's ratio is.
  const runCase = batchLoop(await checkedCall(caseName!));
  const runBaseline = batchLoop(await checkedCall(baseline));
  // Warm-up long enough for the optimising compiler.
  await runBaseline(warmUpCalls);
  await runCase(warmUpCalls);
  // Batches of about the same wall time, so that both halves of a pair sample the machine for as long.
  const caseCalls = await callsPerBatch(runCase);
  const baselineCalls = await callsPerBatch(runBaseline);
  const pairs = quick ? 15 : 25;
  const caseNs: number[] = [];
  const baselineNs: number[] = [];
  const ratios: number[] = [];
  for (let pair = 0; pair < pairs; pair++) {
    // Alternating which goes first, so that neither always pays for the other's garbage or a change of pace.
    let c: number;
    let b: number;
    if (pair % 2 === 0) {
      b = await runBaseline(baselineCalls);
      c = await runCase(caseCalls);
    } else {
      c = await runCase(caseCalls);
      b = await runBaseline(baselineCalls);
    }
    caseNs.push(c);
    baselineNs.push(b);
    ratios.push(c / b);
  }
  const result = { nsPerOp: median(caseNs), baselineNsPerOp: median(baselineNs), ratio: median(ratios) };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else if (mode === 'alloc') {
  const call = await checkedCall(caseName!);
  await batchLoop(call)(warmUpCalls);
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
