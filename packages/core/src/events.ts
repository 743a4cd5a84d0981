import { type Channel, channel } from 'node:diagnostics_channel';
import { callIsolated } from './call-isolated.js';

/** The handle of an event subscription: `dispose()` it, or hold it with `using`. */
export interface Subscription {
  dispose(): void;
  [Symbol.dispose](): void;
}

/** Subscribes `listener` to an event; returns the handle that unsubscribes it. */
export type Event<T> = (listener: (event: T) => void) => Subscription;

type Listener<T> = (event: T) => void;
const noListeners: readonly never[] = Object.freeze([]);

/**
 * A typed event that costs nothing while nobody listens: check `active` before building a payload. It can
 * also publish every payload to the `node:diagnostics_channel` channel it is named after, which is how
 * `@breakwater/tracing` observes policies without them importing OpenTelemetry.
 */
export class EventEmitter<T> {
  #listeners: readonly Listener<T>[] = noListeners;
  readonly #channel: Channel | undefined;

  /** @param channelName a diagnostics channel to publish to as well, e.g. from {@link diagnosticsChannelName}. */
  constructor(channelName?: string) {
    this.#channel = channelName === undefined ? undefined : channel(channelName);
  }

  /** Whether emitting would reach anybody: a listener or a diagnostics channel subscriber. */
  get active(): boolean {
    return this.#listeners.length > 0 || this.#channel?.hasSubscribers === true;
  }

  /** How many listeners are subscribed. */
  get listenerCount(): number {
    return this.#listeners.length;
  }

  /** Subscribes a listener. Listeners are called synchronously, in subscription order. */
  readonly event: Event<T> = (listener) => {
    if (typeof listener !== 'function') {
      throw new TypeError(`event listener must be a function, received ${typeof listener}`);
    }
    this.#listeners = [...this.#listeners, listener];
    let subscribed = true;
    const dispose = (): void => {
      if (!subscribed) return;
      subscribed = false;
      const index = this.#listeners.indexOf(listener);
      this.#listeners = this.#listeners.filter((_, i) => i !== index);
    };
    return { dispose, [Symbol.dispose]: dispose };
  };

  /**
   * Calls every listener with `payload`, then publishes it. A listener that throws does not disturb the call
   * that emitted; its error is rethrown asynchronously, as `EventTarget` and diagnostics channels do.
   */
  emit(payload: T): void {
    for (const listener of this.#listeners) callIsolated(listener, payload);
    if (this.#channel?.hasSubscribers) this.#channel.publish(payload);
  }
}

/** The name of the diagnostics channel of a policy's event: `breakwater:<policy>:<event>`. */
export function diagnosticsChannelName(policy: string, event: string): string {
  return `breakwater:${policy}:${event}`;
}
