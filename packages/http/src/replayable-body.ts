const tagOf = Object.prototype.toString;

/** Bodies that are values, not streams: sending one consumes nothing, so it can be sent again intact. */
function isValueBody(body: unknown): boolean {
  if (body === null || body === undefined || typeof body === 'string') return true;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return true;
  // Tags rather than instanceof: undici's FormData and another realm's Blob are not the global classes.
  const tag = tagOf.call(body);
  return tag === '[object Blob]' || tag === '[object File]' || tag === '[object FormData]';
}

/**
 * Whether a fetch body can be sent more than once: strings, bytes, Blob, URLSearchParams and FormData can;
 * a ReadableStream or async iterable is read once and cannot.
 */
export function isReplayableFetchBody(body: unknown): boolean {
  return isValueBody(body) || tagOf.call(body) === '[object URLSearchParams]';
}

/**
 * Whether an undici dispatch body can be sent more than once: strings, bytes, Blob and FormData can; a
 * stream or (async) iterable is read once and cannot.
 */
export function isReplayableDispatchBody(body: unknown): boolean {
  return isValueBody(body);
}
