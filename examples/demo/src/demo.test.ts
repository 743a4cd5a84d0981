import { describe, expect, it } from 'vitest';
import { runDemo } from './demo.ts';

describe('the demo', () => {
  it('keeps orders flowing through the outage while plain fetch stalls, and sheds load from the failing inventory', async () => {
    const result = await runDemo({ durationMs: 8_000, ratePerSecond: 25 });
    const { plain, breakwater } = result;
    expect(plain.calls).toBe(breakwater.calls);
    expect(breakwater.p99Ms).toBeLessThan(plain.p99Ms);
    expect(breakwater.retries).toBeGreaterThan(0);
    expect(breakwater.fallbacks).toBeGreaterThan(0);
    expect(breakwater.successRate).toBeGreaterThan(plain.successRate);
    expect(breakwater.breakerTimeline).toContain('O');
    // Plain fetch waits out every hung call until its user gives up (3 s); breakwater gives up per attempt.
    expect(plain.p99Ms).toBeGreaterThanOrEqual(2_900);
    expect(breakwater.p99Ms).toBeLessThan(1_600);
  }, 30_000);
});
