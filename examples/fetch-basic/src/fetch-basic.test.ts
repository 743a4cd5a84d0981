import { describe, expect, it } from 'vitest';
import { runFetchBasic } from './fetch-basic.ts';

describe('the fetch-basic example', () => {
  it('retries the flaky route, times out the slow attempt, and opens the breaker on the dead route', async () => {
    const lines: string[] = [];
    const results = await runFetchBasic((line) => lines.push(line));
    expect(results.map(({ path, outcome, attempts }) => [path, outcome, attempts])).toEqual([
      ['/flaky', 200, 3],
      ['/slow', 200, 2],
      ['/down', 503, 3],
      // the 5th failure in a row opens the breaker: the third attempt is rejected before it is sent
      ['/down', 'ERR_BREAKWATER_CIRCUIT_OPEN', 2],
      ['/down', 'ERR_BREAKWATER_CIRCUIT_OPEN', 0],
    ]);
    const slow = results[1]!;
    expect(slow.ms).toBeGreaterThanOrEqual(500);
    expect(slow.ms).toBeLessThan(1_400);
    expect(results[4]!.ms).toBeLessThan(50);
    expect(lines.filter((line) => line.startsWith('GET '))).toHaveLength(results.length);
  }, 20_000);
});
