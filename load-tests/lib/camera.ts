// The simulated camera most benchmarks measure with: 640x360 25 fps Constrained Baseline, 1 Mbps, GOP 1 s.
export function benchCamera<L extends string>(label: L) {
  return { profile: 'baseline', width: 640, height: 360, fps: 25, gop: 25, bitrateKbps: 1000, label } as const;
}
