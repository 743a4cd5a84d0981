// Until the order-service demo lands, the demo runs the overhead benchmark of the policies that exist.
import { execFileSync } from 'node:child_process';

execFileSync('pnpm', ['--filter', '@breakwater/benchmarks', 'bench', '--rounds', '1'], { stdio: 'inherit' });
