// The gateway's configuration: one JSON Schema (TypeBox) that is also the TypeScript type.
import { type Static, Type as T } from '@sinclair/typebox';

const Id = T.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$', description: 'lower-case id used in URLs and metrics' });
const Port = T.Integer({ minimum: 0, maximum: 65535 });
const Seconds = (def: number, min = 0) => T.Number({ minimum: min, default: def });

export const VariantSchema = T.Object(
  {
    url: T.String({
      pattern: '^rtsps?://',
      description:
        "RTSP URL. The user and password in it are percent-encoded as RFC 3986 says ('@' %40, '/' %2F, '#' %23, '?' %3F, '%' %25, space %20, non-ASCII as its UTF-8 bytes; a ':' in the password may stay); a URL that would be misread is refused. Or write ${ENV_VAR} and put the plain password (never pre-encoded) in that variable: the loader encodes it, and the password stays out of the file",
    }),
    transcode: T.Union([T.Literal('auto'), T.Literal('always'), T.Literal('never')], { default: 'auto' }),
  },
  { additionalProperties: false },
);

export const OnvifSchema = T.Object(
  {
    url: T.Optional(
      T.String({
        pattern: '^https?://[^/?#@]+(?:[/?#]|$)',
        description:
          "the camera's ONVIF Media service, without credentials; default http://<host of main's RTSP URL>/onvif/media_service",
      }),
    ),
    user: T.Optional(T.String({ minLength: 1, description: "default: the user of main's RTSP URL" })),
    password: T.Optional(
      T.String({
        description:
          "default: the password of main's RTSP URL (with user unset or the same); or ${ENV_VAR}: taken from the environment as it is (plain text)",
      }),
    ),
    profileToken: T.Optional(
      T.String({ minLength: 1, maxLength: 64, description: "main's profile; default: the first GetProfiles lists" }),
    ),
    subProfileToken: T.Optional(
      T.String({ minLength: 1, maxLength: 64, description: "sub's profile; default: the second GetProfiles lists" }),
    ),
    timeoutSec: T.Optional(T.Number({ minimum: 0.1, maximum: 30, description: 'per SOAP request; default 2' })),
  },
  { additionalProperties: false },
);

export const CameraSchema = T.Object(
  {
    id: Id,
    name: T.String({ minLength: 1 }),
    kecamatan: T.Optional(T.String()),
    kelurahan: T.Optional(T.String()),
    main: VariantSchema,
    sub: T.Optional(VariantSchema),
    alwaysOn: T.Boolean({ default: false }),
    rtspTransport: T.Union([T.Literal('auto'), T.Literal('tcp'), T.Literal('udp')], {
      default: 'auto',
      description:
        'auto: TCP, then UDP when the camera refuses TCP (461) or sends nothing over it; what worked is remembered',
    }),
    audio: T.Boolean({ default: false, description: 'relay the camera audio (G.711 passed through, AAC to Opus)' }),
    ingest: T.Optional(
      T.Union([T.Literal('auto'), T.Literal('packet'), T.Literal('ffmpeg')], {
        default: 'auto',
        description:
          'auto: relay RTP packets as they arrive for H.264 (with G.711/Opus audio), FFmpeg when transcoding is needed; packet: always the packet relay; ffmpeg: always FFmpeg',
      }),
    ),
    onvif: T.Optional(
      // The object first: a mistyped field is then reported by name, not as "must be false".
      T.Union([OnvifSchema, T.Literal(false)], {
        description:
          'ask the camera for a keyframe with ONVIF Media SetSynchronizationPoint when a viewer needs one (for cameras that ignore RTCP PLI); absent or false: never ({} turns it on with the defaults)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const SimulatedCameraSchema = T.Object(
  {
    id: Id,
    name: T.String({ minLength: 1 }),
    kecamatan: T.Optional(T.String()),
    profile: T.Union([T.Literal('baseline'), T.Literal('main'), T.Literal('high')], { default: 'baseline' }),
    codec: T.Union([T.Literal('h264'), T.Literal('h265')], { default: 'h264' }),
    width: T.Integer({ minimum: 16, maximum: 3840, default: 640 }),
    height: T.Integer({ minimum: 16, maximum: 2160, default: 360 }),
    fps: T.Integer({ minimum: 1, maximum: 60, default: 25 }),
    gop: T.Integer({ minimum: 1, maximum: 600, default: 25 }),
    bitrateKbps: T.Integer({ minimum: 50, maximum: 20000, default: 1000 }),
    sub: T.Boolean({ default: false, description: 'also serve a low-resolution sub stream' }),
    alwaysOn: T.Boolean({ default: false }),
    onvif: T.Optional(
      T.Boolean({ description: 'the simulated camera speaks ONVIF Media and the gateway asks it for keyframes' }),
    ),
  },
  { additionalProperties: false },
);

export const ConfigSchema = T.Object(
  {
    server: T.Object(
      {
        host: T.String({ default: '0.0.0.0' }),
        port: T.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
        publicUrl: T.Optional(T.String({ description: 'URL printed for people to open' })),
        headersTimeoutSec: T.Number({
          minimum: 1,
          default: 10,
          description: 'a connection must send its request headers within this; then 408 and closed',
        }),
        requestTimeoutSec: T.Number({
          minimum: 1,
          default: 30,
          description: 'the whole request (headers and body) must arrive within this; at least headersTimeoutSec',
        }),
        idleTimeoutSec: T.Number({
          minimum: 1,
          default: 60,
          description: 'an HTTP connection with no traffic either way for this long is closed (not WebSockets)',
        }),
        maxConnectionsPerAddress: T.Integer({
          minimum: 0,
          default: 64,
          description:
            'open connections (WebSockets included) one client address may hold; 0 = no cap (behind a proxy)',
        }),
        trustProxy: T.Array(T.String({ minLength: 1, maxLength: 64 }), {
          default: [],
          maxItems: 64,
          description:
            'addresses or CIDRs of reverse proxies: only a connection from one of them has its X-Forwarded-For/-Proto/-Host believed (client address, scheme, host); empty = none',
        }),
        tls: T.Optional(
          T.Object(
            {
              cert: T.String({ minLength: 1, description: 'PEM certificate (chain) file' }),
              key: T.String({ minLength: 1, description: 'PEM private key file' }),
            },
            { additionalProperties: false, description: 'the gateway serves HTTPS and WSS itself' },
          ),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    log: T.Object(
      {
        level: T.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => T.Literal(l)),
          { default: 'info' },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    media: T.Object(
      {
        workers: T.Integer({ minimum: 0, maximum: 64, default: 0, description: '0 = one per core' }),
        listenIp: T.String({ default: '0.0.0.0' }),
        announcedAddress: T.Optional(T.String({ description: 'address browsers reach; defaults to listenIp' })),
        rtcPort: T.Integer({
          minimum: 0,
          maximum: 65535,
          default: 40000,
          description: 'WebRtcServer port of worker 0; worker i uses rtcPort + i (UDP and TCP); 0 = any free port',
        }),
        rtpPortRange: T.Object(
          { min: Port, max: Port },
          { additionalProperties: false, default: { min: 42000, max: 42999 } },
        ),
        logLevel: T.Union([T.Literal('debug'), T.Literal('warn'), T.Literal('error'), T.Literal('none')], {
          default: 'warn',
        }),
        respawnBackoffInitialMs: T.Integer({
          minimum: 10,
          default: 250,
          description: 'pause before a dead worker is replaced; doubles per death up to the max',
        }),
        respawnBackoffMaxMs: T.Integer({ minimum: 100, default: 10000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    ingest: T.Object(
      {
        ffmpegPath: T.String({ default: '/usr/bin/ffmpeg' }),
        ffprobePath: T.String({
          default: '/usr/bin/ffprobe',
          description: 'unused: cameras are described by the gateway itself (kept so older files still load)',
        }),
        idleTimeoutSec: Seconds(30),
        stallTimeoutSec: Seconds(5, 1),
        connectTimeoutSec: Seconds(5, 1),
        backoffInitialMs: T.Integer({ minimum: 10, default: 500 }),
        backoffMaxMs: T.Integer({ minimum: 100, default: 3000 }),
        authRetryInitialSec: T.Number({
          minimum: 1,
          default: 300,
          description:
            'after a camera rejects the password, wait this long before the next login; doubles per rejection (cameras lock accounts)',
        }),
        authRetryMaxSec: T.Number({ minimum: 1, default: 3600 }),
        keyframeCacheKiB: T.Integer({
          minimum: 0,
          maximum: 262144,
          default: 4096,
          description:
            'per stream variant: the video since its latest keyframe, kept for snapshots (a longer GOP keeps its start); 0: no snapshots',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    snapshots: T.Object(
      {
        decoderPath: T.Optional(
          T.String({
            description:
              'the snapshot decoder (gateway/src/snapshots/snapshotter.c, built by scripts/setup.sh); default .cache/snapshotter/snapshotter of this checkout; CCTV_SNAPSHOTTER_BIN',
          }),
        ),
        maxConcurrent: T.Integer({
          minimum: 1,
          maximum: 64,
          default: 2,
          description: 'snapshot decoder processes, each decoding one GOP at a time',
        }),
        maxQueued: T.Integer({
          minimum: 0,
          default: 32,
          description: 'decodes waiting for a slot; beyond, E_CAPACITY',
        }),
        cacheMs: T.Integer({
          minimum: 0,
          maximum: 60000,
          default: 1000,
          description: 'a JPEG taken this recently is served again to the next request for it',
        }),
        waitSec: Seconds(5, 0),
        maxFrameAgeSec: T.Number({
          minimum: 0.1,
          default: 3,
          description: 'a camera whose newest frame is older than this has no picture now (E_NO_PICTURE)',
        }),
        quality: T.Integer({
          minimum: 2,
          maximum: 31,
          default: 4,
          description: "FFmpeg's JPEG qscale: 2 best, 31 worst",
        }),
        decodeTimeoutSec: Seconds(5, 1),
      },
      { additionalProperties: false, default: {} },
    ),
    auth: T.Object(
      {
        algorithm: T.Union([T.Literal('HS256'), T.Literal('RS256'), T.Literal('ES256')], {
          default: 'HS256',
          description: 'the only algorithm accepted; pinned so a token cannot choose its own',
        }),
        jwtSecret: T.Optional(T.String({ minLength: 16, description: 'HS256 secret; set with CCTV_JWT_SECRET' })),
        publicKeyFile: T.Optional(T.String({ description: 'RS256/ES256 public key (PEM) that verifies tokens' })),
        privateKeyFile: T.Optional(T.String({ description: 'RS256/ES256 private key (PEM), only to mint tokens' })),
        issuer: T.String({ default: 'cctv-gateway' }),
        audience: T.String({ default: 'cctv-gateway' }),
        clockToleranceSec: T.Integer({ minimum: 0, maximum: 300, default: 5 }),
        maxEmbedTtlSec: T.Integer({ minimum: 60, default: 86400 }),
        allowAnonymousMetrics: T.Optional(
          T.Boolean({
            description:
              'GET /metrics on the public port without a token; default: yes, except in production (NODE_ENV=production or a public URL that is not loopback). See metrics',
          }),
        ),
        jwks: T.Optional(
          T.Object(
            {
              url: T.String({
                pattern: '^https?://',
                description: "an identity provider's JWKS URL: its RS256/ES256 tokens are checked against it",
              }),
              issuer: T.String({ minLength: 1, description: 'the iss of those tokens (the provider)' }),
              audience: T.Optional(T.String({ description: 'their aud; default auth.audience' })),
            },
            { additionalProperties: false },
          ),
        ),
        sessions: T.Object(
          {
            secret: T.Optional(
              T.String({
                minLength: 32,
                description:
                  'signs sign-in cookies and their access tokens; set with CCTV_SESSION_SECRET (default: derived from CCTV_JWT_SECRET)',
              }),
            ),
            ttlSec: T.Integer({
              minimum: 300,
              default: 43_200,
              description: 'a sign-in lasts this long at most; then the person signs in again',
            }),
            accessTtlSec: T.Integer({
              minimum: 30,
              maximum: 3600,
              default: 300,
              description: "lifetime of the page's access token, renewed from the cookie while the session holds",
            }),
            revokedFile: T.String({
              default: 'var/sessions-revoked.jsonl',
              description: 'signed-out sessions, kept until they would have expired (a restart keeps them out)',
            }),
          },
          { additionalProperties: false, default: {} },
        ),
        accounts: T.Object(
          {
            enabled: T.Boolean({ default: true, description: 'sign-in with local accounts (npm run users)' }),
            file: T.String({ default: 'var/users.json', description: 'accounts made with `npm run users`' }),
            maxFailures: T.Integer({
              minimum: 1,
              default: 5,
              description: 'wrong passwords in a row before the account is locked',
            }),
            lockoutSec: T.Integer({ minimum: 1, default: 60, description: 'first lock; doubles per lock' }),
            lockoutMaxSec: T.Integer({ minimum: 1, default: 3600 }),
          },
          { additionalProperties: false, default: {} },
        ),
        oidc: T.Optional(
          T.Object(
            {
              issuer: T.String({ pattern: '^https?://', description: 'the OpenID provider (its discovery base URL)' }),
              clientId: T.String({ minLength: 1 }),
              clientSecret: T.Optional(T.String({ minLength: 1, description: 'set with CCTV_OIDC_CLIENT_SECRET' })),
              label: T.String({ default: 'SSO', description: 'the sign-in button says "Masuk dengan <label>"' }),
              scopes: T.String({ default: 'openid profile email' }),
              redirectUrl: T.Optional(
                T.String({
                  description: 'default: server.publicUrl + /auth/oidc/callback (register it at the provider)',
                }),
              ),
              roleClaim: T.String({
                default: 'groups',
                description: 'the ID token or userinfo claim (string or list) the roles are mapped from',
              }),
              roles: T.Array(
                T.Object(
                  {
                    value: T.String({ minLength: 1, description: 'a value of roleClaim, e.g. cctv-operators' }),
                    role: T.Union([
                      T.Literal('viewer'),
                      T.Literal('integrator'),
                      T.Literal('operator'),
                      T.Literal('admin'),
                    ]),
                    streams: T.Array(T.String({ minLength: 1, maxLength: 128 }), { default: ['*'], maxItems: 50 }),
                  },
                  { additionalProperties: false },
                ),
                { default: [], description: 'the highest role a person matches wins; none: refused' },
              ),
              allowHttp: T.Boolean({
                default: false,
                description: 'talk to the provider over plain http (a provider on loopback only)',
              }),
            },
            { additionalProperties: false },
          ),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    signaling: T.Object(
      {
        authTimeoutSec: T.Number({ minimum: 0.1, default: 5 }),
        maxMessageBytes: T.Integer({ minimum: 1024, maximum: 1048576, default: 16384 }),
        ratePerSec: T.Number({
          minimum: 1,
          default: 20,
          description: 'messages per second per connection (burst: 2x)',
        }),
        maxTransports: T.Integer({ minimum: 1, default: 4 }),
        maxConsumers: T.Integer({ minimum: 1, default: 64 }),
        pingIntervalSec: T.Number({ minimum: 0.1, default: 15 }),
        allowedOrigins: T.Array(
          T.String({
            // The loader says what is wrong with an entry first (signaling/src/origins.ts); this is the shape.
            pattern: '^[hH][tT][tT][pP][sS]?://(\\*\\.)?[^/?#@*\\s]+/?$',
            maxLength: 300,
            description:
              'an origin (https://opd.palembang.go.id) or every subdomain of one (https://*.palembang.go.id)',
          }),
          {
            default: [],
            description:
              'browser origins (besides the gateway itself) whose pages may open /ws, use WHEP and fetch snapshots: exact origins (scheme, host, port; case, a trailing slash and the default port do not matter) or https://*.palembang.go.id for every subdomain at any depth (not palembang.go.id itself, not another scheme or port)',
          },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    health: T.Object(
      {
        checkIntervalSec: T.Number({
          minimum: 1,
          default: 120,
          description:
            'each camera nobody watches is checked (one RTSP DESCRIBE) once per interval, spread over it; a camera that rejected the password is not checked before its backoff',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    // Prometheus' door: a private listen address, and/or a token for the public port (README: Operations).
    metrics: T.Object(
      {
        listen: T.Optional(
          T.Object(
            {
              host: T.String({ minLength: 1, default: '127.0.0.1', description: 'env CCTV_METRICS_HOST' }),
              port: T.Integer({ minimum: 0, maximum: 65535, description: 'env CCTV_METRICS_PORT; 0 = any free port' }),
            },
            {
              additionalProperties: false,
              description:
                'serve /metrics (no token needed, unless metrics.token is set) on this address instead of the public port, which then answers 404',
            },
          ),
        ),
        token: T.Optional(
          T.String({
            minLength: 16,
            description:
              'a bearer token Prometheus sends for /metrics (authorization: Bearer …); set with CCTV_METRICS_TOKEN, never in the file',
          }),
        ),
        eventLoopPrecisionMs: T.Integer({
          minimum: 1,
          maximum: 1000,
          default: 10,
          description:
            'sampling of the event loop delay histogram (nodejs_eventloop_lag_*): one thread relays every camera',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    capacity: T.Object(
      {
        viewersPerStream: T.Integer({ minimum: 0, default: 0, description: '0 = no limit' }),
        consumersPerWorker: T.Integer({ minimum: 1, default: 1000 }),
        egressMbps: T.Number({ minimum: 1, default: 900, description: 'estimated egress this node may send' }),
      },
      { additionalProperties: false, default: {} },
    ),
    audit: T.Object(
      {
        file: T.String({
          default: 'var/audit.jsonl',
          description: 'the live file of the trail: hash-chained JSON lines; rotated files sit beside it',
        }),
        checkpointSec: T.Number({
          minimum: 0.1,
          maximum: 3600,
          default: 30,
          description: 'a signed checkpoint this often: a crash closes open views at the last one',
        }),
        rotate: T.Object(
          {
            daily: T.Boolean({ default: true, description: 'a new file at each UTC midnight' }),
            maxBytes: T.Integer({ minimum: 1024, default: 67108864, description: 'a new file past this size' }),
          },
          { additionalProperties: false, default: {} },
        ),
        retentionDays: T.Integer({
          minimum: 0,
          default: 730,
          description: 'rotated files older than this are deleted; 0 keeps them for ever',
        }),
        required: T.Boolean({
          default: false,
          description: 'refuse new views, sign-ins and token mints while the trail cannot be written',
        }),
        key: T.Optional(
          T.String({
            minLength: 32,
            description: 'HMAC secret checkpoints are signed with; set CCTV_AUDIT_KEY, not the file',
          }),
        ),
        signingKeyFile: T.Optional(
          T.String({ description: 'an Ed25519 private key (PEM) to sign checkpoints with instead of `key`' }),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    redis: T.Optional(T.Object({ url: T.String({ pattern: '^rediss?://' }) }, { additionalProperties: false })),
    cluster: T.Optional(
      T.Object(
        {
          redis: T.String({
            pattern: '^(rediss?|redis-sentinel)://',
            description:
              'the Redis the nodes coordinate through (redis://host:6379, or redis-sentinel://s1:26379,s2:26379/mymaster); set: this gateway is one node of a cluster',
          }),
          secret: T.Optional(
            T.String({
              minLength: 32,
              description: 'signs every node-to-node request; set with CCTV_CLUSTER_SECRET, the same on every node',
            }),
          ),
          nodeId: T.Optional(T.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$', description: 'default: host:port' })),
          internalAddress: T.Optional(
            T.String({
              description:
                'the address other nodes reach this one at (its HTTP port and media pipes); default server.host',
            }),
          ),
          heartbeatSec: T.Number({ minimum: 0.2, default: 1, description: 'node heartbeat; gone after 3 missed' }),
          leaseSec: T.Number({
            minimum: 1,
            default: 4,
            description: 'a camera owner renews its lease every third of this; a dead owner is replaced after it',
          }),
        },
        { additionalProperties: false },
      ),
    ),
    turn: T.Object(
      {
        urls: T.Array(T.String({ pattern: '^turns?:' }), {
          default: [],
          description:
            'TURN servers offered to browsers, e.g. turn:turn.example.go.id:3478?transport=tcp; none: no TURN',
        }),
        secret: T.Optional(
          T.String({
            minLength: 16,
            description:
              "coturn's static-auth-secret (use-auth-secret); set it with env CCTV_TURN_SECRET, never in the file",
          }),
        ),
        ttlSec: T.Integer({
          minimum: 60,
          maximum: 86_400,
          default: 3600,
          description: 'lifetime of the credential each viewer gets with a transport',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    simulator: T.Optional(
      T.Object(
        {
          port: T.Integer({ minimum: 0, maximum: 65535, default: 8554 }),
          cameras: T.Array(SimulatedCameraSchema, { default: [] }),
        },
        { additionalProperties: false },
      ),
    ),
    // Checked one by one after the rest: a bad camera is reported and skipped, not fatal.
    cameras: T.Array(T.Unknown(), { default: [] }),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type CameraConfig = Static<typeof CameraSchema>;
export type VariantConfig = Static<typeof VariantSchema>;
export type OnvifConfig = Static<typeof OnvifSchema>;
export type SimulatedCameraConfig = Static<typeof SimulatedCameraSchema>;
