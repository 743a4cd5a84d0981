/** A code that is safe as a low-cardinality `error.type`: `ECONNRESET`, `UND_ERR_SOCKET`, `ERR_BREAKWATER_TIMEOUT`. */
const codeShape = /^[A-Z][A-Z0-9_]{1,63}$/;

/**
 * The `error.type` of a failure without a usable HTTP status, low-cardinality as the semantic conventions
 * ask: an `HttpStatusError`'s status, else the first error code found along the `cause` chain (a `fetch failed`
 * TypeError's socket error, an AggregateError's first error), else the error's class name, else `_OTHER`.
 * Messages are never used: they may carry upstream data.
 */
export function errorType(error: unknown): string {
  let current = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const { code, status } = current as { code?: unknown; status?: unknown };
    if (code === 'ERR_BREAKWATER_HTTP_STATUS' && typeof status === 'number') return String(status);
    if (typeof code === 'string' && codeShape.test(code)) return code;
    current =
      current instanceof AggregateError && current.errors.length > 0
        ? current.errors[0]
        : (current as { cause?: unknown }).cause;
  }
  if (error instanceof Error && error.name !== 'Error' && /^\w{1,64}$/.test(error.name)) return error.name;
  return '_OTHER';
}
