import { runDemo } from './demo.ts';

const seconds = Number(process.argv[2] ?? 20);
console.log(
  `An order service calls a flaky inventory service for ${seconds} s: healthy, latency spikes, 503 bursts, a full outage, recovery.\n` +
    'The same open-loop traffic (40 orders/s each, users give up after 3 s) goes to two copies of the order service:\n' +
    'one calls the inventory with plain fetch, the other with breakwater. Everything runs on 127.0.0.1.\n',
);
await runDemo({ durationMs: seconds * 1000, print: (line) => console.log(line) });
