import { describe, expect, it } from 'vitest';
import { constantBackoff } from './index.js';

describe('constantBackoff', () => {
  it('always returns its delay and is frozen', () => {
    const backoff = constantBackoff(250);
    expect(Array.from({ length: 4 }, () => backoff.next())).toEqual([250, 250, 250, 250]);
    expect(backoff.delayMs).toBe(250);
    expect(Object.isFrozen(backoff)).toBe(true);
    expect(constantBackoff(0).next()).toBe(0);
  });

  it.each<[unknown, ErrorConstructor, string]>([
    [undefined, TypeError, 'constantBackoff: ms is required'],
    [-1, RangeError, 'constantBackoff: ms must be a number >= 0 and <= 2147483647, received -1'],
    [
      Number.POSITIVE_INFINITY,
      RangeError,
      'constantBackoff: ms must be a number >= 0 and <= 2147483647, received Infinity',
    ],
    ['10', TypeError, 'constantBackoff: ms must be a number >= 0 and <= 2147483647, received "10"'],
  ])('rejects %o', (ms, ErrorType, message) => {
    const build = () => constantBackoff(ms as number);
    expect(build).toThrow(ErrorType);
    expect(build).toThrow(message);
  });
});
