// Builds the HTTP app (never listens: main does). Routes: web client, REST, metrics, health.
// REST needs `Authorization: Bearer <jwt>`; each route names the roles it admits.
import fs from 'node:fs';
import fastifyStatic from '@fastify/static';
import { Type as T } from '@sinclair/typebox';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import { GatewayError, publicError } from '../../../signaling/src/errors.js';
import type { AuditLog } from '../audit/AuditLog.js';
import { type Claims, type Role, streamAllowed, type TokenVerifier } from '../auth/tokens.js';
import type { Logger } from '../log.js';
import type { WorkerPool } from '../media/WorkerPool.js';
import type { OpsHistory } from '../ops/OpsHistory.js';
import type { StreamRegistry } from '../streams/StreamRegistry.js';
import type { StreamVariant } from '../streams/StreamVariant.js';
import type { Capacity } from '../viewing/Capacity.js';
import { registerWebRoutes } from './webRoutes.js';

export interface AppDeps {
  pool: WorkerPool;
  streams: StreamRegistry;
  metrics: Registry;
  verifier: TokenVerifier;
  audit: AuditLog;
  logger: Logger;
  webRoot: string;
  allowAnonymousMetrics: boolean;
  maxEmbedTtlSec: number;
  onAuthFailure: (reason: string) => void;
  capacity: Capacity;
  ops: OpsHistory;
  /** Readiness of optional dependencies (e.g. Redis when configured): name → reachable. */
  dependencies: () => Promise<Record<string, boolean>>;
}

const StreamGlob = T.String({ minLength: 1, maxLength: 128, pattern: '^[a-z0-9*][a-z0-9._*-]*$' });

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // Per-request lines are noise at this rate; warnings and errors still come through.
    loggerInstance: deps.logger.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
  });

  // On close, Node ends idle keep-alive connections, but one with a request in flight stays open
  // after its answer for keepAliveTimeout (72 s): answers sent while closing end their connection.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e = err instanceof GatewayError ? err : err.validation ? new GatewayError('E_BAD_REQUEST', err.message) : err;
    const pub = publicError(e);
    if (pub.code === 'E_INTERNAL') req.log.error({ err }, 'request failed');
    reply.status(e instanceof GatewayError ? e.status : 500).send({ error: pub });
  });
  app.setNotFoundHandler((req, reply) => {
    reply
      .status(404)
      .send({ error: { code: 'E_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });

  const authenticate = (req: FastifyRequest, roles: readonly Role[]): Claims => {
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
    let claims: Claims;
    try {
      claims = deps.verifier.verify(token);
    } catch (err) {
      deps.onAuthFailure((err as GatewayError).reason ?? 'unknown');
      throw err;
    }
    if (!roles.includes(claims.role)) {
      throw new GatewayError('E_FORBIDDEN', `this needs the ${roles.join(' or ')} role; the token has ${claims.role}`);
    }
    return claims;
  };

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    // A dead worker is replaced by itself and its streams move: ready while any worker serves.
    const serving = deps.pool.serving.length;
    const dependencies = await deps.dependencies();
    const ready = serving > 0 && Object.values(dependencies).every(Boolean);
    reply.status(ready ? 200 : 503);
    return { ready, workers: serving, config: 'loaded', dependencies };
  });
  app.get('/metrics', async (req, reply) => {
    if (!deps.allowAnonymousMetrics) authenticate(req, ['operator', 'admin']);
    reply.header('content-type', deps.metrics.contentType);
    return deps.metrics.metrics();
  });

  const variantStatus = (v: StreamVariant, withStats: boolean) => ({
    name: v.opts.variant,
    state: v.state,
    viewers: v.viewers,
    ...(withStats
      ? {
          lastError: v.lastError ?? null,
          uptimeSec: v.liveSince ? Math.round((Date.now() - v.liveSince) / 1000) : 0,
          ingestBitrateBps: v.ingestStats.bitrateBps,
          egressBitrateBps: v.ingestStats.bitrateBps * [...v.consumers].filter((c) => c.kind === 'video').length,
          packetsLost: v.ingestStats.packetsLost,
          jitterMs: Math.round(v.ingestStats.jitterSec * 10000) / 10,
          ffmpegRestarts: v.restarts,
          originWorker: v.origin.index,
        }
      : {}),
  });
  const streamStatus = (id: string, claims: Claims) => {
    const s = deps.streams.list().find((x) => x.id === id);
    if (!s || (claims.role === 'viewer' && !streamAllowed(claims, id)))
      throw new GatewayError('E_NOT_FOUND', `no stream named "${id}"`);
    return {
      ...s,
      variants: s.variants.map((name) => variantStatus(deps.streams.get(s.id, name), claims.role !== 'viewer')),
    };
  };
  app.get('/api/streams', async (req) => {
    const claims = authenticate(req, ['viewer', 'operator', 'admin']);
    const ids = deps.streams.list().map((s) => s.id);
    return {
      streams: ids
        .filter((id) => claims.role !== 'viewer' || streamAllowed(claims, id))
        .map((id) => streamStatus(id, claims)),
    };
  });
  app.get('/api/streams/:id', { schema: { params: T.Object({ id: T.String({ maxLength: 128 }) }) } }, async (req) => {
    const claims = authenticate(req, ['viewer', 'operator', 'admin']);
    return streamStatus((req.params as { id: string }).id, claims);
  });
  app.get('/api/ops', async (req) => {
    authenticate(req, ['operator', 'admin']);
    return {
      capacity: { used: deps.capacity.used(), egressBps: deps.capacity.egressBps() },
      workers: deps.pool.workers.map((w) => ({
        index: w.index,
        consumers: w.consumers,
        transports: w.transports,
        alive: w.serving,
        state: w.state,
        restarts: w.restarts,
      })),
      intervalMs: deps.ops.intervalMs,
      history: deps.ops.samples,
    };
  });

  const AuditQuery = T.Object(
    {
      from: T.Optional(T.String({ format: 'date-time' })),
      to: T.Optional(T.String({ format: 'date-time' })),
      sub: T.Optional(T.String({ maxLength: 128 })),
      stream: T.Optional(T.String({ maxLength: 128 })),
      limit: T.Integer({ minimum: 1, maximum: 1000, default: 100 }),
      offset: T.Integer({ minimum: 0, default: 0 }),
    },
    { additionalProperties: false },
  );
  app.get('/api/audit', { schema: { querystring: AuditQuery } }, async (req) => {
    authenticate(req, ['admin']);
    const q = req.query as { from?: string; to?: string; sub?: string; stream?: string; limit: number; offset: number };
    return deps.audit.query(q);
  });

  const TokenRequest = T.Object(
    {
      sub: T.String({ minLength: 1, maxLength: 128, description: 'who the token is for, e.g. the OPD app' }),
      streams: T.Array(StreamGlob, { minItems: 1, maxItems: 200 }),
      ttlSec: T.Integer({ minimum: 60, default: 3600 }),
    },
    { additionalProperties: false },
  );
  app.post('/api/tokens', { schema: { body: TokenRequest } }, async (req) => {
    const admin = authenticate(req, ['admin']);
    const body = req.body as { sub: string; streams: string[]; ttlSec: number };
    if (body.ttlSec > deps.maxEmbedTtlSec) {
      throw new GatewayError('E_BAD_REQUEST', `ttlSec may be at most ${deps.maxEmbedTtlSec} for embed tokens`);
    }
    const token = deps.verifier.sign({ sub: body.sub, role: 'viewer', streams: body.streams }, body.ttlSec);
    deps.logger.info(
      { by: admin.sub, for: body.sub, streams: body.streams, ttlSec: body.ttlSec },
      'embed token minted',
    );
    return { token, role: 'viewer', streams: body.streams, expiresAt: Math.floor(Date.now() / 1000) + body.ttlSec };
  });

  if (fs.existsSync(deps.webRoot)) {
    await app.register(fastifyStatic, { root: deps.webRoot, prefix: '/', index: ['index.html'] });
    registerWebRoutes(app);
  } else {
    deps.logger.warn({ webRoot: deps.webRoot }, 'web client not built; run `npm run build:web`');
  }
  return app;
}
