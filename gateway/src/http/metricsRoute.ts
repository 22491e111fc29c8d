// GET /metrics (Prometheus text) and who may read it: on a private address of its own (metrics.listen),
// or on the public port with a bearer token (metrics.token, or an operator's), or open outside production.
import crypto from 'node:crypto';
import { Type as T } from '@sinclair/typebox';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { Config } from '../../../config/schema.js';
import { GatewayError, publicError } from '../../../signaling/src/errors.js';
import { bearerToken, type Role } from '../auth/tokens.js';
import type { Logger } from '../log.js';

/** How the public port answers GET /metrics. */
export type MetricsAccess =
  /** Not served there (404): metrics.listen serves it. */
  | { kind: 'elsewhere' }
  | { kind: 'open' }
  /** metrics.token as a bearer token, or an operator's or admin's token; else 401. */
  | { kind: 'token'; token?: string | undefined };

/**
 * The public port's rule, and a warning to log once when the setting is weak or surprising.
 * `production` is why this start counts as production (auth/setup.ts productionReason), or undefined.
 */
export function metricsAccess(
  config: { metrics: Pick<Config['metrics'], 'listen' | 'token'>; auth: Pick<Config['auth'], 'allowAnonymousMetrics'> },
  production: string | undefined,
): { access: MetricsAccess; warning?: string } {
  const { listen, token } = config.metrics;
  if (listen) return { access: { kind: 'elsewhere' } };
  if (token) return { access: { kind: 'token', token } };
  const anonymous = config.auth.allowAnonymousMetrics ?? !production;
  if (anonymous)
    return production
      ? {
          access: { kind: 'open' },
          warning: `GET /metrics is open to anyone on the public port in production (${production}, auth.allowAnonymousMetrics: true)`,
        }
      : { access: { kind: 'open' } };
  if (config.auth.allowAnonymousMetrics === false) return { access: { kind: 'token' } };
  return {
    access: { kind: 'token' },
    warning:
      `GET /metrics on the public port refuses scrapes without a token in production (${production}): ` +
      'give Prometheus CCTV_METRICS_TOKEN (metrics.token) or a private address (metrics.listen)',
  };
}

/** Compares digests, so neither the length nor the content of the token leaks through timing. */
function sameToken(given: string, expected: string): boolean {
  const digest = (s: string) => crypto.createHash('sha256').update(s).digest();
  return crypto.timingSafeEqual(digest(given), digest(expected));
}

/** No parameters; a bearer token at most (Prometheus' `authorization` setting). */
const SCHEMA = {
  headers: T.Object({ authorization: T.Optional(T.String({ maxLength: 8192 })) }),
  querystring: T.Object({}),
};

const bearerOf = (req: FastifyRequest) => bearerToken(req.headers.authorization);

async function send(registry: Registry, reply: FastifyReply): Promise<string> {
  reply.header('content-type', registry.contentType);
  reply.header('cache-control', 'no-store');
  return registry.metrics();
}

/** GET /metrics on the public app; `authenticate` is the app's (it throws the shared 401/403). */
export function registerMetricsRoute(
  app: FastifyInstance,
  deps: {
    registry: Registry;
    access: MetricsAccess;
    authenticate: (req: FastifyRequest, roles: readonly Role[]) => Promise<unknown>;
  },
): void {
  const { access } = deps;
  if (access.kind === 'elsewhere') return; // the not-found handler answers
  app.get('/metrics', { schema: SCHEMA }, async (req, reply) => {
    if (access.kind === 'token') {
      const bearer = bearerOf(req);
      if (!(access.token && bearer && sameToken(bearer, access.token)))
        await deps.authenticate(req, ['operator', 'admin']);
    }
    return send(deps.registry, reply);
  });
}

/** /metrics alone on a private address (metrics.listen); with metrics.token set it asks for it there too. */
export class MetricsServer {
  #closed = false;

  private constructor(
    private readonly app: FastifyInstance,
    readonly port: number,
  ) {}

  static async create(opts: {
    registry: Registry;
    host: string;
    port: number;
    token?: string | undefined;
    logger: Logger;
  }): Promise<MetricsServer> {
    const app = Fastify({
      loggerInstance: opts.logger.child({ component: 'metrics-http' }, { level: 'warn' }),
    }) as unknown as FastifyInstance;
    const fail = (e: GatewayError, reply: FastifyReply) => {
      if (e.status === 401) reply.header('www-authenticate', 'Bearer realm="cctv-gateway-metrics"');
      return reply.status(e.status).send({ error: publicError(e) });
    };
    app.setErrorHandler((err: FastifyError, _req, reply) => {
      if (err instanceof GatewayError) return fail(err, reply);
      // A header over the schema's limit, or anything fastify refuses before the route: the client's.
      const status = err.statusCode ?? 500;
      if (err.validation || (status >= 400 && status < 500))
        return fail(new GatewayError('E_BAD_REQUEST', err.message), reply);
      opts.logger.error({ err }, 'metrics request failed');
      return reply.status(500).send({ error: publicError(err) });
    });
    app.setNotFoundHandler((req, reply) =>
      fail(new GatewayError('E_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`), reply),
    );
    const { token, registry } = opts;
    app.get('/metrics', { schema: SCHEMA }, async (req, reply) => {
      const bearer = bearerOf(req);
      if (token && !(bearer && sameToken(bearer, token)))
        return fail(
          new GatewayError('E_UNAUTHENTICATED', 'this needs the metrics token', bearer ? 'bad_token' : 'missing'),
          reply,
        );
      return send(registry, reply);
    });
    try {
      await app.listen({ host: opts.host, port: opts.port });
    } catch (err) {
      await app.close(); // e.g. the port is taken: the gateway's start unwinds
      throw err;
    }
    const address = app.server.address();
    const server = new MetricsServer(app, typeof address === 'object' && address ? address.port : opts.port);
    opts.logger.info({ host: opts.host, port: server.port }, 'metrics listening');
    return server;
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.app.close();
  }
}
