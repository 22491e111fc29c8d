// Prometheus metrics on a registry the gateway owns, collected at scrape time from the live objects.
// Labels carry stream ids, variants and worker indexes only: never a user, token or URL.
import type { EventEmitter } from 'node:events';
import { Counter, Gauge, Registry } from 'prom-client';
import type { SignalingObserverEvents } from '../../../signaling/src/ViewerSession.js';
import type { WorkerPool } from '../media/WorkerPool.js';
import type { StreamRegistry } from '../streams/StreamRegistry.js';

export interface MetricsSources {
  pool: WorkerPool;
  streams: StreamRegistry;
  signaling: EventEmitter<SignalingObserverEvents>;
  connections: () => number;
}

const STATES = ['idle', 'starting', 'live', 'stalled', 'error'] as const;

export function createMetrics(src: MetricsSources): Registry {
  const registry = new Registry();
  const variants = () => src.streams.variants();

  new Gauge({
    name: 'cctv_stream_viewers',
    help: 'Viewers holding a stream variant',
    labelNames: ['stream', 'variant'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of variants()) this.set({ stream: v.opts.streamId, variant: v.opts.variant }, v.viewers);
    },
  });
  new Gauge({
    name: 'cctv_stream_state',
    help: 'Ingest state of a stream variant (1 for the current state)',
    labelNames: ['stream', 'variant', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of variants())
        for (const s of STATES)
          this.set({ stream: v.opts.streamId, variant: v.opts.variant, state: s }, v.state === s ? 1 : 0);
    },
  });
  const restarts = new Counter({
    name: 'cctv_ingest_restarts_total',
    help: 'FFmpeg restarts by reason',
    labelNames: ['stream', 'variant', 'reason'],
    registers: [registry],
  });
  for (const v of variants())
    v.on('restart', (reason) => restarts.inc({ stream: v.opts.streamId, variant: v.opts.variant, reason }));
  new Gauge({
    name: 'cctv_worker_consumers',
    help: 'Consumers on a mediasoup worker',
    labelNames: ['worker'],
    registers: [registry],
    collect() {
      for (const w of src.pool.workers) this.set({ worker: String(w.index) }, w.consumers);
    },
  });
  new Gauge({
    name: 'cctv_signaling_connections',
    help: 'Open signaling WebSocket connections',
    registers: [registry],
    collect() {
      this.set(src.connections());
    },
  });
  const authFailures = new Counter({
    name: 'cctv_auth_failures_total',
    help: 'Rejected tokens by reason (missing, expired, bad_signature, ...)',
    labelNames: ['reason'],
    registers: [registry],
  });
  src.signaling.on('authFailure', (reason) => authFailures.inc({ reason }));
  const rejected = new Counter({
    name: 'cctv_signaling_rejected_total',
    help: 'Refused signaling messages and connections by error code',
    labelNames: ['code'],
    registers: [registry],
  });
  src.signaling.on('rejected', (code) => rejected.inc({ code }));
  const views = new Counter({
    name: 'cctv_view_sessions_total',
    help: 'Ended view sessions (one audit record each) by end reason',
    labelNames: ['stream', 'variant', 'reason'],
    registers: [registry],
  });
  const viewSeconds = new Counter({
    name: 'cctv_view_seconds_total',
    help: 'Seconds watched, summed over ended view sessions',
    labelNames: ['stream', 'variant'],
    registers: [registry],
  });
  src.signaling.on('viewEnded', (r) => {
    views.inc({ stream: r.stream, variant: r.variant, reason: r.endReason });
    viewSeconds.inc({ stream: r.stream, variant: r.variant }, r.durationMs / 1000);
  });
  return registry;
}
