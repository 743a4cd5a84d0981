import { existsSync, readdirSync } from 'node:fs';
import { delimiter, resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const workspaceDirs = [
  ...['packages', 'examples'].flatMap((parent) =>
    readdirSync(parent, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => `${parent}/${entry.name}`),
  ),
  'benchmarks',
];

/** Where `scripts/ensure-redis-server.mjs` puts a redis-server fetched from Debian's packages, if it had to. */
const fetchedRedis = resolve('.cache/redis-server/bin');

export default defineConfig({
  resolve: { conditions: ['@breakwater/source'] },
  ssr: { resolve: { conditions: ['@breakwater/source', 'node'] } },
  test: {
    restoreMocks: true,
    env: existsSync(fetchedRedis) ? { PATH: `${fetchedRedis}${delimiter}${process.env.PATH}` } : {},
    projects: workspaceDirs.map((dir) => ({
      extends: true,
      test: { name: dir.split('/').at(-1)!, root: dir, include: ['src/**/*.test.ts', 'test/**/*.test.ts'] },
    })),
  },
});
