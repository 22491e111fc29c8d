// Wires media, streams, signaling and HTTP together; one instance per process (tests start several).
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { CameraConfig, Config } from '../../config/schema.js';
import { SignalingServer } from '../../signaling/src/SignalingServer.js';
import { AuditLog } from './audit/AuditLog.js';
import { auditKeyFor } from './audit/key.js';
import { AccountStore } from './auth/accounts.js';
import { Credentials, JwksVerifier } from './auth/credentials.js';
import { OidcSignIn } from './auth/oidc.js';
import { endMessage, isRefusal, SessionManager } from './auth/sessions.js';
import { sessionSecretFor } from './auth/setup.js';
import type { TokenVerifier } from './auth/tokens.js';
import { ClusterNode } from './cluster/ClusterNode.js';
import { buildApp } from './http/app.js';
import { createMetrics, type SignInEvents } from './http/metrics.js';
import { MetricsServer, metricsAccess } from './http/metricsRoute.js';
import { sessionOf } from './http/signin.js';
import type { Logger } from './log.js';
import { WorkerPool } from './media/WorkerPool.js';
import { OpsHistory } from './ops/OpsHistory.js';
import { registerSnapshotMetrics } from './snapshots/metrics.js';
import { SnapshotService } from './snapshots/SnapshotService.js';
import { HealthChecks } from './streams/HealthChecks.js';
import { StreamRegistry } from './streams/StreamRegistry.js';
import type { StreamVariant } from './streams/StreamVariant.js';
import { Capacity } from './viewing/Capacity.js';
import { turnSettings } from './viewing/turn.js';
import { ViewingService } from './viewing/ViewingService.js';

export const DEFAULT_WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web-client/dist');
/** The snapshot decoder scripts/setup.sh builds (a link to the build of the current source). */
export const DEFAULT_SNAPSHOTTER = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../.cache/snapshotter/snapshotter',
);

/** How long close() lets HTTP answers in flight finish before it cuts their connections. */
const CLOSE_GRACE_MS = 2000;

export interface GatewayOptions {
  config: Config;
  cameras: CameraConfig[];
  verifier: TokenVerifier;
  /** Camera entries the config loader skipped (reported in metrics). */
  rejectedCameras?: number;
  logger: Logger;
  webRoot?: string;
  /** Why this start counts as production (auth/setup.ts productionReason); undefined: development, the demo. */
  production?: string | undefined;
}

export class Gateway {
  #closed = false;

  private constructor(
    readonly pool: WorkerPool,
    readonly streams: StreamRegistry,
    readonly signaling: SignalingServer,
    readonly viewing: ViewingService,
    readonly verifier: TokenVerifier,
    readonly sessions: SessionManager,
    readonly metrics: Registry,
    readonly snapshots: SnapshotService,
    readonly app: FastifyInstance,
    readonly port: number,
    /** The port of metrics.listen, when /metrics has an address of its own. */
    readonly metricsPort: number | undefined,
    private readonly logger: Logger,
    private readonly extras: Closer,
  ) {}

  /**
   * Starts the parts in order: workers, streams, viewing, signaling, HTTP, then always-on cameras.
   * When a step fails (e.g. the port is taken) what was started is closed in reverse and the error
   * is thrown: no worker, FFmpeg, socket or timer is left behind.
   */
  static async start(opts: GatewayOptions): Promise<Gateway> {
    const { config, logger } = opts;
    const undo = new Closer();
    try {
      const pool = await WorkerPool.create({
        workers: config.media.workers,
        listenIp: config.media.listenIp,
        ...(config.media.announcedAddress ? { announcedAddress: config.media.announcedAddress } : {}),
        rtcPort: config.media.rtcPort,
        rtpPortRange: config.media.rtpPortRange,
        logLevel: config.media.logLevel,
        respawnBackoffInitialMs: config.media.respawnBackoffInitialMs,
        respawnBackoffMaxMs: config.media.respawnBackoffMaxMs,
        logger,
      });
      undo.add(() => pool.close());
      // Before anything can be watched: it closes the views a crash left open and starts checkpoints.
      const audit = await openAudit(config.audit, logger);
      undo.add(() => audit.close());
      // A node of a cluster when `cluster` is configured; otherwise nothing of it exists.
      let node: ClusterNode | undefined;
      if (config.cluster) {
        const c = config.cluster;
        if (!c.secret)
          throw new Error('cluster: set CCTV_CLUSTER_SECRET (the same on every node, at least 32 characters)');
        if (!config.server.port) throw new Error('cluster: a node needs a fixed server.port (the other nodes call it)');
        const address = c.internalAddress ?? config.server.host;
        if (address === '0.0.0.0' || address === '::' || !isIP(address))
          throw new Error(
            `cluster: the other nodes cannot reach "${address}"; set cluster.internalAddress (CCTV_INTERNAL_ADDRESS) to this node's IP on the internal network`,
          );
        const url = `${config.server.tls ? 'https' : 'http'}://${address.includes(':') ? `[${address}]` : address}:${config.server.port}`;
        node = new ClusterNode({
          redisUrl: c.redis,
          secret: c.secret,
          node: {
            id: c.nodeId ?? `${address}-${config.server.port}`.replace(/[^a-z0-9._-]/gi, '-').toLowerCase(),
            url,
            publicUrl: config.server.publicUrl ?? url,
            address,
          },
          heartbeatMs: c.heartbeatSec * 1000,
          leaseMs: c.leaseSec * 1000,
          pool,
          streams: (): StreamRegistry => streams,
          viewers: () => streams.variants().reduce((n: number, v: StreamVariant) => n + v.viewers, 0),
          snapshots: (): SnapshotService => snapshots,
          audit,
          logger,
        });
      }
      const streams: StreamRegistry = new StreamRegistry(opts.cameras, config.ingest, pool, logger, node);
      undo.add(() => streams.close());
      const { verifier } = opts;
      const { auth } = config;
      const accounts = auth.accounts.enabled
        ? new AccountStore(path.resolve(auth.accounts.file), auth.accounts)
        : undefined;
      const sessions = new SessionManager({
        secret: sessionSecretFor(auth).secret,
        ttlSec: auth.sessions.ttlSec,
        accessTtlSec: auth.sessions.accessTtlSec,
        audience: auth.audience,
        revokedFile: path.resolve(auth.sessions.revokedFile),
        accounts,
      });
      const pruner = setInterval(() => sessions.prune(), 3_600_000);
      pruner.unref();
      undo.add(() => clearInterval(pruner));
      const jwks = auth.jwks
        ? new JwksVerifier({
            url: auth.jwks.url,
            issuer: auth.jwks.issuer,
            audience: auth.jwks.audience ?? auth.audience,
            clockToleranceSec: auth.clockToleranceSec,
          })
        : undefined;
      const credentials = new Credentials(verifier, sessions, jwks);
      const capacity = new Capacity(config.capacity, pool, streams);
      const turn = turnSettings(config.turn);
      const viewing = new ViewingService({
        pool,
        streams,
        verifier: credentials,
        capacity,
        logger,
        limits: config.signaling,
        turn,
        nodes: node && (() => (node?.others() ?? []).map((n) => n.ws)),
        audit: { admit: () => audit.admit(), started: (r) => audit.writeNow(r) },
      });
      node?.cluster.on('nodes', () => viewing.nodesChanged());
      let app: FastifyInstance | undefined;
      // Which pages may use /ws, WHEP and the snapshot API: one rule (signaling/src/origins.ts).
      const pageOrigins = {
        allowedOrigins: config.signaling.allowedOrigins,
        publicUrl: config.server.publicUrl,
        extraOrigins: node && (() => [...(node?.cluster.origins ?? [])]),
      };
      const signaling = new SignalingServer({
        viewing,
        logger,
        limits: config.signaling,
        proxy: config.server,
        // A page of another node fails over here: its origin is one of the cluster's.
        extraOrigins: pageOrigins.extraOrigins,
        // A page of this gateway opens its WebSocket with the sign-in cookie: that authenticates it.
        sessionToken: (cookie) => {
          if (!app) return undefined;
          const s = sessionOf(app, sessions, cookie);
          return isRefusal(s) ? undefined : sessions.accessToken(s).token;
        },
      });
      // Never throws: a record that cannot be written waits in memory and the trail reports degraded.
      const appendAudit = (record: Parameters<AuditLog['append']>[0]) => {
        audit.append(record);
      };
      viewing.observer.on('viewEnded', appendAudit);
      const signIn = new EventEmitter<SignInEvents>();
      sessions.observer.on('ended', (sid, reason) => {
        signIn.emit('sessionEnded', reason);
        const n = viewing.endSession(sid, reason, endMessage(reason));
        if (n > 0) logger.info({ reason, connections: n }, 'session ended on its connections');
      });
      const publicBase = config.server.publicUrl ?? `http://127.0.0.1:${config.server.port}`;
      const oidc = auth.oidc
        ? new OidcSignIn(auth.oidc, auth.oidc.redirectUrl ?? new URL('/auth/oidc/callback', publicBase).href)
        : undefined;
      const ops = new OpsHistory(pool, streams, capacity);
      undo.add(() => ops.close());
      // Redis is optional (cluster mode); when configured, readiness depends on reaching it.
      const redis = config.redis
        ? new Redis(config.redis.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 })
        : undefined;
      redis?.on('error', () => {}); // reported through /readyz, not as an unhandled error
      if (redis) undo.add(() => redis.disconnect());
      const httpRefused = new EventEmitter<{ refused: [reason: string] }>();
      const metrics = createMetrics({
        http: httpRefused,
        pool,
        streams,
        capacity,
        rejectedCameras: opts.rejectedCameras ?? 0,
        signaling: signaling.observer,
        viewing: viewing.observer,
        signIn,
        cluster: node && {
          connected: () => node?.cluster.state === 'connected',
          nodes: () => node?.cluster.nodes.length ?? 0,
          owned: () => node?.cluster.owned.length ?? 0,
          pipesIn: () => node?.incomingPipes ?? 0,
          pipesOut: () => node?.pipes.count ?? 0,
        },
        audit,
        connections: () => signaling.connections,
        eventLoopPrecisionMs: config.metrics.eventLoopPrecisionMs,
      });
      const metricsDoor = metricsAccess(config, opts.production);
      if (metricsDoor.warning) logger.warn(metricsDoor.warning);
      const snapshots = new SnapshotService(
        {
          decoderPath: config.snapshots.decoderPath ?? DEFAULT_SNAPSHOTTER,
          maxConcurrent: config.snapshots.maxConcurrent,
          maxQueued: config.snapshots.maxQueued,
          cacheMs: config.snapshots.cacheMs,
          waitMs: config.snapshots.waitSec * 1000,
          maxFrameAgeMs: config.snapshots.maxFrameAgeSec * 1000,
          quality: config.snapshots.quality,
          decodeTimeoutMs: config.snapshots.decodeTimeoutSec * 1000,
        },
        logger.child({ component: 'snapshots' }),
        node && ((v, width) => (node as ClusterNode).snapshotElsewhere(v, width)),
      );
      undo.add(() => snapshots.close());
      registerSnapshotMetrics(metrics, snapshots.observer, () => snapshots.decoding);
      app = await buildApp({
        pool,
        streams,
        metrics,
        verifier: credentials,
        minter: verifier,
        signIn: { sessions, accounts, oidc, audit: (r) => audit.record(r), observer: signIn },
        audit,
        logger,
        webRoot: opts.webRoot ?? DEFAULT_WEB_ROOT,
        metricsAccess: metricsDoor.access,
        maxEmbedTtlSec: config.auth.maxEmbedTtlSec,
        onAuthFailure: (reason) => viewing.observer.emit('authFailure', reason),
        capacity,
        ops,
        server: config.server,
        onConnectionRefused: (reason) => httpRefused.emit('refused', reason),
        clusterState: node && (() => node?.cluster.state ?? 'degraded'),
        connectOrigins: node && (() => node?.cluster.origins ?? []),
        cluster: node,
        whep: { viewing, ...pageOrigins },
        // With audit.required a snapshot that cannot be audited is refused, not served.
        snapshots: {
          snapshots,
          audit: (r) => void audit.writeNow(r),
          retryAfterSec: 1,
          ...pageOrigins,
        },
        dependencies: async (): Promise<Record<string, boolean>> =>
          redis ? { redis: await redisReachable(redis) } : {},
      });
      node?.register(app);
      undo.add(() => closeApp(app));
      undo.add(() => signaling.close()); // first: tell clients and end their views, then the HTTP server
      signaling.attach(app.server);
      await app.listen({ host: config.server.host, port: config.server.port });
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : config.server.port;
      const listen = config.metrics.listen;
      const metricsServer =
        listen && (await MetricsServer.create({ registry: metrics, ...listen, token: config.metrics.token, logger }));
      if (metricsServer) undo.add(() => metricsServer.close());
      if (node) {
        // Drain first on close: its cameras go to other nodes before anything here stops.
        const n = node;
        await n.start();
        undo.add(() => n.close());
      } else streams.startAlwaysOn();
      // Cameras nobody watches are checked on a schedule (closed first, before the streams).
      const health = new HealthChecks({
        // In a cluster each camera is checked by one node (the one it hashes to).
        targets: () =>
          node ? streams.variants().filter((v) => node.cluster.preferred(v.opts.streamId)) : streams.variants(),
        intervalMs: config.health.checkIntervalSec * 1000,
        logger,
      });
      undo.add(() => health.close());
      health.start();
      logger.info({ port, cameras: opts.cameras.length }, 'gateway listening');
      return new Gateway(
        pool,
        streams,
        signaling,
        viewing,
        verifier,
        sessions,
        metrics,
        snapshots,
        app,
        port,
        metricsServer ? metricsServer.port : undefined,
        logger,
        undo,
      );
    } catch (err) {
      await undo.run();
      throw err;
    }
  }

  /** Stops accepting, tells clients, closes consumers, stops ingest, closes workers. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.extras.run();
    this.logger.info('gateway stopped');
  }
}

/** The audit trail (audit/AuditLog.ts), its alarms as one log line each. */
async function openAudit(c: Config['audit'], logger: Logger): Promise<AuditLog> {
  const { key, devKey } = auditKeyFor(c);
  if (devKey)
    logger.warn('audit checkpoints are signed with a development key: set CCTV_AUDIT_KEY or audit.signingKeyFile');
  const audit = await AuditLog.create({
    file: path.resolve(c.file),
    checkpointSec: c.checkpointSec,
    rotate: c.rotate,
    retentionDays: c.retentionDays,
    required: c.required,
    signer: key,
  });
  const log = logger.child({ component: 'audit', file: audit.file });
  audit.observer.on('state', (state, detail) => {
    if (state === 'degraded') log.error({ detail, required: audit.required }, 'audit trail cannot be written');
    else log.info('audit trail is written again');
  });
  audit.observer.on('warning', (message, detail) => log.warn(detail, message));
  audit.observer.on('recovered', (views, lastAlive) =>
    log.warn({ views, lastAlive }, 'views left open by a crash closed as gateway crashed'),
  );
  return audit;
}

/** Close steps, run in reverse order of adding (the last part started closes first). */
class Closer {
  readonly #steps: (() => unknown)[] = [];

  add(step: () => unknown): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) await step();
  }
}

/** Answers in flight may finish; a client that holds its connection past that is cut. */
async function closeApp(app: FastifyInstance): Promise<void> {
  const cut = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
  await app.close();
  clearTimeout(cut);
}

/** Whether Redis answers PING within 500 ms; a Redis that accepts and never answers counts as down. */
async function redisReachable(redis: Redis): Promise<boolean> {
  const check = async () => {
    if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
    return (await redis.ping()) === 'PONG';
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), 500);
  });
  try {
    return await Promise.race([check(), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
