// Page routes of the web client beyond static files:
//   /embed/<stream>  the iframe embed page, which reads the stream id from its own path
//   /m/<stream>      the single-stream (phone) view, a short link to share
//   /m/<stream>/manifest.webmanifest  the phone view's web app manifest: "add to home screen" reopens that camera
//   /login           the sign-in page (local accounts, the city's identity provider)
//   /cctv-player.js  the <cctv-player> web component, loadable as a module script from other origins
//                    (CORS); its WebSocket still needs the page's origin in signaling.allowedOrigins
//   /api/embed/origin?origin=  whether the embed may post its state and errors to a host page of that
//                    origin (the same answer /ws gives an upgrade from it)
import { Type as T } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { normalizeOrigin, type PageOrigins, pageOriginCheck } from '../../../signaling/src/origins.js';

// A page path names a stream id as the config spells them: anything else (`..%2f`, `%00`) is a 400.
const page = { schema: { params: T.Object({ stream: T.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }) }) } };

/**
 * A page is never stored (its URL may carry ?token=), so it has no validators either: a conditional
 * request gets the page, never a 304 with @fastify/send's `public, max-age=0`.
 */
function sendPage(reply: FastifyReply, file: string): FastifyReply {
  return reply
    .header('cache-control', 'no-store')
    .sendFile(file, { cacheControl: false, etag: false, lastModified: false });
}

const EmbedOrigin = {
  schema: {
    summary: 'Whether the embed may post its state to a host page of this origin',
    security: [], // answered without a token
    querystring: T.Object({ origin: T.String({ minLength: 1, maxLength: 300 }) }, { additionalProperties: false }),
    response: {
      200: T.Object({
        origin: T.Union([T.String(), T.Null()], { description: 'the origin, normalised; null if it is not one' }),
        allowed: T.Boolean({ description: 'it is the gateway itself or in signaling.allowedOrigins' }),
      }),
    },
  },
};

export function registerWebRoutes(app: FastifyInstance, origins: PageOrigins = { allowedOrigins: [] }): void {
  const originOk = pageOriginCheck(origins);
  // Same-origin only (no CORS): the embed page asks before it posts anything to its host page.
  app.get('/api/embed/origin', EmbedOrigin, async (req) => {
    const { origin } = req.query as { origin: string };
    return { origin: normalizeOrigin(origin) ?? null, allowed: originOk(origin, req.host) };
  });
  // The token rides in the URL: never send it on as a Referer.
  app.get('/embed/:stream', page, (_req, reply) =>
    sendPage(reply.header('referrer-policy', 'no-referrer'), 'embed.html'),
  );
  app.get('/m/:stream', page, (_req, reply) => sendPage(reply.header('referrer-policy', 'no-referrer'), 'watch.html'));
  app.get('/m/:stream/manifest.webmanifest', page, (req, reply) => {
    const { stream } = req.params as { stream: string };
    reply
      .type('application/manifest+json; charset=utf-8')
      .header('cache-control', 'no-cache')
      .send({
        name: `CCTV ${stream}`,
        short_name: stream.length > 12 ? `CCTV ${stream.slice(-8)}` : `CCTV ${stream}`,
        description: 'CCTV Kota Palembang: satu kamera, langsung',
        id: `/m/${stream}`,
        start_url: `/m/${stream}`,
        scope: '/',
        display: 'standalone',
        background_color: '#0a1119',
        theme_color: '#0a1119',
        icons: [{ src: '/favicon.svg', sizes: 'any', type: 'image/svg+xml', purpose: 'any' }],
      });
  });
  app.get('/login', (_req, reply) => sendPage(reply, 'login.html'));
  app.get('/cctv-player.js', (_req, reply) =>
    reply
      .header('access-control-allow-origin', '*')
      .header('cross-origin-resource-policy', 'cross-origin')
      .header('cache-control', 'public, max-age=300')
      .type('text/javascript; charset=utf-8')
      // @fastify/send would put its own `public, max-age=0` over the header above.
      .sendFile('cctv-player.js', { cacheControl: false }),
  );
}
