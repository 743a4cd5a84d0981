import { join } from 'node:path';
import { runChild } from '../lib/rounds.ts';
import { fmt } from '../lib/stats.ts';
import { table } from '../lib/table.ts';
import type { RunOptions, Suite, SuiteReport } from '../suite.ts';

interface MemoryResult {
  readonly calls: number;
  /** Heap after gc minus the heap before the run, at each tenth of the calls. */
  readonly heap: readonly number[];
  readonly signalCalls: number;
  readonly afterSequential: number;
  readonly concurrent: number;
  readonly duringConcurrent: number;
  readonly afterConcurrent: number;
  readonly signalHeap: number;
}

/** Heap growth we call noise: far less than one byte per call of a million. */
const noiseBytes = 256 * 1024;
const kib = (bytes: number): string => `${fmt(bytes / 1024, 1)} KiB`;

export const memory: Suite = {
  title: 'Memory: heap and signal listeners after many calls through the full stack',
  timed: false,
  async run(options: RunOptions): Promise<SuiteReport> {
    const calls = options.quick ? 200_000 : 1_000_000;
    options.log(`  ${fmt(calls)} calls`);
    const script = join(new URL('..', import.meta.url).pathname, 'memory-child.ts');
    const r = await runChild<MemoryResult>(script, [String(calls)], ['--expose-gc']);
    const final = r.heap.at(-1)!;
    const checks: [string, string, boolean][] = [
      [
        `heap growth after ${fmt(r.calls)} calls (after gc) <= ${kib(noiseBytes)}`,
        `${kib(final)} (${fmt(final / r.calls, 3)} B/call)`,
        final <= noiseBytes,
      ],
      [
        `heap growth stays flat: every checkpoint <= ${kib(noiseBytes)}`,
        r.heap.map(kib).join(', '),
        r.heap.every((b) => b <= noiseBytes),
      ],
      [
        `abort listeners on a long-lived caller signal after ${fmt(r.signalCalls)} sequential calls`,
        String(r.afterSequential),
        r.afterSequential === 0,
      ],
      [
        `... while ${r.concurrent} calls are in flight (shows the count is live)`,
        String(r.duringConcurrent),
        r.duringConcurrent > 0,
      ],
      [`... after they settled`, String(r.afterConcurrent), r.afterConcurrent === 0],
      ['heap growth after the signal runs (after gc)', kib(r.signalHeap), r.signalHeap <= noiseBytes],
    ];
    const markdown = [
      `${fmt(r.calls)} sequential calls through \`pipeline(bulkhead, timeout, retry, circuitBreaker)\` (the overhead`,
      "suite's configuration) in a process with `--expose-gc`, after 20,000 warm-up calls; the heap is read after two",
      'full gcs at every tenth. Then calls with a long-lived caller `AbortSignal` whose operation reads `ctx.signal`',
      "(so each call links a controller to the caller's signal), counted with `events.getEventListeners()`.",
      '',
      table(
        ['check', 'measured', 'verdict'],
        ['left', 'left', 'left'],
        checks.map(([check, measured, ok]) => [check, measured, ok ? 'ok' : 'FAILED']),
      ),
    ].join('\n');
    return { markdown, data: r };
  },
};
