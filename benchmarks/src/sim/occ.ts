import type { Clock, Policy } from '@breakwater/core';
import { seededRandom, virtualClock } from '@breakwater/testing';
import { normal } from './random.ts';

/**
 * Marc Brooker's optimistic-concurrency model ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015,
 * and its published simulator): `clients` clients start together and each updates one shared row once, by
 * reading its version and then writing conditionally on that version. A write whose version is stale fails and
 * the client retries (read again, then write) under the policy. Every message takes `|N(10 ms, 2 ms)|`, as in
 * the simulator. Runs on a virtual clock with seeded randomness, so a seed always gives the same result.
 */
export interface OccOptions {
  readonly clients: number;
  readonly seed: number;
  /** Makes the retry policy that drives each client's update, on the simulation's clock and random source. */
  readonly policy: (clock: Clock, random: () => number) => Policy;
}

export interface OccResult {
  /** Writes that reached the server: the work done, and the server's load. */
  readonly calls: number;
  /** Virtual time until the last client's write succeeded, in milliseconds. */
  readonly timeMs: number;
}

/** One stale write; preallocated, so that no stack trace is captured per conflict. */
const conflict = new Error('version conflict');

export async function simulateOcc({ clients, seed, policy: makePolicy }: OccOptions): Promise<OccResult> {
  const clock = virtualClock();
  const network = seededRandom(seed);
  // Jitter draws from its own stream, so that changing the backoff does not change the network's delays.
  const policy = makePolicy(clock, seededRandom(seed ^ 0x5bd1e995));
  const hop = (): Promise<void> =>
    new Promise((resolve) => {
      clock.setTimeout(resolve, Math.abs(normal(network, 10, 2)));
    });

  let version = 0;
  let calls = 0;
  let done = 0;
  let timeMs = 0;
  const update = async (): Promise<void> => {
    await hop(); // read request
    const seen = version;
    await hop(); // read response
    await hop(); // conditional write request
    calls++;
    const written = seen === version;
    if (written) version++;
    await hop(); // write response
    if (!written) throw conflict;
  };
  const finished = (): void => {
    done++;
    timeMs = clock.now();
  };
  const failures: unknown[] = [];
  for (let i = 0; i < clients; i++)
    policy.execute(update).then(finished, (error: unknown) => failures.push(error));
  // Far beyond any run; advance() stops firing when no timer is left.
  await clock.advance(1e9);
  if (failures.length > 0 || done !== clients) {
    throw new Error(`occ simulation: ${done} of ${clients} clients finished, ${failures.length} gave up`);
  }
  return { calls, timeMs };
}
