import { readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

const workspaceDirs = [
  ...['packages', 'examples'].flatMap((parent) =>
    readdirSync(parent, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => `${parent}/${entry.name}`),
  ),
  'benchmarks',
];

export default defineConfig({
  resolve: { conditions: ['@breakwater/source'] },
  ssr: { resolve: { conditions: ['@breakwater/source', 'node'] } },
  test: {
    restoreMocks: true,
    projects: workspaceDirs.map((dir) => ({
      extends: true,
      test: { name: dir.split('/').at(-1)!, root: dir, include: ['src/**/*.test.ts', 'test/**/*.test.ts'] },
    })),
  },
});
