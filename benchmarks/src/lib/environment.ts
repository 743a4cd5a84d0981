import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';

export const benchmarksDir: string = new URL('../..', import.meta.url).pathname;

/** The peers measured against, as installed in `benchmarks/node_modules`. */
const peers = ['cockatiel', 'opossum', 'p-retry', 'undici'] as const;

function installedVersion(name: string): string {
  try {
    const manifest = JSON.parse(
      readFileSync(join(benchmarksDir, 'node_modules', name, 'package.json'), 'utf8'),
    );
    return String(manifest.version);
  } catch {
    return 'not installed';
  }
}

function gitRevision(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: benchmarksDir,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', '../packages'], {
      cwd: benchmarksDir,
      encoding: 'utf8',
    }).trim();
    return dirty === '' ? head : `${head} + uncommitted changes in packages/`;
  } catch {
    return 'unknown';
  }
}

/** CPU time counters from /proc/stat (Linux), to report how much the hypervisor stole during a run. */
export interface CpuTimes {
  readonly steal: number;
  readonly total: number;
}

export function cpuTimes(): CpuTimes | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return { steal: fields[7] ?? 0, total: fields.reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}

/** Share of CPU time stolen by the hypervisor between two readings, in percent; `undefined` off Linux. */
export function stealPercent(from: CpuTimes | undefined, to: CpuTimes | undefined): number | undefined {
  if (from === undefined || to === undefined || to.total === from.total) return undefined;
  return (100 * (to.steal - from.steal)) / (to.total - from.total);
}

/** Machine, runtime and versions, as markdown lines. */
export function describeEnvironment(): string[] {
  const cpu = cpus();
  const gib = (bytes: number): string => (bytes / 2 ** 30).toFixed(1);
  return [
    `- Node ${process.version} (V8 ${process.versions.v8}), ${process.platform}/${process.arch}`,
    `- CPU: ${cpu[0]?.model ?? 'unknown'} x${cpu.length}; memory ${gib(totalmem())} GiB (${gib(freemem())} free); load average before the run ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
    `- Peers: ${peers.map((name) => `${name} ${installedVersion(name)}`).join(', ')}`,
    `- breakwater: ${gitRevision()}`,
  ];
}
