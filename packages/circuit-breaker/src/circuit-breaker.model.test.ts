import { BrokenCircuitError, IsolatedCircuitError } from '@breakwater/core';
import { virtualClock } from '@breakwater/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Breaker } from './breaker.js';
import { circuitBreaker } from './circuit-breaker.js';
import { consecutiveFailures } from './consecutive-failures.js';
import { failureRate } from './failure-rate.js';
import type { CircuitState } from './snapshot.js';

/**
 * A reference model of the circuit breaker, written as plainly as possible (lists and loops, no ring buffer,
 * no generations): the property below drives it and the real breaker with the same random commands and
 * requires them to agree on every admission, rejection, `retryAfterMs` and state transition.
 */
type BreakerConfig =
  | { readonly kind: 'consecutive'; readonly threshold: number }
  | {
      readonly kind: 'rate';
      readonly threshold: number;
      readonly minThroughput: number;
      readonly slowCallRate: number;
    };

const windowMs = 200;
const bucketMs = windowMs / 10;
const slowCallMs = 50;

interface ModelCall {
  readonly start: number;
  /** The period (between two transitions) it was admitted in, or undefined when it was rejected. */
  readonly period: number | undefined;
  readonly probe: boolean;
  /** A probe whose caller aborted has given its slot back and has no say any more. */
  done: boolean;
}

type Admission = 'admitted' | `open ${number}` | 'half-open full' | 'isolated';

class Model {
  state: CircuitState = 'closed';
  period = 0;
  openUntil = 0;
  breaks = 0;
  probesLeft = 0;
  probeSuccesses = 0;
  handles = 0;
  handleEpoch = 0;
  consecutive = 0;
  windowOrigin = 0;
  window: { index: number; failed: boolean; slow: boolean }[] = [];
  readonly transitions: string[] = [];

  readonly config: BreakerConfig;
  readonly probes: number;
  readonly breakMs: (attempt: number) => number;

  constructor(config: BreakerConfig, probes: number, breakMs: (attempt: number) => number) {
    this.config = config;
    this.probes = probes;
    this.breakMs = breakMs;
  }

  observe(now: number): CircuitState {
    if (this.state === 'open' && now >= this.openUntil) {
      this.moveTo('half-open');
      this.probesLeft = this.probes;
      this.probeSuccesses = 0;
    }
    return this.state;
  }

  start(now: number): { admission: Admission; call: ModelCall } {
    const state = this.observe(now);
    const admitted = (probe: boolean): { admission: Admission; call: ModelCall } => ({
      admission: 'admitted',
      call: { start: now, period: this.period, probe, done: false },
    });
    const rejected = (admission: Admission) => ({
      admission,
      call: { start: now, period: undefined, probe: false, done: true },
    });
    if (state === 'closed') return admitted(false);
    if (state === 'isolated') return rejected('isolated');
    if (state === 'open') return rejected(`open ${this.openUntil - now}`);
    if (this.probesLeft === 0) return rejected('half-open full');
    this.probesLeft--;
    return admitted(true);
  }

  /** `outcome`: 'ok', 'fail', 'declined' (an error shouldHandle does not count) or 'caller-abort'. */
  settle(call: ModelCall, outcome: 'ok' | 'fail' | 'declined' | 'caller-abort', now: number): void {
    if (call.done || call.period !== this.period) return;
    call.done = true;
    if (outcome === 'caller-abort') {
      if (call.probe) this.probesLeft++;
      return;
    }
    const failed = outcome === 'fail';
    if (call.probe) {
      if (failed) this.open(now);
      else if (++this.probeSuccesses === this.probes) this.close(now);
      return;
    }
    if (this.record(failed, now - call.start >= slowCallMs, now)) this.open(now);
  }

  /** The caller aborted: a probe gives its slot back at once; other calls wait for their operation. */
  abort(call: ModelCall): void {
    if (call.probe) this.settle(call, 'caller-abort', 0);
  }

  record(failed: boolean, slow: boolean, now: number): boolean {
    const config = this.config;
    if (config.kind === 'consecutive') {
      this.consecutive = failed ? this.consecutive + 1 : 0;
      return this.consecutive >= config.threshold;
    }
    const index = Math.floor((now - this.windowOrigin) / bucketMs);
    this.window = this.window.filter((entry) => index - entry.index < 10);
    this.window.push({ index, failed, slow });
    if (!failed && !slow) return false;
    const calls = this.window.length;
    const failures = this.window.filter((entry) => entry.failed).length;
    const slowCalls = this.window.filter((entry) => entry.slow).length;
    return (
      calls >= config.minThroughput &&
      (failures / calls >= config.threshold || slowCalls / calls >= config.slowCallRate)
    );
  }

  open(now: number): void {
    this.breaks++;
    this.openUntil = now + this.breakMs(this.breaks);
    this.moveTo('open');
  }

  close(now: number): void {
    this.breaks = 0;
    this.consecutive = 0;
    this.window = [];
    this.windowOrigin = now;
    this.moveTo('closed');
  }

  isolate(): number {
    if (this.state !== 'isolated') {
      this.breaks = 0;
      this.handles = 0;
      this.moveTo('isolated');
    }
    this.handles++;
    return this.handleEpoch;
  }

  dispose(epoch: number, now: number): void {
    if (epoch === this.handleEpoch && --this.handles === 0) this.close(now);
  }

  reset(now: number): void {
    this.handleEpoch++;
    this.handles = 0;
    this.close(now);
  }

  moveTo(state: CircuitState): void {
    if (state !== this.state) this.transitions.push(`${this.state}->${state}`);
    this.state = state;
    this.period++;
  }
}

type Command =
  | { readonly type: 'call'; readonly withSignal: boolean }
  | {
      readonly type: 'settle';
      readonly pick: number;
      readonly outcome: 'ok' | 'fail' | 'declined' | 'caller-abort';
    }
  | { readonly type: 'abort'; readonly pick: number }
  | { readonly type: 'advance'; readonly ms: number }
  | { readonly type: 'read' }
  | { readonly type: 'isolate' }
  | { readonly type: 'dispose'; readonly pick: number }
  | { readonly type: 'reset' };

const commands: fc.Arbitrary<Command[]> = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ type: fc.constant('call' as const), withSignal: fc.boolean() }) },
    {
      weight: 6,
      arbitrary: fc.record({
        type: fc.constant('settle' as const),
        pick: fc.nat(),
        outcome: fc.constantFrom(
          'ok' as const,
          'fail' as const,
          'declined' as const,
          'caller-abort' as const,
        ),
      }),
    },
    { weight: 2, arbitrary: fc.record({ type: fc.constant('abort' as const), pick: fc.nat() }) },
    {
      weight: 4,
      arbitrary: fc.record({
        type: fc.constant('advance' as const),
        // Round steps land calls exactly on bucket and break boundaries, where off-by-one mistakes live.
        ms: fc.oneof(fc.integer({ min: 0, max: 250 }), fc.constantFrom(20, 40, 100, 150, 200)),
      }),
    },
    { weight: 2, arbitrary: fc.constant({ type: 'read' as const }) },
    { weight: 1, arbitrary: fc.constant({ type: 'isolate' as const }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('dispose' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.constant({ type: 'reset' as const }) },
  ),
  { minLength: 20, maxLength: 150, size: 'max' },
);

const breakerConfig: fc.Arbitrary<BreakerConfig> = fc.oneof(
  fc.record({ kind: fc.constant('consecutive' as const), threshold: fc.integer({ min: 1, max: 4 }) }),
  fc.record({
    kind: fc.constant('rate' as const),
    threshold: fc.constantFrom(0.25, 0.3, 0.5, 1),
    minThroughput: fc.integer({ min: 1, max: 6 }),
    slowCallRate: fc.constantFrom(0.3, 0.5, 1),
  }),
);

function makeBreaker(config: BreakerConfig): Breaker {
  return config.kind === 'consecutive'
    ? consecutiveFailures(config.threshold)
    : failureRate({
        threshold: config.threshold,
        windowMs,
        minThroughput: config.minThroughput,
        slowCallMs,
        slowCallRate: config.slowCallRate,
      });
}

describe('circuitBreaker against a reference model', () => {
  it('agrees with the model on every admission, rejection, retryAfterMs and transition', async () => {
    await fc.assert(
      fc.asyncProperty(
        breakerConfig,
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        commands,
        async (config, probes, growingBreaks, script) => {
          const clock = virtualClock();
          const breakMs = (attempt: number): number => (growingBreaks ? 100 * attempt : 150);
          const model = new Model(config, probes, breakMs);
          const policy = circuitBreaker({
            breaker: makeBreaker(config),
            breakMs: growingBreaks ? { next: ({ attempt }) => breakMs(attempt) } : 150,
            halfOpenProbes: probes,
            shouldHandle: ({ error }) => !(error instanceof RangeError),
            clock,
          });
          const transitions: string[] = [];
          policy.onStateChange(({ from, to }) => transitions.push(`${from}->${to}`));

          interface Running {
            readonly model: ModelCall;
            readonly controller: AbortController | undefined;
            readonly resolve: (value: string) => void;
            readonly reject: (error: unknown) => void;
          }
          const running: Running[] = [];
          const withSignal: { model: ModelCall; controller: AbortController }[] = [];
          const handles: { epoch: number; dispose: () => void }[] = [];

          for (const command of script) {
            const now = clock.now();
            switch (command.type) {
              case 'call': {
                const controller = command.withSignal ? new AbortController() : undefined;
                const { admission, call } = model.start(now);
                let resolve!: (value: string) => void;
                let reject!: (error: unknown) => void;
                let started = false;
                const result = policy.execute(() => {
                  started = true;
                  return new Promise<string>((res, rej) => {
                    resolve = res;
                    reject = rej;
                  });
                }, controller && { signal: controller.signal });
                expect(started).toBe(admission === 'admitted');
                if (started) running.push({ model: call, controller, resolve, reject });
                if (controller) withSignal.push({ model: call, controller });
                if (admission === 'admitted') {
                  result.catch(() => undefined);
                } else {
                  await result.then(
                    () => expect.unreachable('a rejected call resolved'),
                    (error: unknown) => {
                      if (admission === 'isolated') expect(error).toBeInstanceOf(IsolatedCircuitError);
                      else {
                        expect(error).toBeInstanceOf(BrokenCircuitError);
                        expect((error as BrokenCircuitError).retryAfterMs).toBe(
                          admission === 'half-open full' ? 0 : Number(admission.slice(5)),
                        );
                      }
                    },
                  );
                }
                break;
              }
              case 'settle': {
                if (running.length === 0) break;
                const [call] = running.splice(command.pick % running.length, 1);
                const { model: modelCall, controller } = call!;
                let outcome = command.outcome;
                if (outcome === 'caller-abort') {
                  // Only an aborted caller's reason is "the caller's own abort"; otherwise it is a plain failure.
                  if (controller?.signal.aborted) call!.reject(controller.signal.reason);
                  else {
                    outcome = 'fail';
                    call!.reject(new Error('failed'));
                  }
                } else if (outcome === 'ok') call!.resolve('ok');
                else call!.reject(outcome === 'fail' ? new Error('failed') : new RangeError('declined'));
                model.settle(modelCall, outcome, now);
                await clock.flush();
                break;
              }
              case 'abort': {
                if (withSignal.length === 0) break;
                const { model: modelCall, controller } = withSignal[command.pick % withSignal.length]!;
                if (!controller.signal.aborted) {
                  controller.abort(new Error('caller gave up'));
                  model.abort(modelCall);
                }
                await clock.flush();
                break;
              }
              case 'advance':
                await clock.advance(command.ms);
                break;
              case 'read':
                expect(policy.state).toBe(model.observe(now));
                break;
              case 'isolate': {
                const epoch = model.isolate();
                const handle = policy.isolate();
                handles.push({ epoch, dispose: () => handle.dispose() });
                break;
              }
              case 'dispose': {
                if (handles.length === 0) break;
                const [handle] = handles.splice(command.pick % handles.length, 1);
                handle!.dispose();
                model.dispose(handle!.epoch, now);
                break;
              }
              case 'reset':
                policy.reset();
                model.reset(now);
                break;
            }
            expect(transitions).toEqual(model.transitions);
          }
          expect(policy.state).toBe(model.observe(clock.now()));
          expect(transitions).toEqual(model.transitions);
        },
      ),
      { numRuns: 400 },
    );
  });
});
