import { resilientFetch } from '@breakwater/http';
import { idempotencyInfo, withIdempotencyKey } from '@breakwater/idempotency';
import { startPaymentsApi } from './payments-api.ts';

/** What one call got. */
export interface CallResult {
  readonly call: string;
  readonly status: number;
  readonly replayed: boolean;
  readonly body: unknown;
}

export interface FastifyIdempotentApiResult {
  readonly calls: readonly CallResult[];
  /** Charges the API made, per account. */
  readonly charges: readonly { readonly account: string; readonly amount: number }[];
  /** Requests the resilient client's single call sent. */
  readonly resilientAttempts: number;
}

/** Runs the example against the payments API on 127.0.0.1; returns what each call got. */
export async function runFastifyIdempotentApi(
  print: (line: string) => void = () => {},
): Promise<FastifyIdempotentApiResult> {
  const api = await startPaymentsApi({ slowMs: 400 });
  const calls: CallResult[] = [];
  const record = async (call: string, response: Response): Promise<void> => {
    const type = response.headers.get('content-type') ?? '';
    const body: unknown = type.includes('json') ? await response.json() : await response.text();
    const replayed = response.headers.get('idempotent-replayed') === 'true';
    calls.push({ call, status: response.status, replayed, body });
    const code = (body as { code?: string }).code;
    print(
      `${call.padEnd(46)} -> ${response.status}${replayed ? ' (replayed)' : ''} ${code ?? JSON.stringify(body)}`,
    );
  };
  const pay = (account: string, key: string | undefined, payment: object): Promise<Response> =>
    fetch(`${api.origin}/payments`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${account}`,
        'content-type': 'application/json',
        ...(key === undefined ? {} : { 'idempotency-key': `"${key}"` }),
      },
      body: JSON.stringify(payment),
    });
  try {
    await record('acct_a pays 42 with key "order-1"', await pay('acct_a', 'order-1', { amount: 42 }));
    await record('acct_a sends it again (a retry)', await pay('acct_a', 'order-1', { amount: 42 }));
    await record('acct_a reuses "order-1" for 99', await pay('acct_a', 'order-1', { amount: 99 }));
    await record('acct_a pays without a key', await pay('acct_a', undefined, { amount: 5 }));
    await record('acct_b uses the key "order-1" too', await pay('acct_b', 'order-1', { amount: 7 }));

    // The client side: one key per logical payment (generated once, sent on every attempt), and retries of a
    // POST allowed because this API honours keys. 409 (still in progress) is retried after its Retry-After.
    const resilient = withIdempotencyKey(
      resilientFetch({
        attemptTimeoutMs: 150,
        retry: { maxAttempts: 4, backoff: 50 },
        honorsIdempotencyKeys: [api.origin],
        failureStatuses: [409, 429, 500, 502, 503, 504],
      }),
    );
    const chargesBefore = api.charges.length;
    const requestsBefore = api.requests;
    const response = await resilient(`${api.origin}/payments`, {
      method: 'POST',
      headers: { authorization: 'Bearer acct_c', 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 300, slow: true }),
    });
    const info = idempotencyInfo(response);
    print('');
    print('A client whose first attempt times out (150 ms) while the server is still charging (400 ms):');
    await record('acct_c pays 300 through withIdempotencyKey', response);
    const resilientAttempts = api.requests - requestsBefore;
    print(
      `  ${resilientAttempts} attempts with the same generated key ${info?.key}; ${api.charges.length - chargesBefore} charge made`,
    );
    return {
      calls,
      charges: api.charges.map(({ account, amount }) => ({ account, amount })),
      resilientAttempts,
    };
  } finally {
    await api.close();
  }
}
