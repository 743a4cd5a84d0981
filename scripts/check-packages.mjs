// Package checks for every published workspace package: publint (manifest and files) and
// are-the-types-wrong (types resolve for ESM and CJS consumers). Runs against the built dist/.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const bin = (name) => join(root, 'node_modules', '.bin', name);
const packages = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name))
  .filter((dir) => !JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).private);

/** Runs a check; returns its output if it fails. */
function run(tool, args, dir) {
  try {
    execFileSync(bin(tool), args, { cwd: dir, stdio: 'pipe', encoding: 'utf8' });
    return undefined;
  } catch (error) {
    return `${error.stdout ?? ''}${error.stderr ?? ''}`;
  }
}

let failed = 0;
for (const dir of packages) {
  const name = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name;
  for (const [tool, args] of [
    ['publint', ['--strict']],
    // ESM-only by design: CommonJS consumers load us through require(esm), which attw's node16-cjs mode
    // cannot model, so that one resolution mode is not checked.
    ['attw', ['--pack', '.', '--profile', 'esm-only', '--format', 'table-flipped']],
  ]) {
    const error = run(tool, args, dir);
    if (error === undefined) {
      console.log(`ok    ${tool} ${name}`);
    } else {
      failed++;
      console.error(`FAIL  ${tool} ${name}\n${error}`);
    }
  }
}
console.log(`package checks: ${packages.length * 2 - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
