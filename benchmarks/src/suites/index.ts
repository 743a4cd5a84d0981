import { overhead } from './overhead.ts';

/** A benchmark case: an async factory of the call to measure, made once per process. */
export type CaseFactory = () => Promise<() => unknown> | (() => unknown);

export interface Suite {
  readonly title: string;
  /** The case every ratio is taken against, measured in the same round. */
  readonly baseline: string;
  readonly cases: Readonly<Record<string, CaseFactory>>;
}

export const suites: Readonly<Record<string, Suite>> = { overhead };
