/**
 * One http-suite case in a fresh process: `concurrency` loops send requests back to back for `durationMs`
 * after a warm-up; prints `{ requestsPerSecond, cpuUsPerRequest, errors }`.
 * Usage: node client.ts <case> <origin> <durationMs> <concurrency>
 */
import { httpCases } from './cases.ts';

const [caseName, origin, duration, concurrencyArg] = process.argv.slice(2);
const httpCase = httpCases[caseName!];
if (httpCase === undefined) throw new Error(`unknown http case ${caseName}`);
const durationMs = Number(duration);
const concurrency = Number(concurrencyArg);

const send = await httpCase.make(origin!);
await send(); // fails the case at once if it cannot complete a request

async function load(ms: number): Promise<{ completed: number; errors: number; elapsedMs: number }> {
  const start = performance.now();
  const end = start + ms;
  let completed = 0;
  let errors = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      try {
        await send();
        completed++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { completed, errors, elapsedMs: performance.now() - start };
}

await load(Math.min(1_000, durationMs / 2)); // warm-up: connections open, code optimised
const cpuBefore = process.cpuUsage();
const { completed, errors, elapsedMs } = await load(durationMs);
// CPU time the client spent per request: what a wrapper costs, and far less disturbed by other load than req/s.
const cpu = process.cpuUsage(cpuBefore);
const cpuUsPerRequest = (cpu.user + cpu.system) / completed;
process.stdout.write(
  `${JSON.stringify({ requestsPerSecond: (completed * 1_000) / elapsedMs, cpuUsPerRequest, errors })}\n`,
);
process.exit(0);
