// Snapshot metrics, beside the service they describe: registered on the gateway's registry.
import type { EventEmitter } from 'node:events';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { SnapshotObserverEvents } from './SnapshotService.js';

export function registerSnapshotMetrics(
  registry: Registry,
  observer: EventEmitter<SnapshotObserverEvents>,
  decoding: () => number,
): void {
  const served = new Counter({
    name: 'cctv_snapshots_total',
    help: 'Snapshot requests answered, by result (ok, or the error code) and whether a decode was shared or cached',
    labelNames: ['stream', 'variant', 'result', 'cache'],
    registers: [registry],
  });
  observer.on('served', (stream, variant, cached) =>
    served.inc({ stream, variant, result: 'ok', cache: cached ? 'hit' : 'miss' }),
  );
  observer.on('refused', (stream, variant, code) => served.inc({ stream, variant, result: code, cache: 'none' }));
  const decode = new Histogram({
    name: 'cctv_snapshot_decode_seconds',
    help: 'Time FFmpeg took to decode a cached GOP up to its newest frame and encode the JPEG',
    labelNames: ['variant'],
    buckets: [0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2],
    registers: [registry],
  });
  const frames = new Histogram({
    name: 'cctv_snapshot_decoded_frames',
    help: 'Frames decoded for one snapshot (the keyframe and every frame after it)',
    buckets: [1, 5, 10, 25, 50, 100, 250, 500],
    registers: [registry],
  });
  observer.on('decoded', (_stream, variant, seconds, n) => {
    decode.observe({ variant }, seconds);
    frames.observe(n);
  });
  new Gauge({
    name: 'cctv_snapshot_decodes_running',
    help: 'Snapshot decodes running now',
    registers: [registry],
    collect() {
      this.set(decoding());
    },
  });
}
