import type { Clock, Policy } from '@breakwater/core';
import { heapClock } from './heap-clock.ts';

/**
 * A retry storm: `clients` clients each start `ratePerClient` logical requests per second (open loop, evenly
 * staggered) against one dependency, which answers after `latencyMs` and fails every call that reaches it
 * during the outage. Counts the calls that reach the dependency, per logical request, on a virtual clock (a
 * heap-based one: thousands of retries wait at once).
 */
export interface StormOptions {
  readonly clients: number;
  readonly ratePerClient: number;
  readonly durationMs: number;
  readonly outage: { readonly fromMs: number; readonly toMs: number };
  readonly latencyMs: number;
  /** Makes client `index`'s policy on the simulation's clock (a factory may share state, e.g. one budget). */
  readonly policy: (clock: Clock, index: number) => Policy;
}

export interface StormResult {
  readonly logical: number;
  readonly calls: number;
  /** Logical requests started during the outage. */
  readonly outageLogical: number;
  /** Calls that reached the dependency during the outage. */
  readonly outageCalls: number;
  /** Logical requests that failed, outage or not. */
  readonly failed: number;
  /** Calls that reached the dependency in each second of the run. */
  readonly callsPerSecond: readonly number[];
}

/** The dependency's failure; preallocated, so that no stack trace is captured per call. */
const unavailable = new Error('503 service unavailable');

export async function simulateStorm(options: StormOptions): Promise<StormResult> {
  const { clients, ratePerClient, durationMs, outage, latencyMs } = options;
  const clock = heapClock();
  const periodMs = 1_000 / ratePerClient;
  const callsPerSecond = new Array<number>(Math.ceil(durationMs / 1_000)).fill(0);
  let logical = 0;
  let calls = 0;
  let outageLogical = 0;
  let outageCalls = 0;
  let failed = 0;
  let settled = 0;

  const inOutage = (time: number): boolean => time >= outage.fromMs && time < outage.toMs;
  const dependency = (): Promise<void> => {
    const now = clock.now();
    calls++;
    if (inOutage(now)) outageCalls++;
    const second = Math.floor(now / 1_000);
    callsPerSecond[second] = (callsPerSecond[second] ?? 0) + 1;
    const fails = inOutage(now);
    return new Promise((resolve, reject) => {
      clock.setTimeout(() => (fails ? reject(unavailable) : resolve()), latencyMs);
    });
  };
  const onSuccess = (): void => {
    settled++;
  };
  const onFailure = (): void => {
    settled++;
    failed++;
  };

  for (let index = 0; index < clients; index++) {
    const policy = options.policy(clock, index);
    const send = (): void => {
      const now = clock.now();
      logical++;
      if (inOutage(now)) outageLogical++;
      policy.execute(dependency).then(onSuccess, onFailure);
      if (now + periodMs < durationMs) clock.setTimeout(send, periodMs);
    };
    clock.setTimeout(send, (index * periodMs) / clients);
  }
  // Runs past the end until every retry has finished; run() stops when no timer is left.
  await clock.run(Number.POSITIVE_INFINITY);
  if (settled !== logical) throw new Error(`storm simulation: ${logical - settled} requests never settled`);
  return { logical, calls, outageLogical, outageCalls, failed, callsPerSecond };
}
