/**
 * A deterministic random source in [0, 1) for jittered policies in tests (mulberry32): the same seed gives
 * the same sequence on every run and machine.
 */
export function seededRandom(seed: number): () => number {
  if (!Number.isInteger(seed))
    throw new RangeError(`seededRandom: seed must be an integer, received ${seed}`);
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
