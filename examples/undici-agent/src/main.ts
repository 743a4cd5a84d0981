import { runUndiciAgent } from './undici-agent.ts';

await runUndiciAgent((line) => console.log(line));
