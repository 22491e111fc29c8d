// Prometheus metrics on a registry the gateway owns, collected at scrape time from the live objects.
// The media code never imports prom-client: metrics read state and subscribe to observers.
// Labels carry stream ids, variants, worker indexes and reasons only: never a user, token or URL.
// Names follow Prometheus (promtool check metrics): base units (seconds, bytes), counters end in _total.
import type { EventEmitter } from 'node:events';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SignalingObserverEvents } from '../../../signaling/src/SignalingServer.js';
import type { AuditLogEvents } from '../audit/AuditLog.js';
import type { WorkerPool } from '../media/WorkerPool.js';
import type { StreamRegistry } from '../streams/StreamRegistry.js';
import type { StreamVariant } from '../streams/StreamVariant.js';
import type { Capacity } from '../viewing/Capacity.js';
import type { ViewingObserverEvents } from '../viewing/ViewingService.js';
import { registerProcessMetrics } from './processMetrics.js';

export interface MetricsSources {
  pool: WorkerPool;
  streams: StreamRegistry;
  capacity: Capacity;
  rejectedCameras: number;
  signaling: EventEmitter<SignalingObserverEvents>;
  viewing: EventEmitter<ViewingObserverEvents>;
  /** Connections the HTTP server refused, by reason. */
  http: EventEmitter<{ refused: [reason: string] }>;
  /** Sign-ins of people (local accounts or OpenID Connect) by result, and ended sessions by reason. */
  signIn?: EventEmitter<SignInEvents>;
  /** A node of a cluster (cluster/ClusterNode.ts). */
  cluster?: ClusterMetrics | undefined;
  /** The audit trail (audit/AuditLog.ts): records written, failed writes, degraded. */
  audit?: AuditMetrics | undefined;
  connections: () => number;
  /** Resolution of the event-loop delay histogram (config metrics.eventLoopPrecisionMs). */
  eventLoopPrecisionMs: number;
}

export interface AuditMetrics {
  observer: EventEmitter<AuditLogEvents>;
  status(): { state: 'ok' | 'degraded'; pending: number };
}

export interface ClusterMetrics {
  connected(): boolean;
  nodes(): number;
  owned(): number;
  pipesIn(): number;
  pipesOut(): number;
}

export interface SignInEvents {
  signIn: [via: 'local' | 'oidc', result: string];
  sessionEnded: [reason: string];
}

const STATES = ['idle', 'starting', 'live', 'stalled', 'error', 'unauthorized'] as const;
const HEALTH_STATES = ['unknown', 'up', 'down', 'unauthorized'] as const;

export function createMetrics(src: MetricsSources): Registry {
  const registry = new Registry();
  registerProcessMetrics(registry, { eventLoopPrecisionMs: src.eventLoopPrecisionMs });
  const variants = () => src.streams.variants();
  /** `fn` for every variant, now and when one is added (a camera added to the config). */
  const eachVariant = (fn: (v: StreamVariant) => void) => {
    for (const v of variants()) fn(v);
    src.streams.observer.on('variantAdded', fn);
  };
  const labels = (v: { opts: { streamId: string; variant: string } }) => ({
    stream: v.opts.streamId,
    variant: v.opts.variant,
  });
  const perVariant = (name: string, help: string, value: (v: ReturnType<typeof variants>[number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['stream', 'variant'],
      registers: [registry],
      collect() {
        this.reset();
        for (const v of variants()) this.set(labels(v), value(v));
      },
    });

  perVariant('cctv_stream_viewers', 'Viewers holding a stream variant', (v) => v.viewers);
  perVariant(
    'cctv_stream_ingest_bytes_per_second',
    'Rate the camera sends video into the gateway, in bytes per second (8 bits: multiply by 8 for the bitrate)',
    (v) => v.ingestStats.bitrateBps / 8,
  );
  // A Producer counts its losses from 0: the counter adds what the count grew by, and a new Producer's
  // whole count (after a worker died), so it only ever grows, as Prometheus' rate() expects.
  const lostSeen = new Map<StreamVariant, number>();
  new Counter({
    name: 'cctv_stream_ingest_packets_lost_total',
    help: 'RTP packets lost on the way into mediasoup (from FFmpeg or the packet relay), as its Producer counts them',
    labelNames: ['stream', 'variant'],
    registers: [registry],
    collect() {
      const now = new Set(variants());
      for (const v of lostSeen.keys()) {
        if (now.has(v)) continue;
        lostSeen.delete(v); // a camera removed from the config: its series goes with it
        this.remove(labels(v));
      }
      for (const v of now) {
        const total = v.ingestStats.packetsLost;
        const before = lostSeen.get(v) ?? 0;
        lostSeen.set(v, total);
        this.inc(labels(v), total >= before ? total - before : total);
      }
    },
  });
  perVariant(
    'cctv_stream_jitter_seconds',
    'Interarrival jitter of the ingest RTP (video)',
    (v) => v.ingestStats.jitterSec,
  );
  perVariant('cctv_stream_uptime_seconds', 'Seconds since the variant last went live (0 when not live)', (v) =>
    v.liveSince ? (Date.now() - v.liveSince) / 1000 : 0,
  );
  new Gauge({
    name: 'cctv_stream_egress_bytes_per_second',
    help: 'Rate sent to all viewers of a stream variant (sum over its consumers), in bytes per second',
    labelNames: ['stream', 'variant'],
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        variants().map(async (v) => {
          const stats = await Promise.all([...v.consumers].map((c) => c.getStats().catch(() => [])));
          const bps = stats.flat().reduce((n, s) => n + (s.type === 'outbound-rtp' ? (s.bitrate ?? 0) : 0), 0);
          this.set(labels(v), bps / 8);
        }),
      );
    },
  });
  new Gauge({
    name: 'cctv_stream_state',
    help: 'Ingest state of a stream variant (1 for the current state)',
    labelNames: ['stream', 'variant', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of variants()) for (const s of STATES) this.set({ ...labels(v), state: s }, v.state === s ? 1 : 0);
    },
  });
  // Camera health, with or without viewers (the ingest while it runs, else the scheduled checks).
  // Not yet known (just started, or its settings changed) is no sample of cctv_camera_up: a 0 would
  // count a camera nobody has asked yet as down; cctv_camera_health_state{state="unknown"} says it.
  new Gauge({
    name: 'cctv_camera_up',
    help: 'Whether the camera answers: 1 up, 0 down or password rejected; no sample until known',
    labelNames: ['stream', 'variant'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of variants()) {
        const { state } = v.health;
        if (state !== 'unknown') this.set(labels(v), state === 'up' ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'cctv_camera_health_state',
    help: 'Health of a camera variant (1 for the current state: unknown, up, down, unauthorized)',
    labelNames: ['stream', 'variant', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of variants())
        for (const s of HEALTH_STATES) this.set({ ...labels(v), state: s }, v.health.state === s ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cctv_camera_health_since_timestamp_seconds',
    help: "When the camera's health state last changed (unix seconds)",
    labelNames: ['stream', 'variant'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of variants()) this.set(labels(v), v.health.since / 1000);
    },
  });
  new Gauge({
    name: 'cctv_camera_last_contact_timestamp_seconds',
    help: 'When the camera last answered as it should (unix seconds); no sample if not since the gateway started',
    labelNames: ['stream', 'variant'],
    registers: [registry],
    collect() {
      this.reset();
      for (const v of variants()) {
        const at = v.health.lastContactAt;
        if (at) this.set(labels(v), at / 1000);
      }
    },
  });
  const restarts = new Counter({
    name: 'cctv_ingest_restarts_total',
    help: 'Restarts of the ingest of a stream variant, FFmpeg or the packet relay alike, by reason',
    labelNames: ['stream', 'variant', 'reason'],
    registers: [registry],
  });
  eachVariant((v) => v.on('restart', (reason) => restarts.inc({ ...labels(v), reason })));
  const loginsRejected = new Counter({
    name: 'cctv_camera_logins_rejected_total',
    help: 'logins the camera refused (RTSP 401/403); each is followed by a minutes-long backoff',
    labelNames: ['stream', 'variant'],
    registers: [registry],
  });
  eachVariant((v) => v.on('loginRejected', () => loginsRejected.inc(labels(v))));
  const ttff = new Histogram({
    name: 'cctv_time_to_first_frame_seconds',
    help: 'Consume request to first decoded frame, as viewers report it',
    labelNames: ['stream', 'variant'],
    buckets: [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
    registers: [registry],
  });
  src.viewing.on('firstFrame', (stream, variant, seconds) => ttff.observe({ stream, variant }, seconds));

  // Per worker: CPU from getResourceUsage deltas, and what it carries.
  const cpuSeen = new Map<number, number>();
  new Counter({
    name: 'cctv_worker_cpu_seconds_total',
    help: 'CPU time (user + system) used by a mediasoup worker',
    labelNames: ['worker'],
    registers: [registry],
    async collect() {
      await Promise.all(
        src.pool.workers.map(async (w) => {
          if (w.worker.closed) return;
          const ru = await w.worker.getResourceUsage().catch(() => undefined);
          if (!ru) return;
          const total = (ru.ru_utime + ru.ru_stime) / 1000;
          const delta = total - (cpuSeen.get(w.index) ?? 0);
          cpuSeen.set(w.index, total);
          if (delta > 0) this.inc({ worker: String(w.index) }, delta);
        }),
      );
    },
  });
  const perWorker = (
    name: string,
    help: string,
    value: (w: WorkerPool['workers'][number]) => number | Promise<number>,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['worker'],
      registers: [registry],
      async collect() {
        for (const w of src.pool.workers) this.set({ worker: String(w.index) }, await value(w));
      },
    });
  perWorker('cctv_worker_routers', 'Routers on a mediasoup worker', (w) => (w.router.closed ? 0 : 1));
  perWorker('cctv_worker_producers', 'Producers on a worker (camera producers and pipe producers)', async (w) => {
    const dump = await w.router.dump().catch(() => undefined);
    return dump ? Object.keys(dump.mapProducerIdConsumerIds ?? {}).length : 0;
  });
  perWorker('cctv_worker_consumers', 'Viewer consumers on a mediasoup worker', (w) => w.consumers);
  perWorker('cctv_worker_transports', 'Viewer WebRTC transports on a mediasoup worker', (w) => w.transports);
  const SLOT_STATES = ['starting', 'serving', 'backoff', 'closed'] as const;
  new Gauge({
    name: 'cctv_worker_slot_state',
    help: 'State of a worker slot (1 for the current state): a dead worker is replaced in its slot',
    labelNames: ['worker', 'state'],
    registers: [registry],
    collect() {
      for (const w of src.pool.workers)
        for (const s of SLOT_STATES) this.set({ worker: String(w.index), state: s }, w.state === s ? 1 : 0);
    },
  });
  const workerRestarts = new Counter({
    name: 'cctv_worker_restarts_total',
    help: 'mediasoup workers that died and were replaced, by worker slot and reason (signal or exit code)',
    labelNames: ['worker', 'reason'],
    registers: [registry],
  });
  src.pool.on('slotDied', (slot, { reason }) => workerRestarts.inc({ worker: String(slot.index), reason }));
  const rehomes = new Counter({
    name: 'cctv_stream_rehomes_total',
    help: 'Times a stream variant got new Producers on another worker because its worker died',
    labelNames: ['stream', 'variant'],
    registers: [registry],
  });
  eachVariant((v) => v.on('rehomed', () => rehomes.inc(labels(v))));
  const onvif = new Counter({
    name: 'cctv_onvif_keyframe_requests_total',
    help: 'Keyframe requests to cameras over ONVIF SetSynchronizationPoint, by result (ok, a failure reason, or skipped: coalesced into another call or paused after a failure)',
    labelNames: ['stream', 'variant', 'result'],
    registers: [registry],
  });
  const onvifMs = new Histogram({
    name: 'cctv_onvif_keyframe_request_seconds',
    help: 'Time a camera took to answer SetSynchronizationPoint (GetProfiles included the first time)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
    registers: [registry],
  });
  eachVariant((v) => {
    const o = v.opts.onvif?.observer;
    o?.on('sent', ({ ms }) => {
      onvif.inc({ ...labels(v), result: 'ok' });
      onvifMs.observe(ms / 1000);
    });
    o?.on('failed', ({ reason }) => onvif.inc({ ...labels(v), result: reason }));
    o?.on('skipped', ({ reason }) => onvif.inc({ ...labels(v), result: reason }));
  });

  new Gauge({
    name: 'cctv_config_rejected_cameras',
    help: 'Camera entries of the config file that failed validation and were skipped',
    registers: [registry],
    collect() {
      this.set(src.rejectedCameras);
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
  new Gauge({
    name: 'cctv_capacity_used_ratio',
    help: "This node's most used capacity limit, 0..1 (consumers per worker or egress bandwidth)",
    registers: [registry],
    collect() {
      this.set(src.capacity.used());
    },
  });
  new Gauge({
    name: 'cctv_egress_estimate_bytes_per_second',
    help: 'Estimated egress of this node in bytes per second: each stream ingest rate times its video consumers',
    registers: [registry],
    collect() {
      this.set(src.capacity.egressBps() / 8);
    },
  });
  const authFailures = new Counter({
    name: 'cctv_auth_failures_total',
    help: 'Rejected tokens by reason (missing, expired, bad_signature, ...)',
    labelNames: ['reason'],
    registers: [registry],
  });
  src.signaling.on('authFailure', (reason) => authFailures.inc({ reason }));
  src.viewing.on('authFailure', (reason) => authFailures.inc({ reason }));
  const rejected = new Counter({
    name: 'cctv_signaling_rejected_total',
    help: 'Refused signaling messages and connections by error code',
    labelNames: ['code'],
    registers: [registry],
  });
  src.signaling.on('rejected', (code) => rejected.inc({ code }));
  const refusedConnections = new Counter({
    name: 'cctv_http_connections_refused_total',
    help: 'TCP connections refused at once, by reason (per_address_cap: the address holds server.maxConnectionsPerAddress)',
    labelNames: ['reason'],
    registers: [registry],
  });
  src.http.on('refused', (reason) => refusedConnections.inc({ reason }));
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
  const cluster = src.cluster;
  if (cluster) {
    const gauge = (name: string, help: string, value: () => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(value());
        },
      });
    gauge('cctv_cluster_connected', '1 while this node reaches Redis; 0: degraded (serves what it holds)', () =>
      cluster.connected() ? 1 : 0,
    );
    gauge('cctv_cluster_nodes', 'Live nodes of the cluster, as this node last saw them', () => cluster.nodes());
    gauge('cctv_cluster_cameras_owned', 'Cameras whose lease this node holds (it ingests them)', () => cluster.owned());
    new Gauge({
      name: 'cctv_cluster_pipes',
      help: 'Media pipes between nodes: in (from a camera owner to here), out (from here to another node)',
      labelNames: ['direction'],
      registers: [registry],
      collect() {
        this.set({ direction: 'in' }, cluster.pipesIn());
        this.set({ direction: 'out' }, cluster.pipesOut());
      },
    });
  }
  const signIns = new Counter({
    name: 'cctv_signins_total',
    help: 'Sign-ins of people by method (local, oidc) and result (ok, bad_credentials, locked, disabled, no_role, provider_error)',
    labelNames: ['method', 'result'],
    registers: [registry],
  });
  src.signIn?.on('signIn', (method, result) => signIns.inc({ method, result }));
  const audit = src.audit;
  if (audit) {
    const records = new Counter({
      name: 'cctv_audit_records_total',
      help: 'Records written to the audit trail, by kind',
      labelNames: ['kind'],
      registers: [registry],
    });
    audit.observer.on('appended', (kind) => records.inc({ kind }));
    const failures = new Counter({
      name: 'cctv_audit_write_failures_total',
      help: 'Failed writes to the audit trail (ENOSPC: disk full, EACCES, EIO…); each record is retried',
      labelNames: ['code'],
      registers: [registry],
    });
    audit.observer.on('failed', (code) => failures.inc({ code }));
    const dropped = new Counter({
      name: 'cctv_audit_records_dropped_total',
      help: 'Records given up on while the trail could not be written (written later as one gap record)',
      registers: [registry],
    });
    audit.observer.on('dropped', (n) => dropped.inc(n));
    new Gauge({
      name: 'cctv_audit_degraded',
      help: '1 while the audit trail cannot be written (records wait in memory; audit.required refuses new views)',
      registers: [registry],
      collect() {
        this.set(audit.status().state === 'ok' ? 0 : 1);
      },
    });
    new Gauge({
      name: 'cctv_audit_pending_records',
      help: 'Records waiting in memory to be written to the audit trail',
      registers: [registry],
      collect() {
        this.set(audit.status().pending);
      },
    });
  }
  const sessionsEnded = new Counter({
    name: 'cctv_sessions_ended_total',
    help: 'Sign-in sessions ended before their time, by reason (signed_out, disabled, revoked)',
    labelNames: ['reason'],
    registers: [registry],
  });
  src.signIn?.on('sessionEnded', (reason) => sessionsEnded.inc({ reason }));
  src.viewing.on('viewEnded', (r) => {
    views.inc({ stream: r.stream, variant: r.variant, reason: r.endReason });
    viewSeconds.inc({ stream: r.stream, variant: r.variant }, r.durationMs / 1000);
  });
  return registry;
}
