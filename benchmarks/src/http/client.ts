/**
 * One http-suite case and its baseline (raw client) in one client process, timed in alternating load windows.
 * Each side has its own client and so its own Agent and connection pool; a case that is its own baseline gets a
 * second, separate raw client, so its ratio shows how far from 100% the method itself reads.
 *
 * On a shared VM the machine changes pace several times a second (one raw client ran at 11,000 and 19,000 req/s
 * in two 250 ms windows half a second apart), so a ratio to a baseline measured in another process, or even a
 * few seconds later, moves with it. Here the two sides take turns in short windows, so that the two windows of a
 * pair see nearly the same machine; the ratio is the median over pairs. Each block of two pairs runs ABBA or BAAB
 * at random: a steady drift within a block favours neither side, and a periodic cost cannot line up with one side
 * (fetch's 30 ms scavenges come about every 200 ms). With 8 s of measurement, raw against raw read 98.5–101.2% in
 * five processes with 100 ms windows and 96.9–103.1% with 250 ms; 50 ms did no better (98.6–100.9%) and leaves
 * the loops' ramp-up and drain a larger share of each window.
 *
 * Prints `{ requestsPerSecond, cpuUsPerRequest, errors, baseline: {...}, ratio, extraCpuUs, windows }`.
 * Usage: node client.ts <case> <origin> <windowMs> <pairs> <concurrency>
 */
import { median } from '../lib/stats.ts';
import { httpCases, type Request } from './cases.ts';

const [caseName, origin, windowArg, pairsArg, concurrencyArg] = process.argv.slice(2);
const httpCase = httpCases[caseName!];
if (httpCase === undefined) throw new Error(`unknown http case ${caseName}`);
const windowMs = Number(windowArg);
const pairs = Number(pairsArg);
const concurrency = Number(concurrencyArg);
/**
 * Load on each side before measuring: connections open and undici's code optimised. Without it, client CPU per
 * request was still 2–4x its settled value 2 s into the run.
 */
const warmUpMsPerSide = 1_500;

interface LoadResult {
  readonly completed: number;
  readonly errors: number;
  readonly elapsedMs: number;
}
type Load = (ms: number, concurrency: number) => Promise<LoadResult>;

const loadSource = `return async function load(ms, concurrency) {
  const start = performance.now();
  const end = start + ms;
  let completed = 0;
  let errors = 0;
  const loop = async () => {
    while (performance.now() < end) {
      try {
        await send();
        completed++;
      } catch {
        errors++;
      }
    }
  };
  const loops = [];
  for (let i = 0; i < concurrency; i++) loops.push(loop());
  await Promise.all(loops);
  return { completed, errors, elapsedMs: performance.now() - start };
}`;

/**
 * A load loop of its own for one side. V8 keeps type feedback per function literal: one loop serving both sides
 * would see two callees at `send()` and turn polymorphic, unlike a process with one client.
 */
function loadLoop(send: Request): Load {
  const compile = new Function('send', loadSource) as (send: Request) => Load;
  return compile(send);
}

interface Window {
  readonly requestsPerSecond: number;
  /** Client CPU time (user + system) per request in this window, in µs. */
  readonly cpuUsPerRequest: number;
}

/** One side of the comparison: its load loop and its measured windows. */
class Side {
  readonly windows: Window[] = [];
  #completed = 0;
  #errors = 0;
  #cpuUs = 0;
  readonly #load: Load;

  constructor(load: Load) {
    this.#load = load;
  }

  async window(record: boolean): Promise<Window> {
    const cpuBefore = process.cpuUsage();
    const { completed, errors, elapsedMs } = await this.#load(windowMs, concurrency);
    const cpu = process.cpuUsage(cpuBefore);
    const cpuUs = cpu.user + cpu.system;
    const window = { requestsPerSecond: (completed * 1_000) / elapsedMs, cpuUsPerRequest: cpuUs / completed };
    if (record) {
      this.windows.push(window);
      this.#completed += completed;
      this.#errors += errors;
      this.#cpuUs += cpuUs;
    }
    return window;
  }

  summary() {
    return {
      requestsPerSecond: median(this.windows.map((w) => w.requestsPerSecond)),
      // What a wrapper costs the client, over all measured windows.
      cpuUsPerRequest: this.#cpuUs / this.#completed,
      errors: this.#errors,
    };
  }
}

const sendCase = await httpCase.make(origin!);
const sendBaseline = await httpCases[httpCase.baseline]!.make(origin!);
// Fails at once if either side cannot complete a request.
await sendCase();
await sendBaseline();
const caseSide = new Side(loadLoop(sendCase));
const baselineSide = new Side(loadLoop(sendBaseline));

const ratios: number[] = [];
const extraCpu: number[] = [];
const warmUpPairs = 2 * Math.ceil(warmUpMsPerSide / windowMs / 2);
let caseFirst = true;
for (let pair = -warmUpPairs; pair < pairs; pair++) {
  // A block of two pairs: ABBA or BAAB.
  caseFirst = pair % 2 === 0 ? Math.random() < 0.5 : !caseFirst;
  const record = pair >= 0;
  let c: Window;
  let b: Window;
  if (caseFirst) {
    c = await caseSide.window(record);
    b = await baselineSide.window(record);
  } else {
    b = await baselineSide.window(record);
    c = await caseSide.window(record);
  }
  if (record) {
    ratios.push(c.requestsPerSecond / b.requestsPerSecond);
    extraCpu.push(c.cpuUsPerRequest - b.cpuUsPerRequest);
  }
}

process.stdout.write(
  `${JSON.stringify({
    ...caseSide.summary(),
    baseline: baselineSide.summary(),
    ratio: median(ratios),
    extraCpuUs: median(extraCpu),
    windows: { case: caseSide.windows, baseline: baselineSide.windows },
  })}\n`,
);
process.exit(0);
