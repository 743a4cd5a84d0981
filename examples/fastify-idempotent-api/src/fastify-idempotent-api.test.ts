import { describe, expect, it } from 'vitest';
import { runFastifyIdempotentApi } from './fastify-idempotent-api.ts';

describe('the fastify-idempotent-api example', () => {
  it('charges once per key and account: replays, 422 for reuse, 400 without a key, 409 then replay for a slow retry', async () => {
    const result = await runFastifyIdempotentApi();
    expect(result.calls.map(({ status, replayed }) => [status, replayed])).toEqual([
      [201, false],
      [201, true],
      [422, false],
      [400, false],
      [201, false],
      [201, true],
    ]);
    expect(result.calls[1]!.body).toEqual(result.calls[0]!.body);
    expect(result.calls[2]!.body).toMatchObject({ code: 'idempotency-key-reused' });
    expect(result.calls[3]!.body).toMatchObject({ code: 'idempotency-key-missing' });
    expect(result.charges).toEqual([
      { account: 'acct_a', amount: 42 },
      { account: 'acct_b', amount: 7 },
      { account: 'acct_c', amount: 300 },
    ]);
    // timed out, 409 while still in progress, then the replay
    expect(result.resilientAttempts).toBe(3);
  }, 20_000);
});
