import { describe, expect, it } from 'vitest';
import { runUndiciAgent } from './undici-agent.ts';

describe('the undici-agent example', () => {
  it('retries GETs, waits out Retry-After, and retries a POST only when it carries an Idempotency-Key', async () => {
    const result = await runUndiciAgent();
    expect(result.calls.map(({ call, status, attempts }) => [call, status, attempts])).toEqual([
      ['GET /items', 200, 2],
      ['GET /quota (429, Retry-After 1)', 200, 2],
      ['POST /orders, no key', 503, 1],
      ['POST /orders, Idempotency-Key', 201, 2],
    ]);
    expect(result.calls[0]!.body).toBe('{"items":["anchor","buoy"]}');
    // Retry-After: 1 is never shortened
    expect(result.calls[1]!.ms).toBeGreaterThanOrEqual(1_000);
    expect(result.keysSent).toEqual(['"order-7f3a"', '"order-7f3a"']);
    // failed attempts' bodies were drained, so one connection served every request
    expect(result).toMatchObject({ requests: 7, connections: 1 });
  }, 20_000);
});
