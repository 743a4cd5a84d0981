/** Outcomes of the load driver's calls to one order service. */
export class Stats {
  readonly latenciesMs: number[] = [];
  ok = 0;
  failed = 0;
  #windowOk = 0;
  #windowTotal = 0;
  #windowLatencies: number[] = [];

  record(ok: boolean, latencyMs: number): void {
    this.latenciesMs.push(latencyMs);
    this.#windowLatencies.push(latencyMs);
    this.#windowTotal++;
    if (ok) {
      this.ok++;
      this.#windowOk++;
    } else this.failed++;
  }

  get total(): number {
    return this.ok + this.failed;
  }

  /** The success rate and p99 since the last call, for the live view. */
  takeWindow(): { successRate: number; p99Ms: number; calls: number } {
    const window = {
      successRate: this.#windowTotal === 0 ? 1 : this.#windowOk / this.#windowTotal,
      p99Ms: percentile(this.#windowLatencies, 0.99),
      calls: this.#windowTotal,
    };
    this.#windowOk = 0;
    this.#windowTotal = 0;
    this.#windowLatencies = [];
    return window;
  }
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}
