import { describe, expect, it, vi } from 'vitest';
import {
  BreakwaterError,
  BrokenCircuitError,
  BulkheadRejectedError,
  IsolatedCircuitError,
  isBreakwaterError,
  TimeoutError,
} from './errors.js';

describe('errors', () => {
  it('carry stable codes, names, causes and data', () => {
    const cause = new Error('slow');
    const timeout = new TimeoutError(250, { cause });
    expect([timeout.code, timeout.name, timeout.message, timeout.timeoutMs, timeout.cause]).toEqual([
      'ERR_BREAKWATER_TIMEOUT',
      'TimeoutError',
      'operation timed out after 250 ms',
      250,
      cause,
    ]);
    const open = new BrokenCircuitError(1200);
    expect([open.code, open.retryAfterMs, open.message]).toEqual([
      'ERR_BREAKWATER_CIRCUIT_OPEN',
      1200,
      'circuit is open; retry after 1200 ms',
    ]);
    expect(new IsolatedCircuitError().code).toBe('ERR_BREAKWATER_CIRCUIT_ISOLATED');
    const full = new BulkheadRejectedError(2, 0);
    expect([full.code, full.limit, full.queue]).toEqual(['ERR_BREAKWATER_BULKHEAD_FULL', 2, 0]);
    expect(new TimeoutError(1).cause).toBeUndefined();
  });

  it('instanceof follows the class hierarchy', () => {
    const isolated = new IsolatedCircuitError();
    expect(isolated).toBeInstanceOf(BrokenCircuitError);
    expect(isolated).toBeInstanceOf(BreakwaterError);
    expect(isolated).toBeInstanceOf(Error);
    expect(new BrokenCircuitError(1)).not.toBeInstanceOf(IsolatedCircuitError);
    expect(new TimeoutError(1)).not.toBeInstanceOf(BrokenCircuitError);
    expect(new Error('plain')).not.toBeInstanceOf(BreakwaterError);
    expect(isBreakwaterError({ code: 'ERR_BREAKWATER_TIMEOUT' })).toBe(false);
  });

  it('guards work across two copies of the module (duplicate installs)', async () => {
    vi.resetModules();
    const copy = await import('./errors.js');
    expect(copy.TimeoutError).not.toBe(TimeoutError);
    const fromCopy = new copy.TimeoutError(5);
    expect(fromCopy).toBeInstanceOf(TimeoutError);
    expect(fromCopy).toBeInstanceOf(BreakwaterError);
    expect(fromCopy).not.toBeInstanceOf(BrokenCircuitError);
    expect(isBreakwaterError(fromCopy)).toBe(true);
    expect(new IsolatedCircuitError()).toBeInstanceOf(copy.BrokenCircuitError);
    expect(copy.isBreakwaterError(new BulkheadRejectedError(1, 1))).toBe(true);
  });

  it('lets packages define their own coded errors the same way', () => {
    class StatusError extends BreakwaterError {
      static override readonly code: string = 'ERR_BREAKWATER_TEST_STATUS';
    }
    const error = new StatusError('503');
    expect(error.code).toBe('ERR_BREAKWATER_TEST_STATUS');
    expect(error).toBeInstanceOf(StatusError);
    expect(new TimeoutError(1)).not.toBeInstanceOf(StatusError);
  });
});
