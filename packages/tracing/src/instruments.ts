import type { Counter, Histogram, Meter } from '@opentelemetry/api';
import {
  durationBuckets,
  metricFallbacks,
  metricRejections,
  metricRequestDuration,
  metricRetries,
  metricStateChanges,
  metricTimeouts,
} from './attributes.js';

/** The metrics this package records, made once per `enableTracing`. */
export class Instruments {
  /** Per attempt, `'own'` client spans only: instrumentation-undici records it otherwise. */
  readonly duration: Histogram;
  readonly retries: Counter;
  readonly stateChanges: Counter;
  readonly rejections: Counter;
  readonly timeouts: Counter;
  readonly fallbacks: Counter;

  constructor(meter: Meter) {
    this.duration = meter.createHistogram(metricRequestDuration, {
      description: 'Duration of HTTP client requests: one per attempt, until its response headers.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...durationBuckets] },
    });
    this.retries = meter.createCounter(metricRetries, {
      description: 'Retries scheduled after a failed attempt.',
      unit: '{retry}',
    });
    this.stateChanges = meter.createCounter(metricStateChanges, {
      description: 'Circuit breaker state transitions.',
      unit: '{transition}',
    });
    this.rejections = meter.createCounter(metricRejections, {
      description: 'Calls rejected without running: open or isolated circuits, full bulkheads.',
      unit: '{call}',
    });
    this.timeouts = meter.createCounter(metricTimeouts, {
      description: 'Calls or attempts that ran out of time.',
      unit: '{timeout}',
    });
    this.fallbacks = meter.createCounter(metricFallbacks, {
      description: 'Failures answered by a fallback value or a cached response.',
      unit: '{fallback}',
    });
  }
}
