import { describe, expect, it } from 'vitest';
import { runOtelTracing } from './otel-tracing.ts';

const SPAN_KIND_INTERNAL = 0;
const SPAN_KIND_CLIENT = 2;

describe('the otel-tracing example', () => {
  it.each([
    ['own', '@breakwater/tracing'],
    ['undici', '@opentelemetry/instrumentation-undici'],
  ] as const)(
    'clientSpans %s: checkout > breakwater GET > three CLIENT spans, each on the wire',
    async (mode, scope) => {
      const lines: string[] = [];
      const { spans, traceparents, metrics } = await runOtelTracing(mode, (line) => lines.push(line));
      const checkout = spans.find((span) => span.name === 'checkout')!;
      const request = spans.find((span) => span.name === 'breakwater GET')!;
      const clients = spans
        .filter((span) => span.kind === SPAN_KIND_CLIENT)
        .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
      expect(spans).toHaveLength(5);
      expect(request.kind).toBe(SPAN_KIND_INTERNAL);
      expect(request.parentSpanContext?.spanId).toBe(checkout.spanContext().spanId);
      expect(clients.map((span) => span.parentSpanContext?.spanId)).toEqual(
        Array(3).fill(request.spanContext().spanId),
      );
      expect(clients.map((span) => span.instrumentationScope.name)).toEqual(Array(3).fill(scope));
      expect(clients.map((span) => span.attributes['http.response.status_code'])).toEqual([503, 503, 200]);
      expect(traceparents).toEqual(
        clients.map((span) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`),
      );
      for (const span of [request, ...clients]) {
        expect(span.attributes['url.full']).toMatch(/\/stock\/anchor\?sig=REDACTED$/);
      }
      expect(clients.map((span) => span.attributes['http.request.resend_count'])).toEqual([undefined, 1, 2]);
      expect(metrics.get(`http.client.request.duration (${scope})`)).toBe(3);
      expect(metrics.get('breakwater.retries (@breakwater/tracing)')).toBe(2);
      expect(lines.filter((line) => line.includes('· breakwater.retry '))).toHaveLength(2);
    },
    20_000,
  );
});
