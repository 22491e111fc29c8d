// The REST API as an OpenAPI 3.1 document built from the routes' own schemas (@fastify/swagger),
// at GET /api/openapi.json, and as a page at /api/docs (@fastify/swagger-ui, its assets served from
// here: no CDN). Register before any route: the document is collected from fastify's onRoute hook.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { Type as T } from '@sinclair/typebox';
import type { FastifyInstance, FastifySchema } from 'fastify';

export const OPENAPI_URL = '/api/openapi.json';
export const DOCS_URL = '/api/docs';

/** The REST API and WHEP; pages, sign-in, health, metrics, the cluster's own calls and the docs' files stay out. */
export function documented(url: string): boolean {
  return (url.startsWith('/api/') && url !== DOCS_URL && !url.startsWith(`${DOCS_URL}/`)) || url.startsWith('/whep/');
}

/** The document's groups, by path. */
function tagOf(url: string): string {
  if (url.startsWith('/whep/')) return 'WHEP';
  if (url === OPENAPI_URL) return 'documentation';
  return url.split('/')[2] ?? 'api'; // streams, ops, audit, tokens
}

/** Every refusal's body (signaling/src/errors.ts publicError), whatever the route. */
const ErrorBody = T.Object(
  {
    error: T.Object({
      code: T.String({ description: 'stable, e.g. E_BAD_REQUEST, E_UNAUTHENTICATED, E_FORBIDDEN_STREAM' }),
      message: T.String(),
      reason: T.Optional(T.String({ description: 'a finer cause where there is one, e.g. expired' })),
    }),
  },
  { $id: 'Error', description: 'Refused: the error body every route shares' },
);

const PACKAGE_JSON = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../package.json');

type DocSchema = FastifySchema & { response?: Record<string, unknown>; security?: unknown[]; hide?: boolean };

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  const { version } = JSON.parse(fs.readFileSync(PACKAGE_JSON, 'utf8')) as { version: string };
  // Shared, so the document names it once (components/schemas/Error) and every route refers to it.
  app.addSchema(ErrorBody);
  await app.register(fastifySwagger, {
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => String(json['$id'] ?? `def-${i}`) },
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'CCTV gateway',
        version,
        description:
          'Streams, snapshots, operations, the audit trail and embed tokens; WHEP playback. ' +
          'Calls take `Authorization: Bearer <jwt>` (the scheme in any case) unless their `security` is empty.',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description:
              'A token of `npm run token`, `POST /api/tokens` or the identity provider; GET reads also take the sign-in cookie',
          },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: ({ schema, url, route }) => {
      const s: DocSchema = { ...((schema ?? {}) as DocSchema) };
      if (!documented(url)) return { schema: { ...s, hide: true }, url };
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      // CORS preflights and this document are answered without a token (a route may say so itself: `security: []`).
      if (methods.includes('OPTIONS') || url === OPENAPI_URL) s.security = [];
      if (methods.includes('OPTIONS')) s.summary ??= 'CORS preflight for players on other origins';
      s.tags = [tagOf(url)];
      s.response = { ...(s.response ?? { 200: { description: 'Success' } }), '4XX': { $ref: 'Error#' } };
      return { schema: s, url };
    },
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: DOCS_URL,
    // No call to swagger.io's validator (the default): the gateway may run where nothing outside answers.
    uiConfig: { deepLinking: true, persistAuthorization: false },
  });
  app.get(OPENAPI_URL, { schema: { summary: 'This document (OpenAPI 3.1)' } }, async () => app.swagger());
}
