// Builds the HTTP app (never listens: main does). Routes: web client, REST, metrics, health.
// REST needs `Authorization: Bearer <jwt>`; each route names the roles it admits.
import fs from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import fastifyCompress from '@fastify/compress';
import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import { Type as T } from '@sinclair/typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Registry } from 'prom-client';
import type { Config } from '../../../config/schema.js';
import { GatewayError, publicError } from '../../../signaling/src/errors.js';
import { forwardedAsX, trustedProxies } from '../../../signaling/src/SignalingServer.js';
import type { AuditLog, AuditQuery } from '../audit/AuditLog.js';
import { toCsv } from '../audit/query.js';
import { QUERY_KINDS } from '../audit/records.js';
import { isRefusal } from '../auth/sessions.js';
import {
  bearerToken,
  type Claims,
  type ClaimsVerifier,
  GLOB_LIMITS,
  globWithin,
  type Role,
  seesAllStreams,
  streamAllowed,
  type TokenVerifier,
} from '../auth/tokens.js';
import type { Logger } from '../log.js';
import type { WorkerPool } from '../media/WorkerPool.js';
import type { OpsHistory } from '../ops/OpsHistory.js';
import type { StreamRegistry } from '../streams/StreamRegistry.js';
import type { CameraHealth, StreamVariant } from '../streams/StreamVariant.js';
import type { Capacity } from '../viewing/Capacity.js';
import { type MetricsAccess, registerMetricsRoute } from './metricsRoute.js';
import { registerOpenApi } from './openapi.js';
import { registerSignIn, type SignInDeps, sessionOf } from './signin.js';
import { registerSnapshots, type SnapshotDeps } from './snapshots.js';
import { StreamListSchema, StreamStatusSchema } from './streamSchemas.js';
import { registerWebRoutes } from './webRoutes.js';
import { registerWhep, type WhepDeps } from './whep.js';

export interface AppDeps {
  pool: WorkerPool;
  streams: StreamRegistry;
  metrics: Registry;
  /** Checks every token (the gateway's, an IdP's, sessions'): credentials.ts. */
  verifier: ClaimsVerifier;
  /** Mints embed tokens (POST /api/tokens). */
  minter: TokenVerifier;
  /** People's sign-in (sessions, local accounts, OpenID Connect). */
  signIn: Omit<SignInDeps, 'logger'>;
  audit: AuditLog;
  logger: Logger;
  webRoot: string;
  /** Who may GET /metrics on this port (http/metricsRoute.ts). */
  metricsAccess: MetricsAccess;
  maxEmbedTtlSec: number;
  onAuthFailure: (reason: string) => void;
  capacity: Capacity;
  ops: OpsHistory;
  /** In a cluster: who owns which camera, the nodes, and the audit trail of every node. */
  cluster?: ClusterView | undefined;
  /** In a cluster: the other nodes' public origins, which pages may connect to (CSP connect-src). */
  connectOrigins?: (() => Iterable<string>) | undefined;
  /** In a cluster: 'connected', or 'degraded' while Redis is away. */
  clusterState?: (() => string) | undefined;
  /** Readiness of optional dependencies (e.g. Redis when configured): name → reachable. */
  dependencies: () => Promise<Record<string, boolean>>;
  /** Timeouts and the per-address cap of the public port (`config.server`). */
  server: HttpLimits;
  /** A connection was refused (over the per-address cap): counted, not logged (an attack would flood it). */
  onConnectionRefused: (reason: 'per_address_cap') => void;
  /** WHEP's front door on the viewing service, and the other origins whose players may use it. */
  whep: Omit<WhepDeps, 'logger'>;
  /** GET /api/streams/:id/snapshot.jpg (http/snapshots.ts). */
  snapshots?: Omit<SnapshotDeps, 'streams' | 'authenticate'> | undefined;
}

/** A variant's `health` in GET /api/streams(/:id): times as ISO strings; `reason` and `checkedAt` for operators. */
export interface HealthStatus {
  state: CameraHealth['state'];
  /** Why it is down or unauthorized, free of secrets (operators and admins only). */
  reason?: string | null;
  /** When `state` last changed. */
  since: string;
  /** When the camera last answered as it should; null: not since the gateway started. */
  lastContactAt: string | null;
  /** When it was last contacted at all, by the ingest or a check (operators and admins only). */
  checkedAt?: string | null;
}

/** What the REST API shows of the cluster this node is in (cluster/ClusterNode.ts). */
export interface ClusterView {
  /** camera id → the node that ingests it (null: none now); empty while Redis is away. */
  owners(ids: string[]): Promise<Record<string, string | null>>;
  summary(): { node: string; state: string; nodes: { id: string; url: string; load: unknown; startedAt: number }[] };
  /** The audit query on every live node, merged newest first; `nodes` says which answered. */
  audit(q: AuditQuery): Promise<{ total: number; records: unknown[]; nodes: { id: string; ok: boolean }[] }>;
}

export type HttpLimits = Pick<
  Config['server'],
  'headersTimeoutSec' | 'requestTimeoutSec' | 'idleTimeoutSec' | 'maxConnectionsPerAddress'
> &
  Partial<Pick<Config['server'], 'trustProxy' | 'tls'>>;
/** A page @fastify/static serves from the web root (`/` is index.html); webRoutes.ts' pages have no validators. */
const STATIC_PAGE = /^\/(?:[\w.-]*\.html)?$/;
const StreamGlob = T.String({ minLength: 1, maxLength: GLOB_LIMITS.maxLength, pattern: '^[a-z0-9*][a-z0-9._*-]*$' });

/**
 * A 4xx that fastify or a plugin raises is the client's doing, not a bug: @fastify/send's 403 (a path
 * that climbs out of the web root) and 404 read as any missing file; the rest keep their meaning.
 */
function clientError(err: FastifyError, contentType: string | undefined): GatewayError | undefined {
  const status = err.statusCode ?? 0;
  if (status < 400 || status > 499) return undefined;
  if (status === 403 || status === 404) return new GatewayError('E_NOT_FOUND', 'no such file');
  if (status === 413) return new GatewayError('E_TOO_LARGE', err.message);
  if (status === 415)
    return new GatewayError(
      'E_BAD_REQUEST',
      `content-type ${JSON.stringify(String(contentType ?? '').slice(0, 100))} is not accepted; send application/json`,
    );
  return new GatewayError('E_BAD_REQUEST', err.message);
}

/** A schema refusal in words, naming an unknown field ("body/ttl: unknown field") rather than its rule. */
function validationMessage(err: FastifyError): string {
  const v = err.validation?.[0] as
    | { keyword?: string; instancePath?: string; params?: Record<string, unknown> }
    | undefined;
  if (v?.keyword === 'additionalProperties') {
    const where = `${err.validationContext ?? 'body'}${v.instancePath ?? ''}`;
    return `${where}: unknown field "${String(v.params?.['additionalProperty']).slice(0, 64)}"`;
  }
  return err.message;
}

/** http(s) origins as the ws(s) sources a CSP needs for their /ws (space-separated). */
function wsOrigins(origins: Iterable<string>): string {
  return [...origins].map((o) => o.replace(/^http/, 'ws')).join(' ');
}

/** Refuses a connection while its address already holds `max` (0 = no cap); WebSockets count too. */
function capConnectionsPerAddress(server: Server, max: number, refused: () => void): void {
  if (max <= 0) return;
  const open = new Map<string, number>();
  server.on('connection', (socket) => {
    const address = socket.remoteAddress;
    if (!address) return; // already gone
    const n = open.get(address) ?? 0;
    if (n >= max) {
      socket.destroy();
      refused();
      return;
    }
    open.set(address, n + 1);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const limits = deps.server;
  const requestTimeout = limits.requestTimeoutSec * 1000;
  const onError = (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const e =
      err instanceof GatewayError
        ? err
        : err.validation
          ? new GatewayError('E_BAD_REQUEST', validationMessage(err))
          : (clientError(err, req.headers['content-type']) ?? err);
    const pub = publicError(e);
    if (pub.code === 'E_INTERNAL') req.log.error({ err }, 'request failed');
    // RFC 6750: a refused or missing bearer token says which scheme, and why when one was sent.
    if (e instanceof GatewayError && e.status === 401)
      reply.header(
        'www-authenticate',
        req.headers.authorization
          ? 'Bearer realm="cctv-gateway", error="invalid_token"'
          : 'Bearer realm="cctv-gateway"',
      );
    reply.status(err.statusCode === 415 ? 415 : e instanceof GatewayError ? e.status : 500).send({ error: pub });
  };
  const nodeServer = {
    headersTimeout: Math.min(limits.headersTimeoutSec * 1000, requestTimeout),
    connectionsCheckingInterval: 1000,
  };
  const app = Fastify({
    // Per-request lines are noise at this rate; warnings and errors still come through.
    loggerInstance: deps.logger.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
    // A field the schema does not know is refused (and named), never silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
    // Node checks these timeouts on an interval (30 s by default): every second keeps them close.
    http: nodeServer,
    requestTimeout,
    connectionTimeout: limits.idleTimeoutSec * 1000,
    // A URL that does not decode (`%ff`, `%`) gets the same error shape as everything else.
    frameworkErrors: onError,
    // X-Forwarded-For/-Proto/-Host are believed only from these proxies (request.ip, .protocol, .host).
    trustProxy: limits.trustProxy?.length ? [...limits.trustProxy] : false,
    // With TLS fastify passes only `https` to Node: the timeouts above ride along in it.
    ...(limits.tls
      ? { https: { ...nodeServer, cert: fs.readFileSync(limits.tls.cert), key: fs.readFileSync(limits.tls.key) } }
      : {}),
  }) as unknown as FastifyInstance;
  capConnectionsPerAddress(app.server, limits.maxConnectionsPerAddress, () =>
    deps.onConnectionRefused('per_address_cap'),
  );

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

  // Security headers. The wall needs its own scripts, styles (inline ones too), data: and blob: images and its
  // WebSocket ('self' covers ws:/wss: of the same host); the embed page may be framed by other sites.
  const inlineScripts = inlineScriptHashes(deps.webRoot);
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      directives: {
        'style-src-attr': null,
        'upgrade-insecure-requests': null,
        'media-src': ["'self'", 'blob:'],
        // Posters are snapshots fetched with the page's token and shown from object URLs.
        'img-src': ["'self'", 'data:', 'blob:'],
        // The pages' one inline script (web-client early.js), by the hash the build wrote (read again
        // when the build rewrites it: `npm run build:web` under a running gateway).
        'script-src': ["'self'", () => inlineScripts()],
        // In a cluster a page may go on from another node's /ws when its own node goes away.
        'connect-src': ["'self'", () => wsOrigins(deps.connectOrigins?.() ?? []) || "'self'"],
      },
    },
    // HSTS only when this gateway itself serves TLS; behind a proxy the proxy decides.
    hsts: limits.tls ? { maxAge: 15552000 } : false,
  });
  // Compressible answers (the web client's JS/CSS/HTML, JSON) above 1 KiB, when the client accepts it.
  await app.register(fastifyCompress, { threshold: 1024 });
  // Before any route: the OpenAPI document is gathered as routes are added.
  await registerOpenApi(app);
  // A stored copy of a page from before it was no-store: it gets the page again, not a 304.
  app.addHook('onRequest', async (req) => {
    if (!STATIC_PAGE.test(req.url.split('?')[0] ?? '')) return;
    delete req.raw.headers['if-none-match'];
    delete req.raw.headers['if-modified-since'];
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const type = String(reply.getHeader('content-type') ?? '');
    // Every page's URL may carry ?token=: never cached, never sent on as Referer (helmet: no-referrer).
    // Nor validated: @fastify/static's ETag and Last-Modified would bring a 304 with its `public, max-age=0`.
    if (type.startsWith('text/html')) {
      reply.header('cache-control', 'no-store');
      reply.removeHeader('etag');
      reply.removeHeader('last-modified');
    }
    if (req.url.startsWith('/embed/')) {
      reply.removeHeader('x-frame-options');
      const csp = reply.getHeader('content-security-policy');
      if (typeof csp === 'string')
        reply.header(
          'content-security-policy',
          csp
            .split(';')
            .filter((d) => !d.trim().startsWith('frame-ancestors'))
            .join(';'),
        );
    }
    return payload;
  });

  // A trusted proxy that sends RFC 7239 `Forwarded` instead of X-Forwarded-*: fastify reads only the
  // latter, so they are filled in from it (request.ip, .protocol, .host), as the signaling does.
  const trusted = trustedProxies(limits.trustProxy ?? []);
  if (limits.trustProxy?.length) {
    app.addHook('onRequest', async (req) => {
      const x = trusted(req.raw.socket.remoteAddress ?? '') ? forwardedAsX(req.raw.headers) : undefined;
      if (x) Object.assign(req.raw.headers, x);
    });
  }

  // Signed cookies (the sign-in session, the OpenID Connect transaction): their key is the session's.
  await app.register(fastifyCookie, { secret: deps.signIn.sessions.cookieKey });
  registerSignIn(app, { ...deps.signIn, logger: deps.logger });

  app.setErrorHandler(onError);
  app.setNotFoundHandler((req, reply) => {
    reply
      .status(404)
      .send({ error: { code: 'E_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } });
  });

  /**
   * A Bearer token, or for reads the sign-in cookie (SameSite=Strict: another site's page cannot send
   * it, and a read changes nothing).
   */
  const authenticate = async (req: FastifyRequest, roles: readonly Role[]): Promise<Claims> => {
    const header = req.headers.authorization;
    let token = bearerToken(header);
    if (!header && req.method === 'GET' && req.headers.cookie) {
      const s = sessionOf(app, deps.signIn.sessions, req.headers.cookie);
      if (!isRefusal(s)) token = deps.signIn.sessions.accessToken(s).token;
    }
    let claims: Claims;
    try {
      claims = await deps.verifier.verify(token);
    } catch (err) {
      deps.onAuthFailure((err as GatewayError).reason ?? 'unknown');
      throw err;
    }
    if (!roles.includes(claims.role)) {
      throw new GatewayError('E_FORBIDDEN', `this needs the ${roles.join(' or ')} role; the token has ${claims.role}`);
    }
    return claims;
  };

  registerWhep(app, { ...deps.whep, logger: deps.logger });
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    // A dead worker is replaced by itself and its streams move: ready while any worker serves.
    const serving = deps.pool.serving.length;
    const dependencies = await deps.dependencies();
    // A trail that cannot be written is degraded; with audit.required nothing new may start: not ready.
    const audit = deps.audit.status();
    const ready =
      serving > 0 && Object.values(dependencies).every(Boolean) && !(audit.required && audit.state !== 'ok');
    reply.status(ready ? 200 : 503);
    // A node that cannot reach Redis still serves what it holds: ready, and says it is degraded.
    const cluster = deps.clusterState?.();
    return { ready, workers: serving, config: 'loaded', dependencies, audit, ...(cluster ? { cluster } : {}) };
  });
  registerMetricsRoute(app, { registry: deps.metrics, access: deps.metricsAccess, authenticate });

  const variantStatus = (v: StreamVariant, withStats: boolean) => ({
    name: v.opts.variant,
    state: v.state,
    viewers: v.viewers,
    health: healthStatus(v.health, withStats),
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
  /** Whether the camera answers, with or without viewers; why (operator detail) only with stats. */
  const healthStatus = (h: CameraHealth, withReason: boolean): HealthStatus => ({
    state: h.state,
    ...(withReason ? { reason: h.reason ?? null } : {}),
    since: new Date(h.since).toISOString(),
    lastContactAt: h.lastContactAt ? new Date(h.lastContactAt).toISOString() : null,
    ...(withReason ? { checkedAt: h.checkedAt ? new Date(h.checkedAt).toISOString() : null } : {}),
  });
  const streamStatus = (id: string, claims: Claims) => {
    const s = deps.streams.list().find((x) => x.id === id);
    if (!s || (!seesAllStreams(claims.role) && !streamAllowed(claims, id)))
      throw new GatewayError('E_NOT_FOUND', `no stream named "${id}"`);
    return {
      ...s,
      variants: s.variants.map((name) => variantStatus(deps.streams.get(s.id, name), seesAllStreams(claims.role))),
    };
  };
  const listStreams = {
    schema: {
      summary: 'The streams this token may see: state, viewers, health',
      response: { 200: StreamListSchema },
    },
  };
  app.get('/api/streams', listStreams, async (req) => {
    const claims = await authenticate(req, ['viewer', 'integrator', 'operator', 'admin']);
    const ids = deps.streams.list().map((s) => s.id);
    const seen = ids.filter((id) => seesAllStreams(claims.role) || streamAllowed(claims, id));
    // In a cluster operators see which node ingests each camera.
    const owners = deps.cluster && seesAllStreams(claims.role) ? await deps.cluster.owners(seen) : undefined;
    return {
      streams: seen.map((id) => ({ ...streamStatus(id, claims), ...(owners ? { node: owners[id] ?? null } : {}) })),
    };
  });
  const StreamParams = T.Object({ id: T.String({ maxLength: 128 }) });
  const oneStream = { summary: 'One stream: its variants, and for operators their bitrates, loss and restarts' };
  const oneStreamSchema = { ...oneStream, params: StreamParams, response: { 200: StreamStatusSchema } };
  app.get('/api/streams/:id', { schema: oneStreamSchema }, async (req) => {
    const claims = await authenticate(req, ['viewer', 'integrator', 'operator', 'admin']);
    return streamStatus((req.params as { id: string }).id, claims);
  });
  if (deps.snapshots) registerSnapshots(app, { ...deps.snapshots, streams: deps.streams, authenticate });
  const opsRead = { schema: { summary: 'Capacity, workers and their recent history (operators)' } };
  app.get('/api/ops', opsRead, async (req) => {
    await authenticate(req, ['operator', 'admin']);
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
      ...(deps.cluster ? { cluster: deps.cluster.summary() } : {}),
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
      // Each query reads the trail (every file) to count; deep pages cost a read each: older ones are reached with `to`.
      offset: T.Integer({ minimum: 0, maximum: 100000, default: 0 }),
      kind: T.Union(
        QUERY_KINDS.map((k) => T.Literal(k)),
        { default: 'view' },
      ),
      scope: T.Union([T.Literal('cluster'), T.Literal('node')], { default: 'cluster' }),
      format: T.Union([T.Literal('json'), T.Literal('csv')], { default: 'json' }),
    },
    { additionalProperties: false },
  );
  const auditRead = { summary: 'The audit trail, newest first, as JSON or CSV (admins)' };
  app.get('/api/audit', { schema: { ...auditRead, querystring: AuditQuery } }, async (req, reply) => {
    const admin = await authenticate(req, ['admin']);
    const { format, ...q } = req.query as AuditQuery & { scope: 'cluster' | 'node'; format: 'json' | 'csv' };
    // Reading the trail is itself audited, on disk before the answer.
    await deps.audit.record({
      kind: 'audit-read',
      at: new Date().toISOString(),
      sub: admin.sub,
      role: admin.role,
      query: q,
      format,
      client: req.ip,
      userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
    });
    // A cluster's trail is every node's: asked of each live node, merged (scope=node: this one only).
    const page = deps.cluster && q.scope === 'cluster' ? await deps.cluster.audit(q) : await deps.audit.query(q);
    if (format === 'json') return page;
    reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="audit.csv"')
      .header('x-total-count', String(page.total));
    return toCsv(page.records as Record<string, unknown>[]);
  });

  const TokenRequest = T.Object(
    {
      sub: T.String({ minLength: 1, maxLength: 128, description: 'who the token is for, e.g. the OPD app' }),
      streams: T.Array(StreamGlob, { minItems: 1, maxItems: GLOB_LIMITS.maxGlobs }),
      ttlSec: T.Integer({ minimum: 60, default: 3600 }),
    },
    { additionalProperties: false },
  );
  const TokenAnswer = T.Object(
    {
      token: T.String({ description: 'a viewer JWT' }),
      role: T.Literal('viewer'),
      streams: T.Array(T.String()),
      expiresAt: T.Integer({ description: 'seconds since the epoch' }),
    },
    { description: 'The embed token' },
  );
  const mint = { summary: 'Mint an embed (viewer) token (admins; integrators within their own streams)' };
  app.post('/api/tokens', { schema: { ...mint, body: TokenRequest, response: { 200: TokenAnswer } } }, async (req) => {
    const admin = await authenticate(req, ['admin', 'integrator']);
    const body = req.body as { sub: string; streams: string[]; ttlSec: number };
    if (body.ttlSec > deps.maxEmbedTtlSec) {
      throw new GatewayError('E_BAD_REQUEST', `ttlSec may be at most ${deps.maxEmbedTtlSec} for embed tokens`);
    }
    // An integrator (an OPD app) hands out only what it may watch itself.
    const outside = admin.role === 'integrator' ? body.streams.filter((g) => !globWithin(admin.streams, g)) : [];
    if (outside.length > 0) {
      throw new GatewayError(
        'E_FORBIDDEN_STREAM',
        `this integrator token may mint tokens only within ${admin.streams.join(', ')}; not ${outside.join(', ')}`,
      );
    }
    const token = deps.minter.sign({ sub: body.sub, role: 'viewer', streams: body.streams }, body.ttlSec);
    const expiresAt = Math.floor(Date.now() / 1000) + body.ttlSec;
    // On disk before the token is handed out; with audit.required an unauditable mint is refused.
    await deps.audit.record({
      kind: 'mint',
      at: new Date().toISOString(),
      sub: admin.sub,
      role: admin.role,
      for: body.sub,
      scope: { role: 'viewer', streams: body.streams },
      ttlSec: body.ttlSec,
      expiresAt: new Date(expiresAt * 1000).toISOString(),
      client: req.ip,
      userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
    });
    deps.logger.info(
      { by: admin.sub, for: body.sub, streams: body.streams, ttlSec: body.ttlSec },
      'embed token minted',
    );
    return { token, role: 'viewer', streams: body.streams, expiresAt };
  });

  if (fs.existsSync(deps.webRoot)) {
    await app.register(fastifyStatic, { root: deps.webRoot, prefix: '/', index: ['index.html'] });
    registerWebRoutes(app, deps.whep);
  } else {
    deps.logger.warn({ webRoot: deps.webRoot }, 'web client not built; run `npm run build:web`');
  }
  return app;
}

/**
 * CSP sources for the web client's inline scripts (web-client/build.mjs writes their hashes), as one
 * directive value; the file is read again when its modification time changes.
 */
function inlineScriptHashes(webRoot: string): () => string {
  const file = path.join(webRoot, 'inline-scripts.json');
  let mtime = -1;
  let value = "'self'";
  return () => {
    const m = fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0;
    if (m === mtime) return value;
    mtime = m;
    try {
      const { sha256 } = JSON.parse(fs.readFileSync(file, 'utf8')) as { sha256: string[] };
      value = sha256.map((h) => `'sha256-${h}'`).join(' ') || "'self'";
    } catch {
      value = "'self'"; // not built: the pages fail anyway, and say so in the log
    }
    return value;
  };
}
