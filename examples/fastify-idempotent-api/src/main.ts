import { runFastifyIdempotentApi } from './fastify-idempotent-api.ts';

await runFastifyIdempotentApi((line) => console.log(line));
