import type { Suite } from '../suite.ts';
import { http } from './http.ts';
import { jitter } from './jitter.ts';
import { memory } from './memory.ts';
import { overhead } from './overhead.ts';
import { retryStorm } from './retry-storm.ts';

/** Every suite, in the order `pnpm bench` runs them. */
export const suites: Readonly<Record<string, Suite>> = {
  overhead,
  http,
  jitter,
  'retry-storm': retryStorm,
  memory,
};
