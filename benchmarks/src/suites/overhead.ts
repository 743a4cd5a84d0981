import { type Policy, pipeline } from '@breakwater/core';
import type { Suite } from './index.ts';

const noop = async (): Promise<number> => 1;

/** A policy that only passes the call through: the cost of composition itself. */
const passThrough = (): Policy => pipeline();

export const overhead: Suite = {
  title: 'Per-call overhead on a succeeding async no-op (sequential calls)',
  baseline: 'bare async call',
  cases: {
    'bare async call': () => noop,
    'pipeline()': () => {
      const p = pipeline();
      return () => p.execute(noop);
    },
    'pipeline() + signal': () => {
      const p = pipeline();
      const options = { signal: new AbortController().signal };
      return () => p.execute(noop, options);
    },
    'pipeline(3 pass-through)': () => {
      const p = pipeline(passThrough(), passThrough(), passThrough());
      return () => p.execute(noop);
    },
  },
};
