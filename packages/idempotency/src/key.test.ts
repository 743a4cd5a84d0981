import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIdempotencyKey, serializeIdempotencyKey } from './key.js';

const keyOf = (value: string | string[], options?: Parameters<typeof parseIdempotencyKey>[1]) => {
  const parsed = parseIdempotencyKey(value, options);
  return parsed.ok ? parsed.key : parsed.problem;
};
const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  minLength: 1,
  maxLength: 255,
});

describe('parseIdempotencyKey', () => {
  it('reads a Structured Field string, unescaping \\" and \\\\', () => {
    expect(keyOf('"8e03978e-40d5-43e8-bc93-6894a57f9324"')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(keyOf('"a\\"b\\\\c"')).toBe('a"b\\c');
    expect(keyOf('  "with spaces inside"  ')).toBe('with spaces inside');
  });

  it('ignores well-formed parameters on the item', () => {
    expect(keyOf('"abc";a=1;b="x;y";c=?1;d=:AQID:;e=tok/en;f;g=-1.5')).toBe('abc');
    expect(keyOf('"abc"; a=1')).toBe('abc');
  });

  it('accepts a bare legacy token as the same key as its quoted form, unless told not to', () => {
    expect(keyOf('KG5LxwFBepaKHyUD')).toBe(keyOf('"KG5LxwFBepaKHyUD"'));
    expect(keyOf('stripe-node-retry-1f7c:abc/+=')).toBe('stripe-node-retry-1f7c:abc/+=');
    expect(keyOf('KG5LxwFBepaKHyUD', { acceptUnquoted: false })).toBe('not-a-string');
  });

  it('rejects more than one key: several field lines, or a list joined by a comma', () => {
    expect(keyOf(['"a"', '"b"'])).toBe('multiple');
    expect(keyOf('"a", "b"')).toBe('multiple');
    expect(keyOf('a, b')).toBe('multiple');
    expect(keyOf(['"a"'])).toBe('a');
  });

  it('enforces maxKeyLength on the unescaped key, before looking at the rest of a long field', () => {
    expect(keyOf(`"${'k'.repeat(255)}"`)).toBe('k'.repeat(255));
    expect(keyOf(`"${'k'.repeat(256)}"`)).toBe('too-long');
    expect(keyOf('k'.repeat(256))).toBe('too-long');
    expect(keyOf(`"${'k'.repeat(10 * 1024)}"`)).toBe('too-long');
    expect(keyOf(`"${'\\"'.repeat(255)}"`)).toBe('"'.repeat(255));
    expect(keyOf('"abcdef"', { maxKeyLength: 5 })).toBe('too-long');
  });

  it('rejects control and non-ASCII characters, inside quotes or bare', () => {
    for (const bad of [
      '"a\r\nb"',
      '"a\u0000b"',
      '"a\tb"',
      '"caf\u00e9"',
      '"\u007f"',
      'a\u0001b',
      'caf\u00e9',
    ]) {
      expect(keyOf(bad)).toBe('invalid-character');
    }
  });

  it('rejects what is not a single sf-string', () => {
    for (const bad of [
      '"abc',
      '"a\\x"',
      '"a"junk',
      '"a";=1',
      '"a";A=1',
      '"a";b=',
      '"a" "b"',
      'a b',
      '"a"b"',
      '(a b)',
    ]) {
      expect([bad, keyOf(bad)]).toEqual([bad, expect.stringMatching(/^(not-a-string|multiple)$/)]);
    }
    expect(keyOf('?1', { acceptUnquoted: false })).toBe('not-a-string');
    expect(keyOf('""')).toBe('empty');
    expect(keyOf('   ')).toBe('empty');
  });

  it('applies minKeyLength and keyPattern', () => {
    expect(keyOf('"short"', { minKeyLength: 16 })).toBe('too-short');
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    expect(keyOf('"8e03978e-40d5-43e8-bc93-6894a57f9324"', { keyPattern: uuid })).toBe(
      '8e03978e-40d5-43e8-bc93-6894a57f9324',
    );
    expect(keyOf('"not-a-uuid"', { keyPattern: uuid })).toBe('pattern');
  });

  it('never echoes the key in its explanation', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 3, maxLength: 300 }), (raw) => {
        const parsed = parseIdempotencyKey(`"secret-${raw}\u0001"`);
        return !parsed.ok && !parsed.detail.includes(`secret-${raw}`);
      }),
    );
  });

  it('never throws and only accepts printable ASCII keys within the bounds, for any input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 400 }),
          printable.map((k) => `"${k}"`),
        ),
        (raw) => {
          const parsed = parseIdempotencyKey(raw);
          if (!parsed.ok) return true;
          return parsed.key.length >= 1 && parsed.key.length <= 255 && /^[\x20-\x7e]+$/.test(parsed.key);
        },
      ),
    );
  });
});

describe('serializeIdempotencyKey', () => {
  it('writes an sf-string with \\ and " escaped', () => {
    expect(serializeIdempotencyKey('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(serializeIdempotencyKey('plain')).toBe('"plain"');
  });

  it('round-trips every printable ASCII key through the parser', () => {
    fc.assert(fc.property(printable, (key) => keyOf(serializeIdempotencyKey(key)) === key));
  });

  it('writes a raw token only when it needs no quoting', () => {
    expect(serializeIdempotencyKey('KG5LxwFBepaKHyUD', 'raw')).toBe('KG5LxwFBepaKHyUD');
    for (const bad of ['a b', 'a"b', 'a\\b', 'a,b', 'a;b']) {
      expect(() => serializeIdempotencyKey(bad, 'raw')).toThrow(/a raw Idempotency-Key cannot contain/);
    }
  });

  it('throws a TypeError for a key that cannot be a field value (header injection, non-ASCII, length)', () => {
    for (const bad of ['a\r\nX-Injected: 1', 'nul\u0000', 'caf\u00e9', '', 'k'.repeat(256)]) {
      expect(() => serializeIdempotencyKey(bad)).toThrow(TypeError);
    }
    expect(() => serializeIdempotencyKey('a\r\nb')).toThrow(
      'idempotency: invalid Idempotency-Key: the key may only contain printable ASCII characters (%x20-7E)',
    );
    expect(() => serializeIdempotencyKey(42 as never)).toThrow(
      'idempotency: the key must be a string, received number',
    );
  });
});
