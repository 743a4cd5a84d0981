import { execFile } from 'node:child_process';

/** Runs a script in a fresh Node process and parses the JSON on the last line of its stdout. */
export function runChild<T>(
  script: string,
  args: readonly string[],
  nodeFlags: readonly string[] = [],
): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...nodeFlags, script, ...args],
      { encoding: 'utf8', maxBuffer: 16 * 2 ** 20 },
      (error, stdout, stderr) => {
        if (error !== null) {
          // The error itself, without the stack and Node's version footer.
          const detail = stderr
            .split('\n')
            .filter((line) => line.trim() !== '' && !/^\s+at /.test(line) && !line.startsWith('Node.js v'))
            .slice(-4)
            .join(' ');
          reject(new Error(`${args.join(' ')}: ${detail || error.message}`));
          return;
        }
        try {
          resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as T);
        } catch (parseError) {
          reject(new Error(`${args.join(' ')}: no JSON result (${String(parseError)})`));
        }
      },
    );
  });
}

/** Every case's sample per round (absent when it failed), and the first error of each failed case. */
export interface RoundResults<S> {
  readonly rounds: ReadonlyMap<string, S>[];
  readonly errors: ReadonlyMap<string, string>;
}

/**
 * Measures every case once per round, in an order rotated by one each round, so that no case always runs
 * first or last. A case that fails is reported with its error and not retried in later rounds.
 */
export async function runRounds<S>(
  caseNames: readonly string[],
  rounds: number,
  measure: (caseName: string) => Promise<S>,
  log: (line: string) => void,
): Promise<RoundResults<S>> {
  const results: Map<string, S>[] = [];
  const errors = new Map<string, string>();
  for (let round = 0; round < rounds; round++) {
    const inRound = new Map<string, S>();
    for (let i = 0; i < caseNames.length; i++) {
      const name = caseNames[(i + round) % caseNames.length]!;
      if (errors.has(name)) continue;
      log(`  round ${round + 1}/${rounds}, case ${i + 1}/${caseNames.length}: ${name}`);
      try {
        inRound.set(name, await measure(name));
      } catch (error) {
        errors.set(name, error instanceof Error ? error.message : String(error));
        log(`  FAILED ${name}: ${errors.get(name)}`);
      }
    }
    results.push(inRound);
  }
  return { rounds: results, errors };
}

/** A metric of one case over the rounds it completed. */
export function metric<S>(results: RoundResults<S>, name: string, pick: (sample: S) => number): number[] {
  return results.rounds.flatMap((round) => {
    const sample = round.get(name);
    return sample === undefined ? [] : [pick(sample)];
  });
}

/** `pick(a) / pick(b)` for every round in which both cases completed: the comparison that noise affects least. */
export function sameRoundRatios<S>(
  results: RoundResults<S>,
  a: string,
  b: string,
  pick: (sample: S) => number,
): number[] {
  return results.rounds.flatMap((round) => {
    const x = round.get(a);
    const y = round.get(b);
    return x === undefined || y === undefined ? [] : [pick(x) / pick(y)];
  });
}
