// The counters fed from a running total stay monotonic when the source starts again from 0 (a new
// Producer after a worker died), and a variant that goes away takes its series with it.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createMetrics, type MetricsSources } from './metrics.js';

function variant(id: string) {
  return Object.assign(new EventEmitter(), {
    opts: { streamId: id, variant: 'main' },
    viewers: 0,
    ingestStats: { bitrateBps: 800_000, packetsLost: 0, jitterSec: 0, packetCount: 0 },
    liveSince: 0,
    consumers: new Set(),
    state: 'live',
    health: { state: 'up', since: 0, lastContactAt: 0 },
  });
}

function sources(variants: ReturnType<typeof variant>[]): MetricsSources {
  const streams = { variants: () => variants, observer: new EventEmitter() };
  const pool = Object.assign(new EventEmitter(), { workers: [] });
  return {
    pool,
    streams,
    capacity: { used: () => 0, egressBps: () => 1_600_000 },
    rejectedCameras: 0,
    signaling: new EventEmitter(),
    viewing: new EventEmitter(),
    http: new EventEmitter(),
    connections: () => 0,
    eventLoopPrecisionMs: 10,
  } as unknown as MetricsSources;
}

const value = async (registry: ReturnType<typeof createMetrics>, name: string, stream: string) =>
  (await registry.getSingleMetric(name)?.get())?.values.find((v) => v.labels['stream'] === stream)?.value;

describe('createMetrics', () => {
  it('counts lost packets across a new Producer without going back', async () => {
    const a = variant('cam-a');
    const list = [a];
    const registry = createMetrics(sources(list));
    const lost = () => value(registry, 'cctv_stream_ingest_packets_lost_total', 'cam-a');
    expect(await lost()).toBe(0);
    a.ingestStats.packetsLost = 40;
    expect(await lost()).toBe(40);
    a.ingestStats.packetsLost = 55;
    expect(await lost()).toBe(55);
    a.ingestStats.packetsLost = 3; // a new Producer counts from 0
    expect(await lost()).toBe(58);
    list.length = 0; // the camera left the config
    expect(await lost()).toBeUndefined();
  });

  it('reports rates in bytes per second', async () => {
    const registry = createMetrics(sources([variant('cam-b')]));
    expect(await value(registry, 'cctv_stream_ingest_bytes_per_second', 'cam-b')).toBe(100_000);
    expect((await registry.getSingleMetric('cctv_egress_estimate_bytes_per_second')?.get())?.values[0]?.value).toBe(
      200_000,
    );
  });
});
