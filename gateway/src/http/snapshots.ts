// GET /api/streams/:id/snapshot.jpg: the newest picture of a stream, under the rules for watching it
// (a viewer's token only for streams in its scope). Every answer, picture or refusal, is audited.
import { type Static, Type as T } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../../../signaling/src/errors.js';
import { forbiddenOriginMessage, type PageOrigins, pageOriginCheck } from '../../../signaling/src/origins.js';
import type { SnapshotRecord } from '../audit/AuditLog.js';
import { type Claims, type Role, seesAllStreams, streamAllowed } from '../auth/tokens.js';
import type { SnapshotService } from '../snapshots/SnapshotService.js';
import type { StreamRegistry } from '../streams/StreamRegistry.js';

export interface SnapshotDeps {
  snapshots: SnapshotService;
  streams: StreamRegistry;
  authenticate: (req: FastifyRequest, roles: readonly Role[]) => Promise<Claims>;
  /** Writes the record before the picture is sent; throws (E_UNAVAILABLE) when it cannot be audited. */
  audit: (record: SnapshotRecord) => void;
  /** Seconds a client should wait after E_NO_PICTURE or E_CAPACITY. */
  retryAfterSec: number;
  /** Other origins whose players may fetch snapshots (`signaling.allowedOrigins`), besides the gateway's own. */
  allowedOrigins: readonly string[];
  /** `server.publicUrl` (its origin is the gateway's own pages behind a proxy). */
  publicUrl?: PageOrigins['publicUrl'];
  /** Origins admitted besides allowedOrigins, as they are now (in a cluster: the other nodes' pages). */
  extraOrigins?: PageOrigins['extraOrigins'];
}

const Params = T.Object({ id: T.String({ minLength: 1, maxLength: 128 }) });
const Query = T.Object(
  {
    variant: T.Union([T.Literal('main'), T.Literal('sub')], { default: 'main' }),
    width: T.Optional(T.Integer({ minimum: 16, maximum: 3840, description: 'scale to this width; height follows' })),
  },
  { additionalProperties: false },
);

export function registerSnapshots(parent: FastifyInstance, deps: SnapshotDeps): void {
  void parent.register(async (app) => routes(app, deps));
}

function routes(app: FastifyInstance, deps: SnapshotDeps): void {
  // CORS for players on other origins (<cctv-player> in an OPD app), as WHEP and /ws allow them.
  const originOk = pageOriginCheck(deps);
  app.addHook('onRequest', async (req, reply) => {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    if (!originOk(origin, req.host))
      throw new GatewayError('E_FORBIDDEN_ORIGIN', forbiddenOriginMessage(origin, 'fetch snapshots'));
    reply
      .header('access-control-allow-origin', origin)
      .header('vary', 'Origin')
      .header('access-control-expose-headers', 'X-Frame-Age-Ms, Retry-After');
  });
  app.options('/api/streams/:id/snapshot.jpg', { schema: { params: Params } }, async (_req, reply) =>
    reply
      .status(204)
      .header('access-control-allow-methods', 'GET, OPTIONS')
      .header('access-control-allow-headers', 'Authorization')
      .header('access-control-max-age', '600')
      .send(),
  );
  const summary = 'The latest frame as a JPEG (image/jpeg), or 503 with Retry-After while there is none';
  const snapshot = { schema: { summary, params: Params, querystring: Query } };
  app.get('/api/streams/:id/snapshot.jpg', snapshot, async (req, reply) => {
    const claims = await deps.authenticate(req, ['viewer', 'integrator', 'operator', 'admin']);
    const { id } = req.params as Static<typeof Params>;
    const { variant, width } = req.query as Static<typeof Query>;
    const record = (result: string) =>
      deps.audit({
        kind: 'snapshot',
        at: new Date().toISOString(),
        sub: claims.sub,
        role: claims.role,
        stream: id,
        variant,
        result,
        client: req.ip,
        userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
      });
    try {
      if (!seesAllStreams(claims.role) && !streamAllowed(claims, id))
        throw new GatewayError('E_FORBIDDEN_STREAM', `this token may not watch "${id}"`);
      const stream = deps.streams.list().find((s) => s.id === id);
      if (!stream) throw new GatewayError('E_NOT_FOUND', `no stream named "${id}"`);
      if (!stream.variants.includes(variant))
        throw new GatewayError('E_NOT_FOUND', `stream "${id}" has no ${variant} variant`);
      const snap = await deps.snapshots.take(deps.streams.get(id, variant), width);
      record('ok');
      reply
        .header('content-type', 'image/jpeg')
        .header('cache-control', 'no-store')
        .header('x-frame-age-ms', String(Math.max(0, Date.now() - snap.frameAt)));
      return reply.send(snap.jpeg);
    } catch (err) {
      const code = err instanceof GatewayError ? err.code : 'E_INTERNAL';
      try {
        record(code);
      } catch {} // the trail cannot be written: the refusal stands, and the trail's own alarm is raised
      if (code === 'E_NO_PICTURE' || code === 'E_CAPACITY') reply.header('retry-after', String(deps.retryAfterSec));
      throw err;
    }
  });
}
