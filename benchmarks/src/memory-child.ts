/**
 * The memory check, in its own process with `--expose-gc`: heap before and after many calls through the full
 * stack (after gc), and the listeners left on a long-lived caller signal. Prints one JSON line.
 * Usage: node --expose-gc memory-child.ts <calls>
 */
import { getEventListeners } from 'node:events';
import { ours } from './stacks.ts';

const calls = Number(process.argv[2]);
const checkpoints = 10;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

const heapAfterGc = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const stack = await ours.stack();
const noop = async (): Promise<number> => 1;
// Hands ctx.signal on, as an HTTP call does: that creates the lazy controller and links it to the caller's signal.
const readsSignal = async (ctx: { readonly signal: AbortSignal }): Promise<number> =>
  ctx.signal.aborted ? 0 : 1;

for (let i = 0; i < 20_000; i++) await stack.execute(noop);
const before = heapAfterGc();
const heap: number[] = [];
for (let c = 0; c < checkpoints; c++) {
  for (let i = 0; i < calls / checkpoints; i++) await stack.execute(noop);
  heap.push(heapAfterGc() - before);
}

// One caller signal that lives as long as the process, as a server's shutdown signal does.
const caller = new AbortController();
const options = { signal: caller.signal };
const listeners = (): number => getEventListeners(caller.signal, 'abort').length;
const signalCalls = Math.min(calls, 100_000);
for (let i = 0; i < signalCalls; i++) await stack.execute(readsSignal, options);
const afterSequential = listeners();
// Many calls in flight at once: listeners must be there while they run (or the check proves nothing)...
const concurrent = 256;
const inFlight: Promise<number>[] = [];
for (let i = 0; i < concurrent; i++) inFlight.push(stack.execute(readsSignal, options));
const duringConcurrent = listeners();
await Promise.all(inFlight);
// ...and gone once they settled.
const afterConcurrent = listeners();
const signalHeap = heapAfterGc() - before;

process.stdout.write(
  `${JSON.stringify({ calls, heap, signalCalls, afterSequential, concurrent, duringConcurrent, afterConcurrent, signalHeap })}\n`,
);
