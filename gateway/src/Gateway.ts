// Wires media, streams, signaling and HTTP together; one instance per process (tests start several).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { CameraConfig, Config } from '../../config/schema.js';
import type { TokenVerifier } from '../../signaling/src/auth.js';
import { SignalingServer } from '../../signaling/src/SignalingServer.js';
import { AuditLog } from './audit/AuditLog.js';
import { Capacity } from './capacity/Capacity.js';
import { buildApp } from './http/app.js';
import { createMetrics } from './http/metrics.js';
import type { Logger } from './log.js';
import { WorkerPool } from './media/WorkerPool.js';
import { OpsHistory } from './ops/OpsHistory.js';
import { StreamRegistry } from './streams/StreamRegistry.js';

export const DEFAULT_WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web-client/dist');

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
}

export class Gateway {
  #closed = false;

  private constructor(
    readonly pool: WorkerPool,
    readonly streams: StreamRegistry,
    readonly signaling: SignalingServer,
    readonly verifier: TokenVerifier,
    readonly metrics: Registry,
    readonly app: FastifyInstance,
    readonly port: number,
    private readonly logger: Logger,
    private readonly closeExtras: () => void,
  ) {}

  static async start(opts: GatewayOptions): Promise<Gateway> {
    const { config, logger } = opts;
    const pool = await WorkerPool.create({
      workers: config.media.workers,
      listenIp: config.media.listenIp,
      ...(config.media.announcedAddress ? { announcedAddress: config.media.announcedAddress } : {}),
      rtcPort: config.media.rtcPort,
      rtpPortRange: config.media.rtpPortRange,
      logLevel: config.media.logLevel,
      logger,
    });
    const streams = new StreamRegistry(opts.cameras, config.ingest, pool, logger);
    const { verifier } = opts;
    const capacity = new Capacity(config.capacity, pool, streams);
    const signaling = new SignalingServer({ pool, streams, verifier, capacity, logger, limits: config.signaling });
    const audit = new AuditLog(path.resolve(config.audit.file));
    signaling.observer.on('viewEnded', (record) => {
      try {
        audit.append(record);
      } catch (err) {
        logger.error({ err: (err as Error).message, file: audit.file }, 'audit record could not be written');
      }
    });
    const ops = new OpsHistory(pool, streams, capacity);
    // Redis is optional (cluster mode); when configured, readiness depends on reaching it.
    const redis = config.redis
      ? new Redis(config.redis.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 })
      : undefined;
    redis?.on('error', () => {}); // reported through /readyz, not as an unhandled error
    const metrics = createMetrics({
      pool,
      streams,
      capacity,
      rejectedCameras: opts.rejectedCameras ?? 0,
      signaling: signaling.observer,
      connections: () => signaling.connections,
    });
    const app = await buildApp({
      pool,
      streams,
      metrics,
      verifier,
      audit,
      logger,
      webRoot: opts.webRoot ?? DEFAULT_WEB_ROOT,
      allowAnonymousMetrics: config.auth.allowAnonymousMetrics,
      maxEmbedTtlSec: config.auth.maxEmbedTtlSec,
      onAuthFailure: (reason) => signaling.observer.emit('authFailure', reason),
      capacity,
      ops,
      dependencies: async (): Promise<Record<string, boolean>> => (redis ? { redis: await redisReachable(redis) } : {}),
    });
    signaling.attach(app.server);
    await app.listen({ host: config.server.host, port: config.server.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.server.port;
    streams.startAlwaysOn();
    logger.info({ port, cameras: opts.cameras.length }, 'gateway listening');
    return new Gateway(pool, streams, signaling, verifier, metrics, app, port, logger, () => {
      ops.close();
      redis?.disconnect();
    });
  }

  /** Stops accepting, tells clients, closes consumers, stops FFmpeg, closes workers. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.signaling.close();
    // Answers in flight may finish; a client that holds its connection past that is cut.
    const cut = setTimeout(() => this.app.server.closeAllConnections(), CLOSE_GRACE_MS);
    await this.app.close();
    clearTimeout(cut);
    await this.streams.close();
    this.pool.close();
    this.closeExtras();
    this.logger.info('gateway stopped');
  }
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
