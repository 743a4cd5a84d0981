/** How a suite is asked to run. */
export interface RunOptions {
  /** Rounds for the child-process timing suites; each round measures every case once, in rotated order. */
  readonly rounds: number;
  /** Shorter runs (fewer trials, shorter batches) for a quick look; the report says so. */
  readonly quick: boolean;
  /** Progress, to stderr. */
  readonly log: (line: string) => void;
}

/** What a suite produced. */
export interface SuiteReport {
  /** The report body in markdown (printed to the terminal too). */
  readonly markdown: string;
  /** Extra result files by name, e.g. an SVG chart, written next to the report. */
  readonly files?: Readonly<Record<string, string>>;
  /** Raw data, written to `results/<suite>.json` (not committed). */
  readonly data: unknown;
}

export interface Suite {
  readonly title: string;
  /** Whether the suite measures time in rounds (and so noise matters), rather than simulating deterministically. */
  readonly timed: boolean;
  run(options: RunOptions): Promise<SuiteReport>;
}
