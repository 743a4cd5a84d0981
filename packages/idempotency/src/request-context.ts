/**
 * What a handler learns about the idempotency of its request, through {@link idempotencyOf}. It lives in a
 * WeakMap on the server side: no request header can fake it.
 */
export interface IdempotencyRequestContext {
  /** Short SHA-256 of the client's key, for logs (never log the key itself). */
  readonly keyHash: string;
  /** Whether this execution took over a claim abandoned by a crashed request (the handler may have run partly). */
  readonly recovered: boolean;
  /** 1 for the first execution of this key, n > 1 after n - 1 takeovers; 0 before `begin()` in manual mode. */
  readonly attempt: number;
  /**
   * Claims the key (option `begin: 'manual'`: call it once the handler's own validation passed, so that
   * rejected requests record nothing). Resolves `true` when the handler should go on, `false` when the
   * middleware already answered (replay, 409, 422 or 503) and the handler must not respond. In `'auto'` mode
   * the key is claimed before the handler runs and this resolves `true`.
   */
  begin(): Promise<boolean>;
}

const contexts = new WeakMap<object, IdempotencyRequestContext>();

/** The idempotency context of a request the middleware enforced a key for; undefined otherwise. */
export function idempotencyOf(request: object): IdempotencyRequestContext | undefined {
  return contexts.get(request);
}

/** Attaches a context to a request (adapters only). */
export function attachContext(request: object, context: IdempotencyRequestContext): void {
  contexts.set(request, context);
}
