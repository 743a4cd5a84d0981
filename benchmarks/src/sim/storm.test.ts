import { type Clock, type Policy, pipeline } from '@breakwater/core';
import { type RetryBudget, retry, retryBudget } from '@breakwater/retry';
import { describe, expect, it } from 'vitest';
import { type StormOptions, simulateStorm } from './storm.ts';

const storm = (policy: StormOptions['policy']) =>
  simulateStorm({
    clients: 10,
    ratePerClient: 100,
    durationMs: 30_000,
    outage: { fromMs: 5_000, toMs: 25_000 },
    latencyMs: 5,
    policy,
  });

describe('simulateStorm', () => {
  it('without retries, every logical request reaches the dependency once', async () => {
    const r = await storm(() => pipeline());
    expect(r.logical).toBe(10 * 100 * 30);
    expect(r.calls).toBe(r.logical);
    expect(r.outageLogical).toBe(10 * 100 * 20);
    expect(r.outageCalls).toBe(r.outageLogical);
    expect(r.failed).toBe(r.outageLogical);
    expect(r.callsPerSecond.reduce((a, b) => a + b, 0)).toBe(r.calls);
  });

  it('retries without a budget multiply the load by about maxAttempts', async () => {
    const r = await storm((clock) => retry({ maxAttempts: 3, clock }));
    expect(r.outageCalls / r.outageLogical).toBeGreaterThan(2.8);
    expect(r.outageCalls / r.outageLogical).toBeLessThanOrEqual(3);
  });

  it('a shared retry budget holds the outage to 1 + ratio when the ratio outweighs the floor', async () => {
    let budget: RetryBudget | undefined;
    const make = (clock: Clock): Policy => {
      budget ??= retryBudget({ clock, ratio: 0.1, minPerSecond: 10 });
      return retry({ maxAttempts: 3, clock, budget });
    };
    const r = await storm(make);
    // 1,000 requests/s: the ratio's 100 retries/s outweigh the floor's 10/s, which then adds nothing.
    expect(r.outageCalls / r.outageLogical).toBeLessThanOrEqual(1.1 + 1e-9);
    expect(r.outageCalls / r.outageLogical).toBeGreaterThan(1.05);
  });

  it('a budget per quiet client holds the outage to 1 + floor / traffic, not 1 + ratio + floor / traffic', async () => {
    const r = await storm((clock) =>
      retry({ maxAttempts: 3, clock, budget: retryBudget({ clock, ratio: 0.1, minPerSecond: 20 }) }),
    );
    // 100 requests/s per client: the floor's 20 retries/s outweigh the ratio's 10/s.
    expect(r.outageCalls / r.outageLogical).toBeLessThanOrEqual(1.2 + 1e-9);
    expect(r.outageCalls / r.outageLogical).toBeGreaterThan(1.15);
  });
});
