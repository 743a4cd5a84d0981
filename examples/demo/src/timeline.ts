/** The inventory service's scripted bad day, as fractions of the demo's length. */
export interface Phase {
  readonly name: string;
  /** Fraction of the run at which the phase starts. */
  readonly from: number;
  /** What a request meets in this phase: a share of slow responses, of 503s, or a hang. */
  readonly slowShare: number;
  readonly errorShare: number;
  readonly hang: boolean;
}

export const phases: readonly Phase[] = [
  { name: 'healthy', from: 0, slowShare: 0, errorShare: 0, hang: false },
  { name: 'latency spikes', from: 0.2, slowShare: 0.3, errorShare: 0, hang: false },
  { name: '503 bursts', from: 0.4, slowShare: 0, errorShare: 0.6, hang: false },
  { name: 'full outage', from: 0.55, slowShare: 0, errorShare: 0, hang: true },
  { name: 'recovered', from: 0.75, slowShare: 0, errorShare: 0, hang: false },
];

export function phaseAt(fraction: number): Phase {
  let current = phases[0]!;
  for (const phase of phases) if (fraction >= phase.from) current = phase;
  return current;
}
