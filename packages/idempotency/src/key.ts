/**
 * The `Idempotency-Key` field value, shared by client and server. Per draft-ietf-httpapi-idempotency-key-header
 * the value is an RFC 9651 Structured Field Item whose value is a String: `"` + printable ASCII (%x20-7E) with
 * `\` and `"` escaped + `"`. Parameters on the Item are allowed by the grammar and ignored. Every parser here
 * is a single linear scan (no regular expressions on request data).
 */

/** The field name of the draft. */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
/** The response field that marks a replayed response (Increase, Whop). */
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';

/** Longest accepted key, Stripe's limit. */
export const DEFAULT_MAX_KEY_LENGTH = 255;
/** Shortest accepted key; public APIs should raise it (Brandur requires 20). */
export const DEFAULT_MIN_KEY_LENGTH = 1;
/** Longest field value looked at, whatever `maxKeyLength` is: a cap applied before any parsing. */
const MAX_FIELD_LENGTH = 8192;

/** How a key is written on the wire: the draft's Structured Field string, or a bare token (Stripe style). */
export type KeyEncoding = 'sf-string' | 'raw';

/** Rules a key must follow. */
export interface KeyRules {
  /** Shortest accepted key, in characters. @default 1 */
  readonly minKeyLength: number;
  /** Longest accepted key, in characters (checked before parsing further). @default 255 */
  readonly maxKeyLength: number;
  /** A format the key must match, e.g. a UUID. Trusted configuration, never built from request data. */
  readonly keyPattern?: RegExp | undefined;
}

/** Why a field value was rejected, with a message safe to send back (it never echoes the key). */
export type KeyProblem =
  | 'too-long'
  | 'too-short'
  | 'invalid-character'
  | 'not-a-string'
  | 'multiple'
  | 'pattern'
  | 'empty';

/** The outcome of parsing an `Idempotency-Key` field value. */
export type ParsedKey =
  | { readonly ok: true; readonly key: string }
  | { readonly ok: false; readonly problem: KeyProblem; readonly detail: string };

/** Options of {@link parseIdempotencyKey}. */
export interface ParseKeyOptions extends Partial<KeyRules> {
  /** Also accept a bare, unquoted key (`Idempotency-Key: KG5LxwFBepaKHyUD`). @default true */
  readonly acceptUnquoted?: boolean;
}

const fail = (problem: KeyProblem, detail: string): ParsedKey => ({ ok: false, problem, detail });

/**
 * Parses the field lines of an `Idempotency-Key` header (pass every line: more than one is an error) into the
 * key. Quoted and unquoted forms of one key yield the same string.
 */
export function parseIdempotencyKey(
  fieldLines: string | readonly string[],
  options: ParseKeyOptions = {},
): ParsedKey {
  const maxKeyLength = options.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH;
  const minKeyLength = options.minKeyLength ?? DEFAULT_MIN_KEY_LENGTH;
  let value: string;
  if (typeof fieldLines === 'string') value = fieldLines;
  else if (fieldLines.length === 1) value = fieldLines[0]!;
  else return fail('multiple', 'send exactly one Idempotency-Key field');
  if (value.length > MAX_FIELD_LENGTH)
    return fail('too-long', `the key must be at most ${maxKeyLength} characters`);

  let i = skipSpaces(value, 0);
  const end = trimEnd(value);
  if (i >= end) return fail('empty', 'the Idempotency-Key field is empty');
  let key: string;
  if (value.charCodeAt(i) === 0x22) {
    const parsed = parseString(value, i, maxKeyLength);
    if (typeof parsed === 'object') return parsed;
    key = value.slice(i + 1, parsed - 1);
    if (key.includes('\\')) key = unescapeString(key);
    i = parseParameters(value, parsed, end);
    if (i !== end) {
      return value.charCodeAt(i) === 0x2c
        ? fail('multiple', 'send exactly one Idempotency-Key field')
        : fail(
            'not-a-string',
            'the key must be a Structured Field string, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324"',
          );
    }
  } else {
    if (options.acceptUnquoted === false) {
      return fail(
        'not-a-string',
        'the key must be a Structured Field string, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324"',
      );
    }
    if (end - i > maxKeyLength) return fail('too-long', `the key must be at most ${maxKeyLength} characters`);
    for (let j = i; j < end; j++) {
      const c = value.charCodeAt(j);
      if (c === 0x2c) return fail('multiple', 'send exactly one Idempotency-Key field');
      if (c < 0x21 || c > 0x7e || c === 0x22 || c === 0x5c || c === 0x3b) {
        return c < 0x20 || c > 0x7e
          ? fail('invalid-character', 'the key may only contain printable ASCII characters (%x20-7E)')
          : fail(
              'not-a-string',
              'the key must be a Structured Field string, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324"',
            );
      }
    }
    key = value.slice(i, end);
  }
  return checkKey(key, { minKeyLength, maxKeyLength, keyPattern: options.keyPattern });
}

/** Checks a key (already unquoted) against the rules. */
export function checkKey(key: string, rules: KeyRules): ParsedKey {
  if (key.length > rules.maxKeyLength)
    return fail('too-long', `the key must be at most ${rules.maxKeyLength} characters`);
  for (let j = 0; j < key.length; j++) {
    const c = key.charCodeAt(j);
    if (c < 0x20 || c > 0x7e)
      return fail('invalid-character', 'the key may only contain printable ASCII characters (%x20-7E)');
  }
  if (key.length < rules.minKeyLength) {
    return fail(
      key.length === 0 ? 'empty' : 'too-short',
      `the key must be at least ${rules.minKeyLength} characters`,
    );
  }
  if (rules.keyPattern !== undefined) {
    rules.keyPattern.lastIndex = 0;
    if (!rules.keyPattern.test(key))
      return fail('pattern', 'the key does not have the format this API requires');
  }
  return { ok: true, key };
}

/**
 * Writes a key as a field value: `"..."` with `\` and `"` escaped (`sf-string`), or as is (`raw`, which
 * then must not contain spaces, quotes, backslashes, commas or semicolons).
 * @throws TypeError when the key cannot be written that way (control characters, non-ASCII, CR/LF).
 */
export function serializeIdempotencyKey(
  key: string,
  encoding: KeyEncoding = 'sf-string',
  rules?: Partial<KeyRules>,
): string {
  if (typeof key !== 'string')
    throw new TypeError(`idempotency: the key must be a string, received ${typeof key}`);
  const checked = checkKey(key, {
    minKeyLength: rules?.minKeyLength ?? DEFAULT_MIN_KEY_LENGTH,
    maxKeyLength: rules?.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH,
    keyPattern: rules?.keyPattern,
  });
  if (!checked.ok) throw new TypeError(`idempotency: invalid Idempotency-Key: ${checked.detail}`);
  if (encoding === 'raw') {
    for (let j = 0; j < key.length; j++) {
      const c = key.charCodeAt(j);
      if (c === 0x20 || c === 0x22 || c === 0x5c || c === 0x2c || c === 0x3b) {
        throw new TypeError(
          'idempotency: a raw Idempotency-Key cannot contain spaces, quotes, backslashes, commas or semicolons; use keyEncoding "sf-string"',
        );
      }
    }
    return key;
  }
  let escaped = '';
  let from = 0;
  for (let j = 0; j < key.length; j++) {
    const c = key.charCodeAt(j);
    if (c === 0x22 || c === 0x5c) {
      escaped += `${key.slice(from, j)}\\`;
      from = j;
    }
  }
  return `"${escaped}${key.slice(from)}"`;
}

/** Returns the index after the closing quote, or a failure. RFC 9651 §4.2.5, stopping at `maxKeyLength`. */
function parseString(value: string, start: number, maxKeyLength: number): number | ParsedKey {
  let length = 0;
  for (let j = start + 1; j < value.length; j++) {
    const c = value.charCodeAt(j);
    if (c === 0x22) return j + 1;
    if (++length > maxKeyLength)
      return fail('too-long', `the key must be at most ${maxKeyLength} characters`);
    if (c === 0x5c) {
      const next = value.charCodeAt(++j);
      if (next !== 0x22 && next !== 0x5c) {
        return fail('not-a-string', 'inside the quoted key only \\" and \\\\ may be escaped');
      }
    } else if (c < 0x20 || c > 0x7e) {
      return fail('invalid-character', 'the key may only contain printable ASCII characters (%x20-7E)');
    }
  }
  return fail('not-a-string', 'the quoted key has no closing quote');
}

function unescapeString(inner: string): string {
  let out = '';
  for (let j = 0; j < inner.length; j++) {
    if (inner.charCodeAt(j) === 0x5c) j++;
    out += inner[j];
  }
  return out;
}

/**
 * Skips `*( ";" *SP key [ "=" bare-item ] )` (RFC 9651 §4.2.3.2) and returns where it stopped. Parameters are
 * ignored but must be well-formed, so that the field still parses as a single Item.
 */
function parseParameters(value: string, start: number, end: number): number {
  let i = start;
  while (i < end && value.charCodeAt(i) === 0x3b) {
    i = skipSpaces(value, i + 1);
    const keyStart = i;
    const first = value.charCodeAt(i);
    if (!((first >= 0x61 && first <= 0x7a) || first === 0x2a)) return keyStart;
    while (i < end && isKeyChar(value.charCodeAt(i))) i++;
    if (value.charCodeAt(i) === 0x3d) {
      const after = parseBareItem(value, i + 1, end);
      if (after < 0) return i;
      i = after;
    }
  }
  return i;
}

/** Skips one bare item (string, token, number, boolean, byte sequence); returns -1 when none is there. */
function parseBareItem(value: string, start: number, end: number): number {
  const c = value.charCodeAt(start);
  if (c === 0x22) {
    const parsed = parseString(value, start, MAX_FIELD_LENGTH);
    return typeof parsed === 'number' ? parsed : -1;
  }
  if (c === 0x3f) {
    const b = value.charCodeAt(start + 1);
    return b === 0x30 || b === 0x31 ? start + 2 : -1;
  }
  if (c === 0x3a) {
    const close = value.indexOf(':', start + 1);
    if (close < 0 || close >= end) return -1;
    for (let j = start + 1; j < close; j++) if (!isBase64Char(value.charCodeAt(j))) return -1;
    return close + 1;
  }
  let i = start;
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
    if (c === 0x2d) i++;
    const digitsStart = i;
    while (
      i < end &&
      ((value.charCodeAt(i) >= 0x30 && value.charCodeAt(i) <= 0x39) || value.charCodeAt(i) === 0x2e)
    )
      i++;
    return i > digitsStart ? i : -1;
  }
  if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2a) {
    i++;
    while (i < end && isTokenChar(value.charCodeAt(i))) i++;
    return i;
  }
  return -1;
}

function isKeyChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x5f ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x2a
  );
}

function isTokenChar(c: number): boolean {
  // tchar / ":" / "/" (RFC 9651 §3.3.4)
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    "!#$%&'*+-.^_`|~:/".includes(String.fromCharCode(c))
  );
}

function isBase64Char(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x2b ||
    c === 0x2f ||
    c === 0x3d
  );
}

function skipSpaces(value: string, from: number): number {
  let i = from;
  while (i < value.length && (value.charCodeAt(i) === 0x20 || value.charCodeAt(i) === 0x09)) i++;
  return i;
}

function trimEnd(value: string): number {
  let end = value.length;
  while (end > 0 && (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)) end--;
  return end;
}
