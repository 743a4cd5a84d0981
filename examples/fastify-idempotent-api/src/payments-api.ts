import { idempotency, memoryStore } from '@breakwater/idempotency';
import { fastifyIdempotency } from '@breakwater/idempotency/fastify';
import Fastify, { type FastifyRequest } from 'fastify';

/** A charge the handler made: what the idempotency layer must keep from happening twice. */
export interface Charge {
  readonly id: string;
  readonly account: string;
  readonly amount: number;
}

export interface PaymentsApi {
  readonly origin: string;
  readonly charges: readonly Charge[];
  /** Requests received, retries included. */
  readonly requests: number;
  close(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    account: string;
  }
}

/**
 * A payments API on Fastify with server-side idempotency keys. `POST /payments` charges once per key and
 * account: a retry with the same key replays the first response (`Idempotent-Replayed: true`), a key reused
 * for another payment is a 422, a duplicate while the first is still running a 409 with `Retry-After`.
 * A payment with `"slow": true` takes `slowMs` to process.
 */
export async function startPaymentsApi(options: { slowMs?: number } = {}): Promise<PaymentsApi> {
  const charges: Charge[] = [];
  let requests = 0;
  const store = memoryStore(); // one process; use redisStore() from @breakwater/redis for several
  const app = Fastify({ forceCloseConnections: true }); // close() ends keep-alive connections too

  // Authentication first: keys are scoped by the account, so two accounts never share a response.
  app.decorateRequest('account', '');
  app.addHook('onRequest', async (request, reply) => {
    requests++;
    const match = /^Bearer (acct_\w+)$/.exec(request.headers.authorization ?? '');
    if (match === null) return reply.code(401).send({ error: 'unauthenticated' });
    request.account = match[1]!;
  });
  await app.register(fastifyIdempotency, {
    idempotency: idempotency<FastifyRequest>({ store, scope: (request) => request.account }),
    required: true, // POST and PATCH without a key get a 400
  });

  app.post<{ Body: { amount: number; slow?: boolean } }>('/payments', async (request, reply) => {
    const { amount, slow } = request.body;
    if (slow) await new Promise((resolve) => setTimeout(resolve, options.slowMs ?? 400));
    const charge = { id: `pay_${charges.length + 1}`, account: request.account, amount };
    charges.push(charge);
    return reply.code(201).send(charge);
  });

  const origin = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    origin,
    charges,
    get requests() {
      return requests;
    },
    close: async () => {
      await app.close();
      store.close();
    },
  };
}
