import { runOtelTracing } from './otel-tracing.ts';

const mode = process.argv[2] === 'undici' ? 'undici' : 'own';
console.log(
  mode === 'own'
    ? 'CLIENT spans by @breakwater/tracing (run with "undici" to let instrumentation-undici make them):\n'
    : 'CLIENT spans by @opentelemetry/instrumentation-undici, nested under breakwater’s request span:\n',
);
await runOtelTracing(mode, (line) => console.log(line));
