// Builds the HTTP app (never listens: main does). Routes: web client, REST, metrics, health.
import fs from 'node:fs';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { GatewayError, publicError } from '../errors.js';
import type { Logger } from '../log.js';
import type { WorkerPool } from '../media/WorkerPool.js';
import type { StreamRegistry } from '../streams/StreamRegistry.js';

export interface AppDeps {
  pool: WorkerPool;
  streams: StreamRegistry;
  metrics: Registry;
  logger: Logger;
  webRoot: string;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // Per-request lines are noise at this rate; warnings and errors still come through.
    loggerInstance: deps.logger.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e =
      err instanceof GatewayError
        ? err
        : (err as { validation?: unknown }).validation
          ? new GatewayError('E_BAD_REQUEST', err.message)
          : err;
    const pub = publicError(e);
    if (pub.code === 'E_INTERNAL') req.log.error({ err }, 'request failed');
    reply.status(e instanceof GatewayError ? e.status : 500).send({ error: pub });
  });
  app.setNotFoundHandler((req, reply) => {
    reply
      .status(404)
      .send({ error: { code: 'E_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });

  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const workersUp = deps.pool.workers.every((w) => !w.worker.closed);
    reply.status(workersUp ? 200 : 503);
    return { ready: workersUp, workers: deps.pool.workers.length };
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', deps.metrics.contentType);
    return deps.metrics.metrics();
  });

  app.get('/api/streams', async () => ({
    streams: deps.streams.list().map((s) => ({
      ...s,
      variants: s.variants.map((name) => {
        const v = deps.streams.get(s.id, name);
        return { name, state: v.state, viewers: v.viewers, lastError: v.lastError ?? null };
      }),
    })),
  }));

  if (fs.existsSync(deps.webRoot)) {
    await app.register(fastifyStatic, { root: deps.webRoot, prefix: '/', index: ['index.html'] });
  } else {
    deps.logger.warn({ webRoot: deps.webRoot }, 'web client not built; run `npm run build:web`');
  }
  return app;
}
