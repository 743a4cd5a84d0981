/**
 * Header fields longer than this are not parsed (SEC-REDOS-1): a response whose Cache-Control or Vary is
 * longer is not stored, a request's is ignored.
 */
export const maxParsedFieldLength = 8192;

/** RFC 9111 §1.2.2: delta-seconds too large to represent count as 2^31. */
const maxDeltaSeconds = 2_147_483_648;

/**
 * The directives of a Cache-Control field, parsed once in linear time by a hand-written scanner (no regular
 * expression, CVE-2022-25881). Names are lower-cased; of a repeated directive the first occurrence counts
 * (RFC 9111 §4.2.1).
 */
export class CacheControl {
  readonly #directives: Map<string, string | undefined>;

  private constructor(directives: Map<string, string | undefined>) {
    this.#directives = directives;
  }

  /** No directives: what an absent field means. */
  static readonly empty: CacheControl = new CacheControl(new Map());

  /**
   * Parses a field value (lines already combined with commas). `undefined` when the value is longer than
   * {@link maxParsedFieldLength}.
   */
  static parse(value: string | null | undefined): CacheControl | undefined {
    if (value === null || value === undefined || value === '') return CacheControl.empty;
    if (value.length > maxParsedFieldLength) return undefined;
    const directives = new Map<string, string | undefined>();
    const length = value.length;
    let i = 0;
    while (i < length) {
      while (i < length && isSeparator(value.charCodeAt(i))) i++;
      const nameStart = i;
      while (i < length && isTokenChar(value.charCodeAt(i))) i++;
      const name = value.slice(nameStart, i).toLowerCase();
      while (i < length && isWhitespace(value.charCodeAt(i))) i++;
      let argument: string | undefined;
      if (i < length && value.charCodeAt(i) === 0x3d /* = */) {
        i++;
        while (i < length && isWhitespace(value.charCodeAt(i))) i++;
        if (i < length && value.charCodeAt(i) === 0x22 /* " */) {
          i++;
          let text = '';
          while (i < length && value.charCodeAt(i) !== 0x22) {
            if (value.charCodeAt(i) === 0x5c /* \ */ && i + 1 < length) i++;
            text += value[i];
            i++;
          }
          i++; // the closing quote
          argument = text;
        } else {
          const argumentStart = i;
          while (i < length && isTokenChar(value.charCodeAt(i))) i++;
          argument = value.slice(argumentStart, i);
        }
      }
      // Anything else up to the next comma is malformed; skip it.
      while (i < length && value.charCodeAt(i) !== 0x2c) i++;
      if (name !== '' && !directives.has(name)) directives.set(name, argument);
    }
    return new CacheControl(directives);
  }

  /** Whether the directive is present, with or without an argument. */
  has(name: string): boolean {
    return this.#directives.has(name);
  }

  /** Whether the directive is present without an argument (`private`, not `private="set-cookie"`). */
  hasUnqualified(name: string): boolean {
    return this.#directives.has(name) && this.#directives.get(name) === undefined;
  }

  /**
   * The field names listed by a qualified `private="..."` or `no-cache="..."`, lower-cased; empty when the
   * directive is absent or unqualified.
   */
  fieldNames(name: string): readonly string[] {
    const argument = this.#directives.get(name);
    if (argument === undefined) return [];
    return splitList(argument);
  }

  /**
   * A delta-seconds directive in seconds: `undefined` when absent, `NaN` when present but not a valid
   * delta-seconds (callers decide what an invalid value means: no freshness, or no extension).
   */
  seconds(name: string): number | undefined {
    if (!this.#directives.has(name)) return undefined;
    return deltaSeconds(this.#directives.get(name));
  }
}

/** Parses delta-seconds (RFC 9111 §1.2.2): `NaN` unless it is digits only; huge values count as 2^31. */
export function deltaSeconds(value: string | null | undefined): number {
  if (value === null || value === undefined || value === '') return Number.NaN;
  let result = 0;
  for (let i = 0; i < value.length; i++) {
    const digit = value.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return Number.NaN;
    result = Math.min(result * 10 + digit, maxDeltaSeconds);
  }
  return result;
}

/** Splits a comma-separated list of tokens (Vary, `private="a, b"`), trimmed and lower-cased, empties dropped. */
export function splitList(value: string): string[] {
  const names: string[] = [];
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name !== '') names.push(name);
  }
  return names;
}

function isWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

function isSeparator(code: number): boolean {
  return code === 0x2c || isWhitespace(code);
}

/** RFC 9110 tchar. */
function isTokenChar(code: number): boolean {
  if (code >= 0x30 && code <= 0x39) return true; // DIGIT
  if ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x7a) return true; // ALPHA
  // ! # $ % & ' * + - . ^ _ ` | ~
  return (
    code === 0x21 ||
    (code >= 0x23 && code <= 0x27) ||
    code === 0x2a ||
    code === 0x2b ||
    code === 0x2d ||
    code === 0x2e ||
    code === 0x5e ||
    code === 0x5f ||
    code === 0x60 ||
    code === 0x7c ||
    code === 0x7e
  );
}
