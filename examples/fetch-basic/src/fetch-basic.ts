import { consecutiveFailures } from '@breakwater/circuit-breaker';
import { resilientFetch } from '@breakwater/http';
import { startFlakyServer } from './flaky-server.ts';

/** What happened to one call. */
export interface CallResult {
  readonly path: string;
  /** The status the caller got, or the error's code. */
  readonly outcome: number | string;
  /** How many requests the server received for it. */
  readonly attempts: number;
  readonly ms: number;
}

/** Runs the example against a local flaky server; returns what happened to each call. */
export async function runFetchBasic(print: (line: string) => void = () => {}): Promise<CallResult[]> {
  const server = await startFlakyServer();
  try {
    // The part to copy: global fetch with the standard pipeline (bulkhead, total timeout, retry with
    // jittered backoff, per-origin circuit breaker, attempt timeout).
    const fetch = resilientFetch({
      totalTimeoutMs: 5_000, // the whole call, retries included
      attemptTimeoutMs: 500, // each attempt, until its response headers
      retry: { maxAttempts: 3, backoff: 100 }, // 100 ms between attempts (default: exponential, full jitter)
      circuitBreaker: { breaker: consecutiveFailures(5), breakMs: 10_000 }, // per origin
    });

    const results: CallResult[] = [];
    const call = async (path: string): Promise<void> => {
      const before = server.received.get(path) ?? 0;
      const started = performance.now();
      let outcome: number | string;
      try {
        const response = await fetch(`${server.origin}${path}`);
        await response.text();
        outcome = response.status;
      } catch (error) {
        outcome = (error as { code?: string }).code ?? String(error);
      }
      const result = {
        path,
        outcome,
        attempts: (server.received.get(path) ?? 0) - before,
        ms: Math.round(performance.now() - started),
      };
      results.push(result);
      print(
        `GET ${path.padEnd(6)} -> ${String(outcome).padEnd(27)} ${result.attempts} request(s) reached the server, ${result.ms} ms`,
      );
    };

    print('/flaky answers 503 twice, then 200: the retry hides it.');
    await call('/flaky');
    print('/slow takes 1.5 s the first time: the attempt timeout gives up at 500 ms and the retry is fast.');
    await call('/slow');
    print(
      '/down always answers 503: a call tries 3 times and returns the last 503. After 5 failures in a row',
    );
    print(
      'the breaker opens: the next attempt and every call after it fail fast without reaching the server.',
    );
    for (let i = 0; i < 3; i++) await call('/down');
    return results;
  } finally {
    await server.close();
  }
}
