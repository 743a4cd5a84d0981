import type { ReadableSpan } from '@opentelemetry/sdk-trace';

const kinds = ['INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const shown = [
  'http.response.status_code',
  'http.request.resend_count',
  'error.type',
  'url.full',
  'breakwater.http.attempts',
];

/** The spans as an indented tree, parents first, siblings by start time, with the interesting attributes. */
export function spanTree(spans: readonly ReadableSpan[]): string[] {
  const ids = new Set(spans.map((span) => span.spanContext().spanId));
  const children = new Map<string | undefined, ReadableSpan[]>();
  for (const span of spans) {
    const parent = span.parentSpanContext?.spanId;
    const key = parent !== undefined && ids.has(parent) ? parent : undefined;
    children.set(key, [...(children.get(key) ?? []), span]);
  }
  const lines: string[] = [];
  const walk = (parent: string | undefined, prefix: string): void => {
    const list = (children.get(parent) ?? []).sort(
      (a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1],
    );
    list.forEach((span, i) => {
      const last = i === list.length - 1;
      const branch = parent === undefined ? '' : last ? '└─ ' : '├─ ';
      const ms = (span.duration[0] * 1e3 + span.duration[1] / 1e6).toFixed(1);
      const attributes = shown
        .filter((key) => span.attributes[key] !== undefined)
        .map((key) => `${key}=${String(span.attributes[key])}`)
        .join(' ');
      lines.push(
        `${prefix}${branch}${span.name} [${kinds[span.kind]}, ${ms} ms, span ${span.spanContext().spanId}] ${attributes}`,
      );
      const inner = prefix + (parent === undefined ? '' : last ? '   ' : '│  ');
      for (const event of span.events) {
        const detail = Object.entries(event.attributes ?? {})
          .map(([key, value]) => `${key}=${String(value)}`)
          .join(' ');
        lines.push(`${inner}   · ${event.name} ${detail}`);
      }
      walk(span.spanContext().spanId, inner);
    });
  };
  walk(undefined, '');
  return lines;
}
