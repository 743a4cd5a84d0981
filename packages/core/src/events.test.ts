import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, expect, it, vi } from 'vitest';
import { diagnosticsChannelName, EventEmitter } from './events.js';

describe('EventEmitter', () => {
  it('is inactive and calls nothing while nobody listens', () => {
    const emitter = new EventEmitter<number>('breakwater:test:idle');
    expect(emitter.active).toBe(false);
    emitter.emit(1);
    expect(emitter.listenerCount).toBe(0);
  });

  it('calls listeners in order and stops calling a disposed one', () => {
    const emitter = new EventEmitter<string>();
    const seen: string[] = [];
    const first = emitter.event((value) => seen.push(`first ${value}`));
    emitter.event((value) => seen.push(`second ${value}`));
    expect(emitter.active).toBe(true);
    emitter.emit('a');
    first.dispose();
    first.dispose();
    emitter.emit('b');
    expect(seen).toEqual(['first a', 'second a', 'second b']);
    expect(emitter.listenerCount).toBe(1);
  });

  it('disposes with `using`, leaving no listener behind', () => {
    const emitter = new EventEmitter<number>();
    const seen: number[] = [];
    {
      using _subscription = emitter.event((value) => seen.push(value));
      emitter.emit(1);
    }
    emitter.emit(2);
    expect(seen).toEqual([1]);
    expect(emitter.listenerCount).toBe(0);
    expect(emitter.active).toBe(false);
  });

  it('removes only the disposed subscription when one listener is subscribed twice', () => {
    const emitter = new EventEmitter<number>();
    const listener = vi.fn();
    const a = emitter.event(listener);
    emitter.event(listener);
    a.dispose();
    emitter.emit(3);
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it('keeps emitting to the others when a listener throws, and reports the error asynchronously', () => {
    const emitter = new EventEmitter<number>();
    const after = vi.fn();
    const boom = new Error('listener bug');
    emitter.event(() => {
      throw boom;
    });
    emitter.event(after);
    const deferred: (() => void)[] = [];
    vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((callback) => deferred.push(callback));
    emitter.emit(1);
    expect(after).toHaveBeenCalledWith(1);
    expect(deferred).toHaveLength(1);
    expect(deferred[0]!).toThrow(boom);
  });

  it('publishes to its diagnostics channel when that has subscribers', () => {
    const name = diagnosticsChannelName('test', 'published');
    expect(name).toBe('breakwater:test:published');
    const emitter = new EventEmitter<{ n: number }>(name);
    const messages: unknown[] = [];
    const onMessage = (message: unknown): void => {
      messages.push(message);
    };
    subscribe(name, onMessage);
    expect(emitter.active).toBe(true);
    emitter.emit({ n: 1 });
    unsubscribe(name, onMessage);
    emitter.emit({ n: 2 });
    expect(messages).toEqual([{ n: 1 }]);
    expect(emitter.active).toBe(false);
  });

  it('rejects a listener that is not a function', () => {
    expect(() => new EventEmitter<number>().event('x' as never)).toThrow(TypeError);
  });
});
