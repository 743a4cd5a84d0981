import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';

const exec = promisify(execFile);
const root = new URL('../../../', import.meta.url).pathname;
const here = new URL('.', import.meta.url).pathname;

/**
 * Runs pnpm: the one running this test when there is one, else the pinned one through npx. pnpm 12 sometimes
 * fails to resolve its own platform packages on a busy registry (ERR_PNPM_BAD_CONFIG_DEP); that is retried.
 */
async function pnpm(args: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      try {
        await exec('pnpm', args, { cwd: root });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        await exec('npx', ['--yes', 'pnpm@12.21.0', ...args], { cwd: root });
      }
      return;
    } catch (error) {
      const output = `${(error as { stdout?: string }).stdout}${(error as { stderr?: string }).stderr}`;
      if (attempt === 4 || !output.includes('ERR_PNPM_BAD_CONFIG_DEP')) throw error;
    }
  }
}

async function publishedPackages(): Promise<string[]> {
  const names: string[] = [];
  for (const dir of await readdir(join(root, 'packages'))) {
    const manifest = JSON.parse(await readFile(join(root, 'packages', dir, 'package.json'), 'utf8')) as {
      private?: boolean;
    };
    if (!manifest.private) names.push(dir);
  }
  return names;
}

describe('the packages as npm users get them', () => {
  it('install from their packed tarballs with plain npm outside the workspace, and run the fetch-basic example', async () => {
    const packages = await publishedPackages();
    expect(packages).toEqual(expect.arrayContaining(['core', 'http', 'retry', 'tracing']));
    const dir = await mkdtemp(join(tmpdir(), 'breakwater-packed-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const tarballs = join(dir, 'tarballs');
    const app = join(dir, 'app');
    await mkdir(app, { recursive: true });

    // pnpm pack turns workspace: ranges into real versions; dist/ must be current (incremental, usually a no-op).
    await pnpm(['exec', 'tsc', '-b', ...packages.map((name) => `packages/${name}`)]);
    await pnpm([
      '--recursive',
      ...packages.flatMap((name) => ['--filter', `./packages/${name}`]),
      'pack',
      '--pack-destination',
      tarballs,
    ]);
    const packed = (await readdir(tarballs)).filter((file) => file.endsWith('.tgz'));
    expect(packed).toHaveLength(packages.length);
    for (const file of packed) {
      const { stdout } = await exec('tar', ['-xzOf', join(tarballs, file), 'package/package.json']);
      expect(stdout, file).not.toContain('workspace:');
    }

    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'packed-install-check', private: true, type: 'module' }),
    );
    // Third-party dependencies (lru-cache, @opentelemetry/api, ...) come from the npm registry.
    await exec(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--loglevel=error',
        ...packed.map((file) => join(tarballs, file)),
      ],
      { cwd: app, timeout: 90_000 },
    );
    for (const file of ['fetch-basic.ts', 'flaky-server.ts', 'main.ts']) {
      await copyFile(join(here, file), join(app, file));
    }

    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const node = (args: string[]) => exec(process.execPath, args, { cwd: app, env, timeout: 30_000 });
    // Every package's entry point loads from the installed tarball, not from the workspace.
    const { stdout: resolved } = await node([
      '--input-type=module',
      '--eval',
      `for (const name of ${JSON.stringify(packages)}) {
         const url = import.meta.resolve('@breakwater/' + name);
         await import(url);
         console.log(url);
       }`,
    ]);
    const urls = resolved.trim().split('\n');
    expect(urls).toHaveLength(packages.length);
    for (const url of urls)
      expect(url).toMatch(new RegExp(`^file://${app}/node_modules/@breakwater/[a-z-]+/dist/index\\.js$`));

    const { stdout } = await node(['main.ts']);
    const calls = stdout.split('\n').filter((line) => line.startsWith('GET '));
    expect(calls.map((line) => line.replace(/\s+\d+ ms$/, '').replace(/\s+/g, ' '))).toEqual([
      'GET /flaky -> 200 3 request(s) reached the server,',
      'GET /slow -> 200 2 request(s) reached the server,',
      'GET /down -> 503 3 request(s) reached the server,',
      'GET /down -> ERR_BREAKWATER_CIRCUIT_OPEN 2 request(s) reached the server,',
      'GET /down -> ERR_BREAKWATER_CIRCUIT_OPEN 0 request(s) reached the server,',
    ]);
  }, 120_000);
});
