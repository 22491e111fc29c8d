// The signaling wire protocol: JSON over WebSocket, every message checked against these schemas.
//   client → server  { id, method, data }          a request
//   server → client  { id, ok: true, data }         its answer
//                    { id, ok: false, error: { code, message } }
//                    { notification, data }         something happened (consumer closed, ...)
import { type Static, Type as T } from '@sinclair/typebox';

export const RequestEnvelope = T.Object(
  {
    id: T.Integer({ minimum: 0, maximum: 2 ** 31 }),
    method: T.String({ maxLength: 64 }),
    data: T.Optional(T.Object({})),
  },
  { additionalProperties: false },
);

const Id = T.String({ minLength: 1, maxLength: 128 });
const Variant = T.Union([T.Literal('main'), T.Literal('sub')]);
const Kind = T.Union([T.Literal('audio'), T.Literal('video')]);
const Short = T.String({ minLength: 1, maxLength: 64 });
const strict = { additionalProperties: false } as const;

// What mediasoup reads of a client's DTLS and RTP parameters, shaped here so that nonsense is
// refused with its path (E_BAD_REQUEST) before it reaches mediasoup or its worker.
const DtlsParameters = T.Object(
  {
    role: T.Optional(T.Union([T.Literal('auto'), T.Literal('client'), T.Literal('server')])),
    fingerprints: T.Array(
      T.Object(
        {
          algorithm: T.Union(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512'].map((a) => T.Literal(a))),
          // Colon-separated hex bytes: 20 (SHA-1) to 64 (SHA-512).
          value: T.String({ maxLength: 191, pattern: '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){19,63}$' }),
        },
        strict,
      ),
      { minItems: 1, maxItems: 8 },
    ),
  },
  strict,
);

const RtpCodecCapability = T.Object(
  {
    kind: T.Optional(Kind),
    mimeType: T.String({ maxLength: 80, pattern: '^[A-Za-z]+/[A-Za-z0-9._+-]+$' }),
    preferredPayloadType: T.Optional(T.Integer({ minimum: 0, maximum: 127 })),
    clockRate: T.Integer({ minimum: 1, maximum: 1e7 }),
    channels: T.Optional(T.Integer({ minimum: 1, maximum: 8 })),
    parameters: T.Optional(
      T.Record(T.String(), T.Union([T.String({ maxLength: 256 }), T.Number()]), { maxProperties: 32 }),
    ),
    rtcpFeedback: T.Optional(
      T.Array(T.Object({ type: Short, parameter: T.Optional(T.String({ maxLength: 64 })) }, strict), { maxItems: 16 }),
    ),
  },
  strict,
);

const RtpHeaderExtension = T.Object(
  {
    kind: Kind,
    uri: T.String({ minLength: 1, maxLength: 256 }),
    // One-byte header extension ids, the only ones the routers offer.
    preferredId: T.Integer({ minimum: 1, maximum: 14 }),
    preferredEncrypt: T.Optional(T.Boolean()),
    direction: T.Optional(
      T.Union([T.Literal('sendrecv'), T.Literal('sendonly'), T.Literal('recvonly'), T.Literal('inactive')]),
    ),
  },
  strict,
);

const RtpCapabilities = T.Object(
  {
    codecs: T.Optional(T.Array(RtpCodecCapability, { maxItems: 64 })),
    headerExtensions: T.Optional(T.Array(RtpHeaderExtension, { maxItems: 32 })),
  },
  strict,
);

/** Data schema per method: the source of truth for what each method accepts. */
export const Methods = {
  auth: T.Object({ token: T.String({ minLength: 1, maxLength: 8192 }) }, { additionalProperties: false }),
  listStreams: T.Object({}, { additionalProperties: false }),
  getRouterRtpCapabilities: T.Object({}, { additionalProperties: false }),
  createTransport: T.Object({ forceTcp: T.Optional(T.Boolean()) }, { additionalProperties: false }),
  connectTransport: T.Object(
    {
      transportId: Id,
      dtlsParameters: DtlsParameters,
    },
    { additionalProperties: false },
  ),
  consume: T.Object(
    {
      transportId: Id,
      stream: Id,
      variant: T.Optional(Variant),
      rtpCapabilities: RtpCapabilities,
      /**
       * 'smooth' (default): the browser's own playout smoothing. 'low': each frame is shown as soon
       * as it is decoded (playout-delay 0), for steady networks such as the Command Center's LAN.
       */
      latency: T.Optional(T.Union([T.Literal('smooth'), T.Literal('low')])),
    },
    { additionalProperties: false },
  ),
  resume: T.Object({ consumerId: Id }, { additionalProperties: false }),
  closeConsumer: T.Object({ consumerId: Id }, { additionalProperties: false }),
  /** The viewer's own measurement: consume request to first decoded frame, for the TTFF histogram. */
  reportFirstFrame: T.Object(
    { consumerId: Id, ms: T.Number({ minimum: 0, maximum: 120000 }) },
    { additionalProperties: false },
  ),
} as const;

export type Method = keyof typeof Methods;
export type RequestData<M extends Method> = Static<(typeof Methods)[M]>;

export interface ConsumerInfo {
  id: string;
  producerId: string;
  kind: 'audio' | 'video';
  rtpParameters: unknown;
}

export type Variant = 'main' | 'sub';

export interface StreamSummary {
  id: string;
  name: string;
  kecamatan?: string;
  kelurahan?: string;
  variants: Variant[];
  state: string;
}

export interface Identity {
  sub: string;
  role: string;
  expiresAt: number;
  /** In a cluster: the /ws URLs of the other live nodes, to connect to if this one goes away. */
  nodes?: string[];
}

/** A TURN server as RTCIceServer wants it; the credential is coturn's REST-scheme one (turn.ts). */
export interface IceServer {
  urls: string[];
  username: string;
  credential: string;
}

/** What each method answers. */
export interface Responses {
  auth: Identity;
  listStreams: { streams: StreamSummary[] };
  getRouterRtpCapabilities: { rtpCapabilities: unknown };
  /** iceServers: TURN relays with credentials for this viewer only (short-lived; never the secret). */
  createTransport: {
    id: string;
    iceParameters: unknown;
    iceCandidates: unknown;
    dtlsParameters: unknown;
    iceServers?: IceServer[];
  };
  connectTransport: Record<string, never>;
  consume: { stream: string; variant: 'main' | 'sub'; consumers: ConsumerInfo[] };
  resume: Record<string, never>;
  closeConsumer: Record<string, never>;
  reportFirstFrame: Record<string, never>;
}

export interface Notifications {
  /**
   * reason: why (e.g. 'stream_moved': the stream's media moved to another worker; consume it again
   * at once, it is no error).
   */
  consumerClosed: { consumerId: string; reason: string };
  /** The transport is gone with its worker ('worker_died'): make a new one and consume again. */
  transportClosed: { transportId: string; reason: string };
  /** reason: 'expired', or how a sign-in session ended: 'signed_out', 'revoked', 'disabled'. */
  authExpired: { code: 'E_AUTH_EXPIRED'; message: string; reason?: string };
  closing: { code: string; message: string };
  streamState: { stream: string; variant: 'main' | 'sub'; state: string; detail?: string };
  /** In a cluster: the other live nodes' /ws URLs changed (Identity.nodes, now). */
  clusterNodes: { nodes: string[] };
}
