/**
 * The query parameters whose values the OpenTelemetry HTTP semantic conventions say to redact in `url.full`
 * and `url.query`: presigned-URL signatures and credentials of AWS S3, Google Cloud Storage and Azure.
 */
export const defaultSensitiveQueryParameters: readonly string[] = Object.freeze([
  'AWSAccessKeyId',
  'Signature',
  'sig',
  'X-Amz-Credential',
  'X-Amz-Security-Token',
  'X-Amz-Signature',
  'X-Goog-Signature',
]);

const redacted = 'REDACTED';

/**
 * Redacts a URL the way the OpenTelemetry HTTP semantic conventions require for `url.full`: user info becomes
 * `REDACTED:REDACTED`, and the values of the sensitive query parameters become `REDACTED` (names matched
 * exactly and case-sensitively, as sent; the names stay). Everything else is kept byte for byte, so the
 * result is the URL as sent minus its secrets.
 *
 * @param sensitiveQueryParameters the parameter names whose values are redacted; replaces the default list.
 * @default defaultSensitiveQueryParameters
 */
export function redactUrl(
  url: string,
  sensitiveQueryParameters: ReadonlySet<string> | readonly string[] = defaultSensitiveQuerySet,
): string {
  const sensitive =
    sensitiveQueryParameters instanceof Set
      ? (sensitiveQueryParameters as ReadonlySet<string>)
      : new Set(sensitiveQueryParameters);
  const schemeEnd = url.indexOf('://');
  let result = url;
  if (schemeEnd !== -1) {
    const authorityStart = schemeEnd + 3;
    let authorityEnd = authorityStart;
    while (authorityEnd < url.length) {
      const c = url.charCodeAt(authorityEnd);
      if (c === 0x2f /* / */ || c === 0x3f /* ? */ || c === 0x23 /* # */) break;
      authorityEnd++;
    }
    const at = url.lastIndexOf('@', authorityEnd - 1);
    if (at >= authorityStart) {
      result = `${url.slice(0, authorityStart)}${redacted}:${redacted}${url.slice(at)}`;
    }
  }
  const queryStart = result.indexOf('?');
  if (queryStart === -1 || sensitive.size === 0) return result;
  let queryEnd = result.indexOf('#', queryStart);
  if (queryEnd === -1) queryEnd = result.length;
  return (
    result.slice(0, queryStart + 1) +
    redactQuery(result.slice(queryStart + 1, queryEnd), sensitive) +
    result.slice(queryEnd)
  );
}

const defaultSensitiveQuerySet: ReadonlySet<string> = new Set(defaultSensitiveQueryParameters);

function redactQuery(query: string, sensitive: ReadonlySet<string>): string {
  // Most queries hold no sensitive name: find that out without splitting (encoded names need the full pass).
  if (!query.includes('%') && !query.includes('+')) {
    let mentioned = false;
    for (const name of sensitive) {
      if (query.includes(`${name}=`)) {
        mentioned = true;
        break;
      }
    }
    if (!mentioned) return query;
  }
  let changed = false;
  const pairs = query.split('&');
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!;
    const equals = pair.indexOf('=');
    if (equals === -1) continue;
    if (sensitive.has(decodeName(pair.slice(0, equals)))) {
      pairs[i] = `${pair.slice(0, equals + 1)}${redacted}`;
      changed = true;
    }
  }
  return changed ? pairs.join('&') : query;
}

/** A parameter name as a server reads it, so an encoded `X%2DAmz%2DSignature` is caught too. */
function decodeName(name: string): string {
  if (!name.includes('%') && !name.includes('+')) return name;
  try {
    return decodeURIComponent(name.replaceAll('+', ' '));
  } catch {
    return name;
  }
}
