/**
 * A typed key for data that policies share through the context of one logical execution, such as an
 * idempotency key or a tracing span. Keys compare by identity, so two packages never collide by name.
 */
export interface ContextKey<T> {
  /** For debugging only. */
  readonly name: string;
  /** Type-level marker; never set at run time. */
  readonly __type?: T;
}

/** Creates a {@link ContextKey}. Create each key once, at module level. */
export function contextKey<T>(name: string): ContextKey<T> {
  return Object.freeze({ name });
}
