/** The longest wait a `Retry-After` can ask for: the largest delay a Node timer accepts (about 24.8 days). */
export const maxRetryAfterMs = 2_147_483_647;

/**
 * Parses a `Retry-After` value (RFC 9110 §10.2.3): delta-seconds (`120`) or an HTTP-date, into milliseconds
 * from `nowMs` (wall-clock time, for dates). Dates in the past give 0; waits are capped at
 * {@link maxRetryAfterMs}. Anything else (negative or fractional numbers, garbage, overlong values, a list
 * of several values) gives `undefined`: an unusable hint is ignored, never guessed at. Linear-time, no regex
 * backtracking, so a hostile header costs nothing.
 */
export function parseRetryAfter(
  value: string | readonly string[] | null | undefined,
  nowMs: number,
): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'string') {
    if (value.length !== 1) return undefined;
    value = value[0]!;
  }
  const text = value.trim();
  if (text.length === 0 || text.length > 64) return undefined;
  let seconds = 0;
  let digits = true;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i) - 48;
    if (code < 0 || code > 9) {
      digits = false;
      break;
    }
    seconds = seconds * 10 + code;
  }
  if (digits) return Math.min(seconds * 1000, maxRetryAfterMs);
  // An HTTP-date starts with a day name: this keeps Date.parse from accepting numbers like "1.5" or "-3".
  const first = text.charCodeAt(0);
  if (!((first >= 65 && first <= 90) || (first >= 97 && first <= 122))) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.min(Math.max(0, date - nowMs), maxRetryAfterMs);
}
