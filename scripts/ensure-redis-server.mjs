// The Redis tests start a real redis-server. Where none is on PATH, this fetches Debian's build of it into
// .cache/redis-server (no root needed, nothing installed system-wide), so that the README's test command works
// on a fresh Debian or Ubuntu machine with only Node and npm. vitest.config.ts puts .cache/redis-server/bin on
// the tests' PATH. Elsewhere it only says how to install one; the Redis tests then fail with the same advice.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const home = fileURLToPath(new URL('../.cache/redis-server/', import.meta.url));
const wrapper = join(home, 'bin', 'redis-server');
// redis-tools holds the server binary; the server links these two libraries that a base system lacks.
const packages = ['redis-tools', 'libjemalloc2', 'liblzf1'];

const run = (command, args, options = {}) => spawnSync(command, args, { encoding: 'utf8', ...options });
const answers = (binary) => run(binary, ['--version']).status === 0;

if (answers('redis-server')) process.exit(0);
if (existsSync(wrapper) && answers(wrapper)) process.exit(0);

const advice =
  'install redis-server yourself (`apt-get install redis-server`, `brew install redis`); until then the Redis tests fail and say so';
if (!answers('apt-get') || !answers('dpkg-deb')) {
  console.warn(`ensure-redis-server: no redis-server on PATH and no apt-get to fetch one: ${advice}.`);
  process.exit(0);
}

console.log(`ensure-redis-server: no redis-server on PATH; fetching Debian's into ${home}`);
rmSync(home, { recursive: true, force: true });
const debs = join(home, 'debs');
mkdirSync(debs, { recursive: true });

// An unprivileged apt-get reads the system's package lists; where they are missing or stale, it keeps lists of
// its own under .cache.
const privateLists = [
  '-o',
  `Dir::State::Lists=${join(home, 'lists')}`,
  '-o',
  `Dir::Cache=${join(home, 'apt-cache')}`,
  '-o',
  'Debug::NoLocking=1',
];
let download = run('apt-get', ['download', ...packages], { cwd: debs });
if (download.status !== 0) {
  mkdirSync(join(home, 'lists', 'partial'), { recursive: true });
  mkdirSync(join(home, 'apt-cache', 'archives', 'partial'), { recursive: true });
  const update = run('apt-get', [...privateLists, 'update']);
  download =
    update.status === 0 ? run('apt-get', [...privateLists, 'download', ...packages], { cwd: debs }) : update;
}
if (download.status !== 0) {
  console.warn(
    `ensure-redis-server: apt-get could not fetch ${packages.join(', ')}:\n${download.stderr}\n${advice}.`,
  );
  process.exit(0);
}

const tree = join(home, 'root');
for (const deb of readdirSync(debs).filter((name) => name.endsWith('.deb'))) {
  const extract = run('dpkg-deb', ['-x', join(debs, deb), tree]);
  if (extract.status !== 0) throw new Error(`dpkg-deb -x ${deb} failed: ${extract.stderr}`);
}
// Redis picks its role from the name it runs under (Debian ships one binary as redis-check-rdb).
const server = join(home, 'real', 'redis-server');
mkdirSync(join(home, 'real'), { recursive: true });
mkdirSync(join(home, 'bin'), { recursive: true });
symlinkSync(join(tree, 'usr', 'bin', 'redis-check-rdb'), server);
const libraries = readdirSync(join(tree, 'usr', 'lib'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => join(tree, 'usr', 'lib', entry.name));
writeFileSync(
  wrapper,
  `#!/bin/sh\nLD_LIBRARY_PATH="${libraries.join(':')}\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "${server}" "$@"\n`,
);
chmodSync(wrapper, 0o755);
rmSync(debs, { recursive: true, force: true });
if (!answers(wrapper)) {
  console.warn(`ensure-redis-server: the fetched redis-server does not start: ${advice}.`);
  process.exit(0);
}
console.log(`ensure-redis-server: ${run(wrapper, ['--version']).stdout.trim()}`);
