import type { Dispatcher } from 'undici';

/** One request: resolves once the response body was read, and checks the status. */
export type Request = () => Promise<void>;

export interface HttpCase {
  /** The case whose throughput in the same round this one is compared with. */
  readonly baseline: string;
  readonly make: (origin: string) => Promise<Request>;
}

function checkStatus(status: number): void {
  if (status !== 200) throw new Error(`unexpected status ${status}`);
}

const undiciRequest = async (origin: string, dispatcher?: Dispatcher) => {
  const { Agent, request } = await import('undici');
  const agent = dispatcher ?? new Agent();
  const url = `${origin}/`;
  return async (signal?: AbortSignal): Promise<void> => {
    const response = await request(
      url,
      signal === undefined ? { dispatcher: agent } : { dispatcher: agent, signal },
    );
    await response.body.text();
    checkStatus(response.statusCode);
  };
};

const undiciFetch = async (origin: string) => {
  const { Agent, fetch } = await import('undici');
  const agent = new Agent();
  const url = `${origin}/`;
  return { agent, url, fetch };
};

export const rawRequest = 'undici.request (Agent)';
export const rawFetch = 'undici.fetch (Agent)';

export const httpCases: Readonly<Record<string, HttpCase>> = {
  [rawRequest]: {
    baseline: rawRequest,
    make: async (origin) => {
      const send = await undiciRequest(origin);
      return () => send();
    },
  },
  'breakwater: undici.request, Agent().compose(resilience())': {
    baseline: rawRequest,
    make: async (origin) => {
      const { Agent } = await import('undici');
      const { resilience } = await import('@breakwater/http');
      const send = await undiciRequest(origin, new Agent().compose(resilience()));
      return () => send();
    },
  },
  'cockatiel: wrap(retry, breaker, timeout, bulkhead) around undici.request': {
    baseline: rawRequest,
    make: async (origin) => {
      const { cockatiel } = await import('../stacks.ts');
      const policy = await cockatiel.wrap();
      const send = await undiciRequest(origin);
      return () => policy.execute(({ signal }) => send(signal));
    },
  },
  'opossum: CircuitBreaker around undici.request (5 s timeout)': {
    baseline: rawRequest,
    make: async (origin) => {
      const { default: CircuitBreaker } = await import('opossum');
      const send = await undiciRequest(origin);
      const breaker = new CircuitBreaker(() => send(), { timeout: 5_000 });
      return () => breaker.fire();
    },
  },
  'p-retry: { retries: 3 } around undici.request': {
    baseline: rawRequest,
    make: async (origin) => {
      const { default: pRetry } = await import('p-retry');
      const send = await undiciRequest(origin);
      const attempt = (): Promise<void> => send();
      return () => pRetry(attempt, { retries: 3 });
    },
  },
  // What compose() costs by itself: a floor under any interceptor, ours included.
  'undici: Agent().compose(pass-through interceptor)': {
    baseline: rawRequest,
    make: async (origin) => {
      const { Agent } = await import('undici');
      const send = await undiciRequest(
        origin,
        new Agent().compose((dispatch) => dispatch),
      );
      return () => send();
    },
  },
  'undici: Agent().compose(interceptors.retry())': {
    baseline: rawRequest,
    make: async (origin) => {
      const { Agent, interceptors } = await import('undici');
      const send = await undiciRequest(origin, new Agent().compose(interceptors.retry()));
      return () => send();
    },
  },
  // Our interceptor doing what undici's retry interceptor does, for a like-for-like comparison.
  'breakwater: Agent().compose(resilience({ pipeline: retry() }))': {
    baseline: rawRequest,
    make: async (origin) => {
      const { Agent } = await import('undici');
      const { resilience } = await import('@breakwater/http');
      const { retry } = await import('@breakwater/retry');
      const send = await undiciRequest(origin, new Agent().compose(resilience({ pipeline: retry() })));
      return () => send();
    },
  },
  [rawFetch]: {
    baseline: rawFetch,
    make: async (origin) => {
      const { agent, url, fetch } = await undiciFetch(origin);
      const init = { dispatcher: agent };
      return async () => {
        const response = await fetch(url, init);
        await response.text();
        checkStatus(response.status);
      };
    },
  },
  'breakwater: resilientFetch({ fetch: undici.fetch })': {
    baseline: rawFetch,
    make: async (origin) => {
      const { agent, url, fetch } = await undiciFetch(origin);
      const { resilientFetch } = await import('@breakwater/http');
      const resilient = resilientFetch({ fetch });
      const init = { dispatcher: agent };
      return async () => {
        const response = await resilient(url, init);
        await response.text();
        checkStatus(response.status);
      };
    },
  },
  // The same standard pipeline under fetch, applied by the interceptor: it aborts an attempt through undici's
  // dispatch controller, where resilientFetch has to hand fetch a signal.
  'breakwater: undici.fetch, Agent().compose(resilience())': {
    baseline: rawFetch,
    make: async (origin) => {
      const { Agent, fetch } = await import('undici');
      const { resilience } = await import('@breakwater/http');
      const init = { dispatcher: new Agent().compose(resilience()) };
      const url = `${origin}/`;
      return async () => {
        const response = await fetch(url, init);
        await response.text();
        checkStatus(response.status);
      };
    },
  },
  // The plain way to time out a fetch, and what any signal costs it: undici.fetch follows every signal it is
  // given with one of its own, through a WeakRef and a FinalizationRegistry.
  'undici.fetch with AbortSignal.timeout(10_000)': {
    baseline: rawFetch,
    make: async (origin) => {
      const { agent, url, fetch } = await undiciFetch(origin);
      return async () => {
        const response = await fetch(url, { dispatcher: agent, signal: AbortSignal.timeout(10_000) });
        await response.text();
        checkStatus(response.status);
      };
    },
  },
};
