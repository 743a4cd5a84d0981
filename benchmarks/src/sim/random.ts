/** A normal variate from a uniform source (Box–Muller), as Brooker's simulator draws network delays. */
export function normal(random: () => number, mean: number, sd: number): number {
  const u1 = 1 - random(); // in (0, 1], so the log is finite
  const u2 = random();
  return mean + sd * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}
