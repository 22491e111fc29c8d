// Page routes of the web client beyond static files: /embed/<stream> serves the embed page, which
// reads the stream id from its own path.
import type { FastifyInstance } from 'fastify';

export function registerWebRoutes(app: FastifyInstance): void {
  app.get('/embed/:stream', (_req, reply) => reply.sendFile('embed.html'));
}
