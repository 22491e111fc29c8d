// The answers of GET /api/streams and /api/streams/:id, as JSON Schema: they document the API
// (OpenAPI) and fastify serializes by them. Objects stay open (additionalProperties): a field added
// to the answer shows up before its schema says so, never dropped.
import { Type as T } from '@sinclair/typebox';

const open = { additionalProperties: true };
const nullableString = (description: string) => T.Union([T.String(), T.Null()], { description });

export const HealthSchema = T.Object(
  {
    state: T.Union([T.Literal('unknown'), T.Literal('up'), T.Literal('down'), T.Literal('unauthorized')], {
      description: 'whether the camera answers, watched or not',
    }),
    reason: T.Optional(nullableString('why it is down or unauthorized, free of secrets (operators and admins)')),
    since: T.String({ format: 'date-time', description: 'when the state last changed' }),
    lastContactAt: nullableString('when the camera last answered as it should; null: not since the gateway started'),
    checkedAt: T.Optional(nullableString('when it was last contacted at all (operators and admins)')),
  },
  open,
);

export const VariantStatusSchema = T.Object(
  {
    name: T.Union([T.Literal('main'), T.Literal('sub')]),
    state: T.Union(
      ['idle', 'starting', 'live', 'stalled', 'error', 'unauthorized'].map((s) => T.Literal(s)),
      { description: 'the ingest of this variant' },
    ),
    viewers: T.Integer({ minimum: 0 }),
    health: HealthSchema,
    // Operators and admins only:
    lastError: T.Optional(nullableString('the last ingest error, free of secrets')),
    uptimeSec: T.Optional(T.Integer({ description: 'seconds since it last went live (0: not live)' })),
    ingestBitrateBps: T.Optional(T.Number({ description: 'bits per second from the camera' })),
    egressBitrateBps: T.Optional(T.Number({ description: 'bits per second to viewers (estimate)' })),
    packetsLost: T.Optional(T.Integer({ description: 'packets the camera sent that never came' })),
    jitterMs: T.Optional(T.Number()),
    ffmpegRestarts: T.Optional(T.Integer({ description: 'ingest restarts (FFmpeg or the packet relay)' })),
    originWorker: T.Optional(T.Integer({ description: 'the mediasoup worker slot its Producers are on' })),
  },
  open,
);

export const StreamStatusSchema = T.Object(
  {
    id: T.String(),
    name: T.String({ description: 'the office' }),
    kecamatan: T.Optional(T.String()),
    kelurahan: T.Optional(T.String()),
    variants: T.Array(VariantStatusSchema),
    node: T.Optional(nullableString('in a cluster (operators): the node that ingests it; null: none now')),
  },
  open,
);

export const StreamListSchema = T.Object({ streams: T.Array(StreamStatusSchema) }, open);
