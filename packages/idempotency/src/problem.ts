/** A response the middleware writes itself: an error (RFC 9457 problem+json) or a replay. */
export interface IdempotencyResponse {
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Uint8Array;
}

/** The stable problem codes; each is also the fragment of the problem `type` URI. */
export type ProblemCode =
  | 'idempotency-key-missing'
  | 'idempotency-key-invalid'
  | 'idempotency-key-reused'
  | 'idempotency-request-in-progress'
  | 'idempotency-response-not-replayable'
  | 'idempotency-request-too-large'
  | 'idempotency-store-unavailable';

const problems: Record<ProblemCode, { status: number; title: string; detail: string }> = {
  'idempotency-key-missing': {
    status: 400,
    title: 'Idempotency-Key is missing',
    detail: 'This operation requires an Idempotency-Key header.',
  },
  'idempotency-key-invalid': { status: 400, title: 'Idempotency-Key is invalid', detail: '' },
  'idempotency-key-reused': {
    status: 422,
    title: 'Idempotency-Key is already used',
    detail:
      'This Idempotency-Key was used with a different request payload; use a new key for a new request.',
  },
  'idempotency-request-in-progress': {
    status: 409,
    title: 'A request is outstanding for this Idempotency-Key',
    detail: 'A request with the same Idempotency-Key is being processed; retry later with the same key.',
  },
  'idempotency-response-not-replayable': {
    status: 409,
    title: 'The response for this Idempotency-Key cannot be replayed',
    detail: 'The request with this Idempotency-Key completed, but its response was too large to keep.',
  },
  'idempotency-request-too-large': {
    status: 413,
    title: 'Request body too large for an idempotent request',
    detail: '',
  },
  'idempotency-store-unavailable': {
    status: 503,
    title: 'Idempotency store unavailable',
    detail: 'The idempotency of this request cannot be guaranteed right now; retry later with the same key.',
  },
};

/**
 * Builds a problem+json response. `detail` overrides the default text; it must never contain the client's
 * key or other request data unescaped (JSON encoding escapes it, but we keep keys out of bodies entirely).
 */
export function problemResponse(
  typeBase: string,
  code: ProblemCode,
  detail?: string,
  extraHeaders: readonly (readonly [string, string])[] = [],
): IdempotencyResponse {
  const problem = problems[code];
  const body = JSON.stringify({
    type: `${typeBase}${code}`,
    title: problem.title,
    status: problem.status,
    detail: detail ?? problem.detail,
    code,
  });
  return {
    status: problem.status,
    headers: [['content-type', 'application/problem+json'], ...extraHeaders],
    body: Buffer.from(body, 'utf8'),
  };
}
