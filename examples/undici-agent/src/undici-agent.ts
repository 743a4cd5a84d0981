import { resilience } from '@breakwater/http';
import { Agent, request } from 'undici';
import { startUpstream } from './upstream.ts';

/** What one call got. */
export interface CallResult {
  readonly call: string;
  readonly status: number;
  readonly body: string;
  /** How many requests reached the upstream for this call. */
  readonly attempts: number;
  readonly ms: number;
}

export interface UndiciAgentResult {
  readonly calls: readonly CallResult[];
  /** The Idempotency-Key of each attempt of the keyed POST. */
  readonly keysSent: readonly (string | undefined)[];
  /** TCP connections the upstream saw for all the requests. */
  readonly connections: number;
  readonly requests: number;
}

/** Runs the example against a local upstream; returns what each call got. */
export async function runUndiciAgent(print: (line: string) => void = () => {}): Promise<UndiciAgentResult> {
  const upstream = await startUpstream();
  // One connection, so that you can see failed attempts' bodies drained and the connection reused.
  const agent = new Agent({ connections: 1 }).compose(
    resilience({
      attemptTimeoutMs: 2_000,
      retry: { maxAttempts: 3, backoff: 100 },
      // This API deduplicates on Idempotency-Key: keyed POSTs to it may be retried.
      honorsIdempotencyKeys: [upstream.origin],
    }),
  );
  const calls: CallResult[] = [];
  const call = async (
    label: string,
    path: string,
    options: Omit<Parameters<typeof request>[1] & object, 'dispatcher'> = {},
  ): Promise<void> => {
    const before = upstream.received.length;
    const started = performance.now();
    const { statusCode, body } = await request(`${upstream.origin}${path}`, {
      ...options,
      dispatcher: agent,
    });
    const result: CallResult = {
      call: label,
      status: statusCode,
      body: await body.text(),
      attempts: upstream.received.length - before,
      ms: Math.round(performance.now() - started),
    };
    calls.push(result);
    print(
      `${label.padEnd(32)} -> ${result.status} ${result.body.padEnd(28)} ${result.attempts} attempt(s), ${result.ms} ms`,
    );
  };
  try {
    await call('GET /items', '/items');
    await call('GET /quota (429, Retry-After 1)', '/quota');
    const order = { method: 'POST', headers: { 'content-type': 'application/json' } } as const;
    await call('POST /orders, no key', '/orders', { ...order, body: '{"sku":"anchor"}' });
    await call('POST /orders, Idempotency-Key', '/orders', {
      ...order,
      headers: { ...order.headers, 'idempotency-key': '"order-7f3a"' },
      body: '{"sku":"buoy"}',
    });
    const keysSent = upstream.received
      .filter((r) => r.body === '{"sku":"buoy"}')
      .map((r) => r.idempotencyKey);
    const connections = new Set(upstream.received.map((r) => r.connection)).size;
    print(`${upstream.received.length} requests went over ${connections} connection(s).`);
    return { calls, keysSent, connections, requests: upstream.received.length };
  } finally {
    await agent.close();
    await upstream.close();
  }
}
