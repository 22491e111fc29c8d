// WHEP (draft-ietf-wish-whep): a second front door on the viewing service, for players that are not
// ours. POST /whep/:stream an SDP offer → 201, the answer and the session URL (Location); PATCH it
// with trickle ICE; DELETE it to end the view. Tokens as the REST API: `Authorization: Bearer <jwt>`.
import { Type as T } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError, publicError } from '../../../signaling/src/errors.js';
import { forbiddenOriginMessage, type PageOrigins, pageOriginCheck } from '../../../signaling/src/origins.js';
import type { ViewingPort } from '../../../signaling/src/port.js';
import type { IceServer } from '../../../signaling/src/protocol.js';
import { bearerToken } from '../auth/tokens.js';
import type { Logger } from '../log.js';
import { parseTrickle } from '../viewing/whep/sdp.js';
import { WhepSessions } from '../viewing/whep/WhepSessions.js';

export interface WhepDeps {
  viewing: ViewingPort;
  /** Other origins whose pages may play (config `signaling.allowedOrigins`), besides the gateway's own. */
  allowedOrigins: readonly string[];
  /** `server.publicUrl` (its origin is the gateway's own pages behind a proxy). */
  publicUrl?: PageOrigins['publicUrl'];
  /** Origins admitted besides allowedOrigins, as they are now (in a cluster: the other nodes' pages). */
  extraOrigins?: PageOrigins['extraOrigins'];
  logger: Logger;
}

const SDP = 'application/sdp';
const SDPFRAG = 'application/trickle-ice-sdpfrag';
const EXPOSED = 'Location, ETag, Link, Accept-Patch, Retry-After';
/** Retry-After (s) on 503: a full gateway or a camera that is starting or down (RFC 9725 §4.6.1). */
const RETRY_AFTER_SEC = 10;

const StreamParams = T.Object({ stream: T.String({ minLength: 1, maxLength: 128 }) });
const SessionParams = T.Object({ id: T.String({ minLength: 1, maxLength: 64 }) });
const VariantQuery = T.Object(
  { variant: T.Optional(T.Union([T.Literal('main'), T.Literal('sub')])) },
  { additionalProperties: false },
);

/** Registers the WHEP routes in their own scope (their body parsers, CORS and error answers stay in it). */
export function registerWhep(app: FastifyInstance, deps: WhepDeps): WhepSessions {
  const sessions = new WhepSessions(deps.viewing, deps.logger.child({ component: 'whep' }));
  app.addHook('onClose', async () => sessions.close());
  const originOk = pageOriginCheck(deps);
  void app.register(async (whep) => {
    // Every body as text: a wrong type is then this scope's 415, not the JSON parser's error.
    whep.removeAllContentTypeParsers();
    whep.addContentTypeParser('*', { parseAs: 'string' }, textBody);

    // CORS for other origins' players; a request from an origin not allowed is refused, as /ws does.
    whep.addHook('onRequest', async (req, reply) => {
      const origin = req.headers.origin;
      if (origin === undefined) return;
      if (!originOk(origin, req.host)) {
        throw new GatewayError('E_FORBIDDEN_ORIGIN', forbiddenOriginMessage(origin, 'use WHEP'));
      }
      reply.header('access-control-allow-origin', origin);
      reply.header('vary', 'Origin');
      reply.header('access-control-expose-headers', EXPOSED);
    });
    whep.setErrorHandler((err, _req, reply) => fail(reply, err, deps.logger));

    const preflight = (methods: string) => async (_req: FastifyRequest, reply: FastifyReply) => {
      reply
        .status(204)
        .header('access-control-allow-methods', methods)
        .header('access-control-allow-headers', 'Authorization, Content-Type, If-Match')
        .header('access-control-max-age', '600')
        .header('accept-post', SDP)
        .send();
      return reply;
    };
    whep.options('/whep/:stream', { schema: { params: StreamParams } }, preflight('POST, OPTIONS'));
    whep.options('/whep/sessions/:id', { schema: { params: SessionParams } }, preflight('PATCH, DELETE, OPTIONS'));

    whep.post(
      '/whep/:stream',
      {
        schema: {
          summary: 'WHEP (RFC 9725): an SDP offer (application/sdp) in; 201, the answer and Location',
          params: StreamParams,
          querystring: VariantQuery,
        },
      },
      async (req: FastifyRequest, reply: FastifyReply) => {
        requireType(req, SDP);
        const { stream } = req.params as { stream: string };
        const { variant } = req.query as { variant?: 'main' | 'sub' };
        const opened = await sessions.open({
          token: bearer(req),
          offer: req.body as string,
          stream,
          variant,
          peer: { address: req.ip, userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256) },
        });
        const links = opened.iceServers.flatMap(iceServerLinks);
        reply
          .status(201)
          .header('content-type', SDP)
          .header('location', `/whep/sessions/${opened.id}`)
          .header('etag', opened.etag)
          .header('accept-patch', SDPFRAG)
          .header('cache-control', 'no-store');
        if (links.length) reply.header('link', links.join(', '));
        return opened.answer;
      },
    );

    // Trickle ICE. mediasoup is ICE-lite: it never sends connectivity checks, it answers the player's
    // and learns its address from them, so the player's candidates have nothing to do here (RFC 8445
    // §2.5). They are accepted and ignored (204). An ICE restart (new ufrag) is not supported: 422, as
    // RFC 9725 §4.3.2 says for a resource that does trickle but not restarts; the player POSTs anew.
    const trickle = { summary: 'Trickle ICE (application/trickle-ice-sdpfrag): accepted and ignored (ICE-lite)' };
    whep.patch('/whep/sessions/:id', { schema: { ...trickle, params: SessionParams } }, async (req, reply) => {
      const { id } = req.params as { id: string };
      const s = await sessions.authorize(id, bearer(req));
      requireType(req, SDPFRAG);
      const ifMatch = req.headers['if-match'];
      if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== s.etag) {
        reply.status(412);
        return { error: { code: 'E_BAD_REQUEST', message: 'If-Match names another ICE session', reason: 'etag' } };
      }
      const frag = parseTrickle(req.body as string);
      if (frag.iceUfrag !== undefined && frag.iceUfrag !== s.remoteUfrag) {
        reply.status(422);
        return {
          error: {
            code: 'E_UNSUPPORTED',
            message: 'ICE restart is not supported; POST a new offer',
            reason: 'ice_restart',
          },
        };
      }
      reply.status(204).send();
      return reply;
    });

    const end = { schema: { summary: 'End the session', params: SessionParams } };
    whep.delete('/whep/sessions/:id', end, async (req) => {
      const { id } = req.params as { id: string };
      await sessions.authorize(id, bearer(req));
      sessions.delete(id);
      return { ok: true };
    });
  });
  return sessions;
}

async function textBody(_req: FastifyRequest, body: string | Buffer): Promise<string> {
  return String(body);
}

function bearer(req: FastifyRequest): string {
  return bearerToken(req.headers.authorization) ?? '';
}

function requireType(req: FastifyRequest, type: string): void {
  const got = String(req.headers['content-type'] ?? '')
    .split(';')[0]
    ?.trim()
    .toLowerCase();
  if (got !== type) throw new WhepTypeError(type);
}

class WhepTypeError extends GatewayError {
  constructor(type: string) {
    super('E_BAD_REQUEST', `the body must be ${type}`, 'content_type');
  }
}

/** The project's error body; WHEP's own statuses where they differ from the GatewayError's. */
function fail(reply: FastifyReply, err: unknown, logger: Logger): void {
  const e =
    err instanceof GatewayError
      ? err
      : (err as { statusCode?: number }).statusCode === 413
        ? new GatewayError('E_TOO_LARGE', (err as Error).message)
        : (err as { validation?: unknown }).validation || clientStatus(err)
          ? new GatewayError('E_BAD_REQUEST', (err as Error).message)
          : err;
  const pub = publicError(e);
  if (pub.code === 'E_INTERNAL') logger.error({ err }, 'WHEP request failed');
  let status = e instanceof GatewayError ? e.status : 500;
  if (e instanceof WhepTypeError) status = 415;
  if (status === 503) reply.header('retry-after', String(RETRY_AFTER_SEC));
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  reply.status(status).send({ error: pub });
}

/** A 4xx that fastify raised (a body too large or malformed): the client's doing. */
function clientStatus(err: unknown): boolean {
  const status = (err as { statusCode?: number }).statusCode ?? 0;
  return status >= 400 && status < 500;
}

/** RFC 8288 Link values for an ICE server, as draft-ietf-wish-whep / RFC 9725 §4.4 spell them. */
export function iceServerLinks(s: IceServer): string[] {
  const q = (v: string) => `"${v.replace(/["\\]/g, '')}"`;
  return s.urls.map(
    (url) =>
      `<${url}>; rel="ice-server"; username=${q(s.username)}; credential=${q(s.credential)}; credential-type="password"`,
  );
}
