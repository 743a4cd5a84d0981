import type { Clock, Policy } from '@breakwater/core';
import { exponentialBackoff, type Jitter, retry } from '@breakwater/retry';
import { describe, expect, it } from 'vitest';
import { simulateOcc } from './occ.ts';

const withJitter =
  (jitter: Jitter) =>
  (clock: Clock, random: () => number): Policy =>
    retry({
      maxAttempts: Number.MAX_SAFE_INTEGER,
      allowUnsafeRetries: true,
      backoff: exponentialBackoff({ initialMs: 10, maxMs: 2_000, jitter }),
      maxDelayMs: 2_000,
      clock,
      random,
    });

async function meanCalls(jitter: Jitter, clients: number, trials: number): Promise<number> {
  let calls = 0;
  for (let seed = 0; seed < trials; seed++)
    calls += (await simulateOcc({ clients, seed, policy: withJitter(jitter) })).calls;
  return calls / trials;
}

describe('simulateOcc (Brooker 2015)', () => {
  it('is deterministic: the same seed gives the same calls and time', async () => {
    const run = () => simulateOcc({ clients: 30, seed: 42, policy: withJitter('full') });
    const first = await run();
    expect(await run()).toEqual(first);
    expect(await simulateOcc({ clients: 30, seed: 43, policy: withJitter('full') })).not.toEqual(first);
  });

  it('a lone client writes once, after four network hops of about 10 ms', async () => {
    const { calls, timeMs } = await simulateOcc({ clients: 1, seed: 1, policy: withJitter('none') });
    expect(calls).toBe(1);
    expect(timeMs).toBeGreaterThan(4 * 10 - 4 * 8);
    expect(timeMs).toBeLessThan(4 * 10 + 4 * 8);
  });

  it('every client writes at least once, and contention makes some write again', async () => {
    const { calls } = await simulateOcc({ clients: 20, seed: 7, policy: withJitter('full') });
    expect(calls).toBeGreaterThan(20);
  });

  it('full jitter needs less than half the calls of un-jittered exponential backoff at 100 clients', async () => {
    const full = await meanCalls('full', 100, 5);
    const none = await meanCalls('none', 100, 5);
    expect(full / none).toBeLessThan(0.5);
    // Brooker's published model at 100 clients: about 800 and 1,860 calls (performance-anchors §1).
    expect(full).toBeGreaterThan(700);
    expect(full).toBeLessThan(900);
    expect(none).toBeGreaterThan(1_650);
    expect(none).toBeLessThan(2_050);
  });
});
