// Page routes of the web client beyond static files:
//   /embed/<stream>  the iframe embed page, which reads the stream id from its own path
//   /m/<stream>      the single-stream (phone) view, a short link to share
//   /m/<stream>/manifest.webmanifest  the phone view's web app manifest: "add to home screen" reopens that camera
//   /login           the sign-in page (local accounts, the city's identity provider)
//   /cctv-player.js  the <cctv-player> web component, loadable as a module script from other origins
//                    (CORS); its WebSocket still needs the page's origin in signaling.allowedOrigins
import { Type as T } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';

// A page path names a stream id as the config spells them: anything else (`..%2f`, `%00`) is a 400.
const page = { schema: { params: T.Object({ stream: T.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }) }) } };

export function registerWebRoutes(app: FastifyInstance): void {
  app.get('/embed/:stream', page, (_req, reply) =>
    reply
      // The token rides in the URL: never send it on as a Referer.
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-store')
      .sendFile('embed.html'),
  );
  app.get('/m/:stream', page, (_req, reply) =>
    reply.header('referrer-policy', 'no-referrer').header('cache-control', 'no-store').sendFile('watch.html'),
  );
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
  app.get('/login', (_req, reply) => reply.header('cache-control', 'no-store').sendFile('login.html'));
  app.get('/cctv-player.js', (_req, reply) =>
    reply
      .header('access-control-allow-origin', '*')
      .header('cross-origin-resource-policy', 'cross-origin')
      .header('cache-control', 'public, max-age=300')
      .type('text/javascript; charset=utf-8')
      .sendFile('cctv-player.js'),
  );
}
