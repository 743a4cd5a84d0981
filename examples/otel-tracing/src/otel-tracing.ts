import { resilientFetch } from '@breakwater/http';
import { type ClientSpans, enableTracing, undiciRequestHook } from '@breakwater/tracing';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { startInventory } from './inventory.ts';
import { spanTree } from './span-tree.ts';

export interface OtelTracingResult {
  readonly spans: readonly ReadableSpan[];
  /** The `traceparent` each request reaching the inventory carried. */
  readonly traceparents: readonly (string | undefined)[];
  /** Metric name to the sum of its data points (histograms: their count). */
  readonly metrics: ReadonlyMap<string, number>;
}

/**
 * Starts the OpenTelemetry Node SDK, enables breakwater tracing, makes one request that succeeds on its
 * third attempt inside a `checkout` span, and prints the span tree and the metrics.
 *
 * @param clientSpans `'own'`: breakwater makes the CLIENT spans; `'undici'`: instrumentation-undici does.
 */
export async function runOtelTracing(
  clientSpans: ClientSpans,
  print: (line: string) => void = () => {},
): Promise<OtelTracingResult> {
  const inventory = await startInventory();
  // In a service these would be a BatchSpanProcessor with an OTLP exporter and a periodic OTLP reader.
  const spanExporter = new InMemorySpanExporter();
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const metricReader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: 60_000,
  });
  const sdk = new NodeSDK({
    serviceName: 'checkout',
    autoDetectResources: false,
    spanProcessors: [new SimpleSpanProcessor({ exporter: spanExporter })],
    metricReaders: [metricReader],
    logRecordProcessors: [],
    // undiciRequestHook adds http.request.resend_count and redacts url.full on undici's spans.
    instrumentations:
      clientSpans === 'undici' ? [new UndiciInstrumentation({ requestHook: undiciRequestHook })] : [],
  });
  sdk.start();
  // After sdk.start(): the meter provider is read now (the global one has no proxy).
  const tracing = enableTracing({ clientSpans });
  try {
    const fetch = resilientFetch({ retry: { maxAttempts: 3, backoff: 50 } });
    await trace.getTracer('checkout').startActiveSpan('checkout', async (span) => {
      try {
        const response = await fetch(`${inventory.origin}/stock/anchor?sig=presigned-secret`);
        print(`GET /stock/anchor -> ${response.status} ${await response.text()}\n`);
      } finally {
        span.end();
      }
    });
    const spans = spanExporter.getFinishedSpans();
    for (const line of spanTree(spans)) print(line);
    print('\ntraceparent received by the inventory service, per request:');
    for (const header of inventory.traceparents) print(`  ${header ?? '(none)'}`);

    await metricReader.forceFlush();
    const totals = new Map<string, number>();
    for (const resourceMetrics of metricExporter.getMetrics()) {
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          let total = 0;
          for (const point of metric.dataPoints) {
            const value = point.value as number | { count: number };
            total += typeof value === 'number' ? value : value.count;
          }
          totals.set(`${metric.descriptor.name} (${scope.scope.name})`, total);
        }
      }
    }
    print('\nmetrics (histograms: number of values recorded):');
    for (const [name, total] of totals) print(`  ${name}: ${total}`);
    return { spans, traceparents: inventory.traceparents, metrics: totals };
  } finally {
    tracing.dispose();
    await sdk.shutdown();
    // The SDK stays registered with the API after shutdown; unregister it so that this can run again.
    trace.disable();
    context.disable();
    propagation.disable();
    metrics.disable();
    await inventory.close();
  }
}
