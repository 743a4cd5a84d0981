export {
  IdempotencyConflictError,
  IdempotencyError,
  type IdempotencyErrorOptions,
  IdempotencyKeyInvalidError,
  IdempotencyKeyReusedError,
} from './errors.js';
export { keyHash } from './hashing.js';
export {
  type Decision,
  type FingerprintSink,
  Idempotency,
  type IdempotencyLateCompletionEvent,
  type IdempotencyOutcomeEvent,
  type IdempotencyStoreErrorEvent,
  idempotency,
  type KeyCheck,
  type RequestFacts,
  type ResolvedRoute,
} from './idempotency.js';
export {
  type IdempotencyKeyOptions,
  IdempotencyKeyPolicy,
  idempotencyKey,
  idempotencyKeyContext,
} from './idempotency-key-policy.js';
export {
  defaultStoreStatus,
  type IdempotencyConfig,
  type IdempotencyOptions,
  type RouteOptions,
} from './idempotency-options.js';
export {
  checkKey,
  DEFAULT_MAX_KEY_LENGTH,
  DEFAULT_MIN_KEY_LENGTH,
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENT_REPLAYED_HEADER,
  type KeyEncoding,
  type KeyProblem,
  type KeyRules,
  type ParsedKey,
  type ParseKeyOptions,
  parseIdempotencyKey,
  serializeIdempotencyKey,
} from './key.js';
export {
  type MemoryIdempotencyStore,
  MemoryStoreFullError,
  type MemoryStoreOptions,
  memoryStore,
} from './memory-store.js';
export {
  type NodeIdempotencyContext,
  type NodeIdempotencyOptions,
  type NodeIdempotentHandler,
  nodeIdempotency,
} from './node-adapter.js';
export type { IdempotencyResponse, ProblemCode } from './problem.js';
export { type IdempotencyRequestContext, idempotencyOf } from './request-context.js';
export type { CapturedResponse, IdempotencySession, SessionEnd } from './session.js';
export {
  assertStore,
  type ClaimRequest,
  type ClaimResult,
  type IdempotencyStore,
  type StoredResponse,
} from './store.js';
export {
  type IdempotencyInfo,
  idempotencyInfo,
  type WithIdempotencyKeyOptions,
  withIdempotencyKey,
} from './with-idempotency-key.js';
