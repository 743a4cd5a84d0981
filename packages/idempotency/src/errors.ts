import { BreakwaterError, type BreakwaterErrorOptions } from '@breakwater/core';

/** Options of the idempotency errors. */
export interface IdempotencyErrorOptions extends BreakwaterErrorOptions {
  /** The key of the request, so that a caller can persist it and retry later. */
  idempotencyKey?: string | undefined;
  /** The HTTP response that carried the error, when there was one (its body is unread). */
  response?: Response | undefined;
}

/** The base of the errors about an idempotent request; carries its key and the response, if any. */
export class IdempotencyError extends BreakwaterError {
  static override readonly code: string = 'ERR_BREAKWATER_IDEMPOTENCY';
  /** The key of the request. */
  readonly idempotencyKey: string | undefined;
  /** The response that carried the error, if any. */
  readonly response: Response | undefined;

  constructor(message: string, options?: IdempotencyErrorOptions) {
    super(message, options);
    this.idempotencyKey = options?.idempotencyKey;
    this.response = options?.response;
  }
}

/** 422: the key was used before with a different request payload. Never retried: the caller must use a new key. */
export class IdempotencyKeyReusedError extends IdempotencyError {
  static override readonly code: string = 'ERR_BREAKWATER_IDEMPOTENCY_KEY_REUSED';
}

/** 409: a request with the same key is still being processed. Retrying later with the same key is safe. */
export class IdempotencyConflictError extends IdempotencyError {
  static override readonly code: string = 'ERR_BREAKWATER_IDEMPOTENCY_CONFLICT';
}

/** 400: the server rejected the key (missing where required, or malformed). Never retried. */
export class IdempotencyKeyInvalidError extends IdempotencyError {
  static override readonly code: string = 'ERR_BREAKWATER_IDEMPOTENCY_KEY_INVALID';
}
