import { describe, expect, it } from 'vitest';
import {
  booleanOption,
  clockOption,
  describeValue,
  durationOption,
  functionOption,
  integerOption,
  numberOption,
  oneOfOption,
  readOptions,
} from './validation.js';

describe('validation', () => {
  it('describes received values readably', () => {
    expect([
      describeValue('x'),
      describeValue(-1),
      describeValue(Number.NaN),
      describeValue(Number.POSITIVE_INFINITY),
      describeValue(-0),
      describeValue(2n),
      describeValue(null),
      describeValue(undefined),
      describeValue([]),
      describeValue({}),
      describeValue(new Map()),
      describeValue(() => 1),
      describeValue(Symbol('s')),
    ]).toEqual([
      '"x"',
      '-1',
      'NaN',
      'Infinity',
      '-0',
      '2n',
      'null',
      'undefined',
      'an array',
      'an object',
      'an instance of Map',
      'a function',
      'Symbol(s)',
    ]);
  });

  it('accepts undefined or a plain object, and never copies or mutates it', () => {
    const options = Object.freeze({ a: 1 });
    expect(readOptions('p', options, ['a', 'b'])).toBe(options);
    expect(readOptions('p', undefined, ['a'])).toEqual({});
  });

  it('rejects non-objects and unknown keys, suggesting the closest known one', () => {
    expect(() => readOptions('retry', 3, ['maxAttempts'])).toThrow(
      new TypeError('retry: options must be an object, received 3'),
    );
    expect(() => readOptions('retry', [], ['maxAttempts'])).toThrow(/received an array/);
    expect(() => readOptions('retry', { maxAttempt: 3 }, ['maxAttempts', 'backoff'])).toThrow(
      new TypeError(
        'retry: unknown option "maxAttempt" (did you mean "maxAttempts"?); known options: maxAttempts, backoff',
      ),
    );
    expect(() => readOptions('retry', { zzzzzz: 1 }, ['maxAttempts'])).toThrow(
      new TypeError('retry: unknown option "zzzzzz"; known options: maxAttempts'),
    );
  });

  it('validates integers: type, range, NaN and Infinity', () => {
    expect(integerOption('retry', 'maxAttempts', undefined, 3, { min: 1 })).toBe(3);
    expect(integerOption('retry', 'maxAttempts', 5, 3, { min: 1 })).toBe(5);
    expect(() => integerOption('retry', 'maxAttempts', -1, 3, { min: 1 })).toThrow(
      new RangeError('retry: maxAttempts must be an integer >= 1, received -1'),
    );
    expect(() => integerOption('retry', 'maxAttempts', 1.5, 3, { min: 1 })).toThrow(RangeError);
    expect(() => integerOption('retry', 'maxAttempts', Number.NaN, 3, { min: 1 })).toThrow(/received NaN/);
    expect(() => integerOption('retry', 'maxAttempts', Number.POSITIVE_INFINITY, 3, { min: 1 })).toThrow(
      /received Infinity/,
    );
    expect(
      integerOption('retry', 'maxAttempts', Number.POSITIVE_INFINITY, 3, { min: 1, allowInfinity: true }),
    ).toBe(Number.POSITIVE_INFINITY);
    expect(() => integerOption('retry', 'maxAttempts', '3', 3, { min: 1 })).toThrow(
      new TypeError('retry: maxAttempts must be an integer >= 1, received "3"'),
    );
  });

  it('validates numbers with exclusive and inclusive bounds', () => {
    expect(() => numberOption('budget', 'ratio', 0, 0.1, { min: 0, max: 1, minExclusive: true })).toThrow(
      new RangeError('budget: ratio must be a number > 0 and <= 1, received 0'),
    );
    expect(() => numberOption('budget', 'ratio', 1.5, 0.1, { min: 0, max: 1 })).toThrow(/<= 1, received 1.5/);
    expect(numberOption('budget', 'ratio', 1, 0.1, { min: 0, max: 1 })).toBe(1);
  });

  it('validates durations as finite milliseconds >= 0 by default', () => {
    expect(durationOption('timeout', 'ms', 0, 1)).toBe(0);
    expect(() => durationOption('timeout', 'ms', -5, 1)).toThrow(
      new RangeError('timeout: ms must be a number >= 0, received -5'),
    );
    expect(() => durationOption('timeout', 'ms', Number.POSITIVE_INFINITY, 1)).toThrow(RangeError);
    expect(() => durationOption('timeout', 'ms', 0, 1, { min: 1 })).toThrow(/>= 1, received 0/);
  });

  it('validates booleans, functions and string choices', () => {
    expect(booleanOption('p', 'flag', undefined, true)).toBe(true);
    expect(() => booleanOption('p', 'flag', 1, true)).toThrow(
      new TypeError('p: flag must be a boolean, received 1'),
    );
    const fn = (): number => 1;
    expect(functionOption('p', 'fn', fn)).toBe(fn);
    expect(functionOption('p', 'fn', undefined)).toBeUndefined();
    expect(() => functionOption('p', 'fn', 'x')).toThrow(
      new TypeError('p: fn must be a function, received "x"'),
    );
    expect(oneOfOption('backoff', 'jitter', undefined, ['full', 'none'], 'full')).toBe('full');
    expect(() => oneOfOption('backoff', 'jitter', 'fuzzy', ['full', 'none'], 'full')).toThrow(
      new RangeError('backoff: jitter must be one of "full", "none", received "fuzzy"'),
    );
    expect(() => oneOfOption('backoff', 'jitter', 1, ['full', 'none'], 'full')).toThrow(TypeError);
  });

  it('validates a clock: the system clock by default, anything clock-shaped accepted', () => {
    expect(clockOption('timeout', undefined).now()).toBeGreaterThan(0);
    const clock = { now: () => 1, setTimeout: () => 0, clearTimeout: () => undefined };
    expect(clockOption('timeout', clock)).toBe(clock);
    expect(() => clockOption('timeout', { now: () => 1 })).toThrow(
      new TypeError(
        'timeout: clock must be an object with now(), setTimeout() and clearTimeout() methods, received an object',
      ),
    );
  });
});
