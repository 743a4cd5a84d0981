import type { Stats } from './stats.ts';

/**
 * Open-loop load: a request every `1000 / ratePerSecond` ms whatever happened to the earlier ones, as real
 * users do (a closed loop would slow down with the service and hide its latency). A user gives up after
 * `giveUpMs`; that counts as a failure.
 */
export async function driveLoad(options: {
  targets: readonly { origin: string; stats: Stats }[];
  ratePerSecond: number;
  durationMs: number;
  giveUpMs: number;
}): Promise<void> {
  const intervalMs = 1000 / options.ratePerSecond;
  const started = performance.now();
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; performance.now() - started < options.durationMs; i++) {
    const sku = `sku-${i % 20}`;
    for (const target of options.targets) {
      const call = callOnce(`${target.origin}/orders/check/${sku}`, target.stats, options.giveUpMs);
      inFlight.add(call);
      void call.finally(() => inFlight.delete(call));
    }
    const next = started + (i + 1) * intervalMs;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
  }
  await Promise.all(inFlight);
}

async function callOnce(url: string, stats: Stats, giveUpMs: number): Promise<void> {
  const start = performance.now();
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(giveUpMs) });
    await response.arrayBuffer();
    stats.record(response.ok, performance.now() - start);
  } catch {
    stats.record(false, performance.now() - start);
  }
}
