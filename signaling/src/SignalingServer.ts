// WebSocket endpoint /ws. Checks the origin, limits message size and rate, validates every message
// against the protocol's schemas, answers each request with data or an error code, closes sockets
// that do not authenticate in time or stop answering pings. It knows nothing of media: each
// connection's requests go to a viewer of the ViewingPort it is given (signaling/src/port.ts).
// Every refusal is counted (observer 'rejected'); its log line is rate-limited per peer and code.
import { EventEmitter } from 'node:events';
import type { IncomingMessage, Server } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { Ajv, type ValidateFunction } from 'ajv';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { GatewayError, publicError } from './errors.js';
import { LogThrottle } from './LogThrottle.js';
import { checkShape, parseJson } from './messageShape.js';
import { compileOrigins, forbiddenOriginMessage, type OriginList, originAllowed } from './origins.js';
import type { ViewerPort, ViewingPort } from './port.js';
import { type Method, Methods, RequestEnvelope } from './protocol.js';

export interface SignalingObserverEvents {
  /** A refused message or connection, by error code. */
  rejected: [code: string];
  /** A connection that did not authenticate in time. */
  authFailure: [reason: string];
}

export interface SignalingLimits {
  authTimeoutSec: number;
  maxMessageBytes: number;
  ratePerSec: number;
  maxTransports: number;
  maxConsumers: number;
  pingIntervalSec: number;
  allowedOrigins: string[];
}

export interface SignalingOptions {
  viewing: ViewingPort;
  logger: Logger;
  limits: SignalingLimits;
  /** How often a repeated refusal is summed up in the log (default 10 s). */
  logIntervalMs?: number;
  /** Reverse proxies (`server.trustProxy`) and the public URL (`server.publicUrl`) the pages are served at. */
  proxy?: { trustProxy: readonly string[]; publicUrl?: string | undefined };
  /**
   * An access token for the sign-in session the upgrade's Cookie header holds, if any: the pages'
   * WebSocket authenticates with it (the origin check above still applies).
   */
  sessionToken?: (cookie: string | undefined) => string | undefined;
  /** Origins admitted besides allowedOrigins, as they are now (in a cluster: the other nodes' pages). */
  extraOrigins?: (() => string[]) | undefined;
}

/** Whether an address is one of `entries` (addresses or CIDRs); an invalid entry throws at once. */
export function trustedProxies(entries: readonly string[]): (address: string) => boolean {
  if (entries.length === 0) return () => false;
  const list = new BlockList();
  for (const e of entries) {
    const [addr = '', bits] = e.split('/');
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (!isIP(addr)) throw new Error(`server.trustProxy: "${e}" is not an address or CIDR`);
    if (bits === undefined) list.addAddress(addr, type);
    else list.addSubnet(addr, Number(bits), type);
  }
  return (address) => {
    const a = unmapped(address);
    const v = isIP(a);
    return v !== 0 && list.check(a, v === 6 ? 'ipv6' : 'ipv4');
  };
}

/** The subprotocols an upgrade request offers. */
function offeredProtocols(req: IncomingMessage): string[] {
  return String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim());
}

const unmapped = (a: string) => (a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a);

/**
 * RFC 7239 `Forwarded` as the X-Forwarded-* headers it stands for, when there is no X-Forwarded-For:
 * `for=192.0.2.60;proto=https;host=a.example, for="[2001:db8::17]:4711"` → for `192.0.2.60, 2001:db8::17`.
 */
export function forwardedAsX(
  headers: IncomingMessage['headers'],
): { 'x-forwarded-for': string; 'x-forwarded-proto'?: string; 'x-forwarded-host'?: string } | undefined {
  const raw = headers.forwarded;
  if (!raw || headers['x-forwarded-for'] !== undefined) return undefined;
  const elements = String(raw)
    .slice(0, 4096)
    .split(',')
    .map((el) => {
      const pairs = new Map<string, string>();
      for (const pair of el.split(';')) {
        const eq = pair.indexOf('=');
        if (eq < 0) continue;
        const value = pair.slice(eq + 1).trim();
        pairs.set(pair.slice(0, eq).trim().toLowerCase(), value.replace(/^"(.*)"$/, '$1'));
      }
      return pairs;
    });
  const node = (v: string) => {
    const v6 = /^\[([^\]]+)\]/.exec(v);
    if (v6?.[1]) return v6[1];
    return isIP(v) ? v : (v.split(':')[0] ?? v); // 192.0.2.60:4711 → 192.0.2.60; "unknown" stays (not an IP)
  };
  const proto = elements[0]?.get('proto');
  const host = elements[0]?.get('host');
  return {
    'x-forwarded-for': elements.map((e) => node(e.get('for') ?? 'unknown')).join(', '),
    ...(proto ? { 'x-forwarded-proto': proto } : {}),
    ...(host ? { 'x-forwarded-host': host } : {}),
  };
}

/**
 * Who is at the other end, as fastify's trustProxy (proxy-addr) computes it: the direct peer, unless
 * it is a trusted proxy; then X-Forwarded-For (or `Forwarded`) is walked from the right while its hops
 * are trusted. `host` and `proto` come from X-Forwarded-Host/-Proto only from a trusted peer.
 */
export function forwardedPeer(
  req: IncomingMessage,
  trusted: (address: string) => boolean,
): { address: string; host: string | undefined; proto: string } {
  const direct = req.socket.remoteAddress ?? 'unknown';
  const ownProto = 'encrypted' in req.socket && req.socket.encrypted ? 'https' : 'http';
  if (!trusted(direct)) return { address: direct, host: req.headers.host, proto: ownProto };
  const headers = { ...req.headers, ...forwardedAsX(req.headers) };
  let address = direct;
  const hops = String(headers['x-forwarded-for'] ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean)
    .reverse();
  for (const hop of hops) {
    if (!isIP(hop)) break;
    address = hop;
    if (!trusted(hop)) break;
  }
  const first = (h: string | string[] | undefined) => (Array.isArray(h) ? h[0] : h)?.split(',')[0]?.trim() || undefined;
  return {
    address,
    host: first(headers['x-forwarded-host']) ?? req.headers.host,
    proto: first(headers['x-forwarded-proto']) ?? ownProto,
  };
}

/** What a throttled log line is about. */
interface Refusal {
  peer: string;
  code: string;
  level: 'info' | 'warn' | 'error';
  method?: string;
}

/** Peer and code pairs tracked for log throttling; more share one summary line. */
const MAX_LOG_KEYS = 1000;

/** The subprotocol a client names; a token may ride along as a second one: `bearer.<jwt>`. */
export const SUBPROTOCOL = 'cctv.v1';
/** Offered beside SUBPROTOCOL: authenticate with the sign-in session cookie of the upgrade request. */
export const SESSION_PROTOCOL = 'cctv.session';
/**
 * Offered beside SUBPROTOCOL by a browser client, which cannot read an upgrade's HTTP status: a
 * refused origin's upgrade is then accepted only to send one error (`{id: null, ok: false, error}`)
 * and close with REFUSED_CLOSE. Nothing else is read from or sent to that socket.
 */
export const REFUSAL_PROTOCOL = 'cctv.refusal';
/** The close code after a typed refusal of the connection itself (an origin not allowed). */
export const REFUSED_CLOSE = 4403;

export class SignalingServer {
  readonly observer = new EventEmitter<SignalingObserverEvents>();
  readonly #wss: WebSocketServer;
  readonly #validateEnvelope: ValidateFunction;
  /** A Map, so no inherited name ("constructor", "__proto__") is ever taken for a method. */
  readonly #validators: Map<string, ValidateFunction>;
  readonly #sessions = new Set<ViewerPort>();
  readonly #alive = new WeakMap<WebSocket, boolean>();
  readonly #logs: LogThrottle<Refusal>;
  readonly #trusted: (address: string) => boolean;
  /** `server.publicUrl`'s origin: the pages' origin behind a proxy, whatever Host the proxy sends. */
  readonly #publicOrigin: string | undefined;
  /** `limits.allowedOrigins`, parsed once. */
  readonly #allowed: OriginList;
  #pinger: NodeJS.Timeout | undefined;

  constructor(private readonly opts: SignalingOptions) {
    // ws closes (1009) above maxPayload; between our limit and that it answers E_TOO_LARGE.
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: Math.max(1 << 20, opts.limits.maxMessageBytes * 4),
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    this.#trusted = trustedProxies(opts.proxy?.trustProxy ?? []);
    this.#publicOrigin = opts.proxy?.publicUrl ? new URL(opts.proxy.publicUrl).origin : undefined;
    this.#allowed = compileOrigins(opts.limits.allowedOrigins);
    const ajv = new Ajv({ allErrors: false, strict: false });
    this.#validateEnvelope = ajv.compile(RequestEnvelope);
    this.#validators = new Map(Object.entries(Methods).map(([m, schema]) => [m, ajv.compile(schema)]));
    this.#logs = new LogThrottle(opts.logIntervalMs ?? 10_000, MAX_LOG_KEYS, (what, count, seconds) => {
      const s = Math.round(seconds);
      if (!what) {
        opts.logger.warn({ count, seconds: s }, `${count} more refusals from other peers in the last ${s} s`);
        return;
      }
      const { peer, code, level, method } = what;
      const of = method ? `${code} (${method})` : code;
      opts.logger[level]({ peer, code, count, seconds: s }, `peer ${peer}: ${count} more ${of} in the last ${s} s`);
    });
  }

  get connections(): number {
    return this.#sessions.size;
  }

  attach(server: Server): void {
    this.#pinger = setInterval(() => this.#ping(), this.opts.limits.pingIntervalSec * 1000);
    this.#pinger.unref();
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (new URL(req.url ?? '/', 'http://x').pathname !== '/ws') {
        socket.destroy();
        return;
      }
      const origin = req.headers.origin;
      const from = forwardedPeer(req, this.#trusted);
      if (origin && !this.#originAllowed(origin, from.host)) {
        const peer = from.address;
        this.#refused({ peer, code: 'E_FORBIDDEN_ORIGIN', level: 'warn' }, () =>
          this.opts.logger.warn({ peer, origin: origin.slice(0, 200) }, 'websocket refused: origin not allowed'),
        );
        if (offeredProtocols(req).includes(REFUSAL_PROTOCOL)) {
          this.#wss.handleUpgrade(req, socket, head, (ws) => this.#refuseOrigin(ws, origin));
          return;
        }
        socket.end(
          'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\norigin not allowed\n',
        );
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, req, from.address));
    });
  }

  /** Counts a refusal; `log` writes its line unless this peer's `code` was logged within the interval. */
  #refused(refusal: Refusal, log: () => void): void {
    this.observer.emit('rejected', refusal.code);
    const { peer, code, method = '' } = refusal;
    if (this.#logs.admit(`${peer} ${code} ${method}`, refusal)) log();
  }

  #originAllowed(origin: string, host: string | undefined): boolean {
    return originAllowed(origin, {
      host,
      publicOrigin: this.#publicOrigin,
      allowed: this.#allowed,
      extra: this.opts.extraOrigins?.(),
    });
  }

  /** The one error a refused origin gets, then the close; its messages are never read. */
  #refuseOrigin(ws: WebSocket, origin: string): void {
    this.#wss.clients.delete(ws); // no pings, and not counted as a viewer
    ws.removeAllListeners('message');
    const error = { code: 'E_FORBIDDEN_ORIGIN', message: forbiddenOriginMessage(origin, 'open /ws') };
    ws.send(JSON.stringify({ id: null, ok: false, error }), () => ws.close(REFUSED_CLOSE, 'E_FORBIDDEN_ORIGIN'));
    // A peer that never reads the close frame is cut off.
    setTimeout(() => ws.terminate(), 2000).unref();
  }

  #ping(): void {
    for (const ws of this.#wss.clients) {
      if (this.#alive.get(ws) === false) {
        ws.terminate(); // no pong since the last ping: a dead peer; 'close' cleans up its session
        continue;
      }
      this.#alive.set(ws, false);
      ws.ping();
    }
  }

  /** `address`: the client's, through trusted proxies (forwardedPeer). */
  #onConnection(ws: WebSocket, req: IncomingMessage, address: string): void {
    const { limits } = this.opts;
    const logger = this.opts.logger.child({ peer: address });
    const send = (msg: unknown) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
    };
    const session = this.opts.viewing.openViewer(
      { address, userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256) },
      (notification, data) => send({ notification, data }),
    );
    this.#sessions.add(session);
    this.#alive.set(ws, true);
    ws.on('pong', () => this.#alive.set(ws, true));

    const reject = (id: number | null, err: unknown, method?: string) => {
      const pub = publicError(err);
      // A bug is logged with its stack, first per method; a client error once per code.
      if (pub.code === 'E_INTERNAL') {
        this.#refused({ peer: address, code: pub.code, level: 'error', ...(method ? { method } : {}) }, () =>
          logger.error({ err, method }, 'signaling request failed'),
        );
      } else {
        this.#refused({ peer: address, code: pub.code, level: 'info' }, () =>
          logger.info({ code: pub.code, reason: pub.reason, why: pub.message }, 'signaling request refused'),
        );
      }
      send({ id, ok: false, error: pub });
    };

    // A token offered as subprotocol `bearer.<jwt>`, or the sign-in cookie, authenticates at once.
    const protocols = offeredProtocols(req);
    const offered = protocols.find((p) => p.startsWith('bearer.'));
    // The cookie only when the page asks (SESSION_PROTOCOL): an embed with its own token on the same
    // origin as a signed-in person keeps the embed's identity.
    const token = offered
      ? offered.slice('bearer.'.length)
      : protocols.includes(SESSION_PROTOCOL)
        ? this.opts.sessionToken?.(req.headers.cookie)
        : undefined;
    if (token) {
      session.auth({ token }).catch((err) => {
        reject(null, err);
        ws.close(4401, 'authentication failed');
      });
    }
    const authTimer = setTimeout(() => {
      if (!session.authenticated && ws.readyState === ws.OPEN) {
        send({ notification: 'closing', data: { code: 'E_UNAUTHENTICATED', message: 'no auth message in time' } });
        this.observer.emit('authFailure', 'timeout');
        this.#refused({ peer: address, code: 'E_UNAUTHENTICATED', level: 'info' }, () =>
          logger.info({ code: 'E_UNAUTHENTICATED' }, 'websocket closed: no auth message in time'),
        );
        ws.close(4401, 'authentication timeout');
      }
    }, limits.authTimeoutSec * 1000);

    // Token bucket: ratePerSec sustained, bursts up to twice that.
    let tokens = limits.ratePerSec * 2;
    let refilledAt = Date.now();

    ws.on('message', async (raw, isBinary) => {
      let id: number | null = null;
      let method: Method | undefined;
      try {
        const size = Array.isArray(raw)
          ? raw.reduce((n, b) => n + b.length, 0)
          : (raw as Buffer | ArrayBuffer).byteLength;
        if (size > limits.maxMessageBytes) {
          throw new GatewayError(
            'E_TOO_LARGE',
            `a message may be at most ${limits.maxMessageBytes} bytes; this one was ${size}`,
          );
        }
        if (isBinary) throw new GatewayError('E_BAD_JSON', 'messages must be JSON text');
        const msg = parseJson(raw.toString());
        if (msg && typeof msg === 'object' && Number.isInteger((msg as { id?: unknown }).id))
          id = (msg as { id: number }).id;
        // Counted after parsing so a refusal can name the request it refuses.
        const now = Date.now();
        tokens = Math.min(limits.ratePerSec * 2, tokens + ((now - refilledAt) / 1000) * limits.ratePerSec);
        refilledAt = now;
        if (tokens < 1)
          throw new GatewayError('E_RATE_LIMITED', `more than ${limits.ratePerSec} messages per second; slow down`);
        tokens -= 1;
        checkShape(msg);
        if (!this.#validateEnvelope(msg)) {
          const e = this.#validateEnvelope.errors?.[0];
          throw new GatewayError(
            'E_BAD_REQUEST',
            `the message${e?.instancePath ? ` ${e.instancePath}` : ''} ${e?.message ?? 'is malformed'}; expected {id, method, data}`,
          );
        }
        const req = msg as { id: number; method: string; data?: Record<string, unknown> };
        // Only the protocol's own methods: never a name inherited from Object.prototype.
        if (!Object.hasOwn(Methods, req.method))
          throw new GatewayError('E_UNKNOWN_METHOD', `unknown method "${req.method}"`);
        method = req.method as Method;
        const validate = this.#validators.get(method) as ValidateFunction;
        const data = req.data ?? {};
        if (!validate(data)) {
          const e = validate.errors?.[0];
          throw new GatewayError(
            'E_BAD_REQUEST',
            `${method}: data${e?.instancePath ?? ''} ${e?.message ?? 'is invalid'}`,
          );
        }
        const handler = session[method] as (d: unknown) => Promise<unknown>;
        send({ id, ok: true, data: await handler.call(session, data) });
      } catch (err) {
        reject(id, err, method);
      }
    });
    ws.on('close', () => {
      clearTimeout(authTimer);
      session.close('disconnected');
      this.#sessions.delete(session);
    });
    // ws closes the socket itself (1007, 1009, 1002): a refused frame, counted and logged like a message.
    ws.on('error', (err: Error & { code?: string }) => {
      const code = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'E_TOO_LARGE' : 'E_BAD_FRAME';
      this.#refused({ peer: address, code, level: 'warn' }, () =>
        logger.warn({ code, err: err.message }, 'websocket error'),
      );
    });
  }

  /** Gateway shutdown: tell every client, end their views (audited as 'shutdown'), close sockets. */
  close(): void {
    clearInterval(this.#pinger);
    this.#logs.close();
    for (const s of this.#sessions) s.close('shutdown');
    for (const ws of this.#wss.clients) {
      if (ws.readyState === ws.OPEN) {
        ws.send(
          JSON.stringify({
            notification: 'closing',
            data: { code: 'E_SHUTDOWN', message: 'the gateway is restarting' },
          }),
        );
      }
      ws.close(1001, 'gateway shutting down');
    }
    this.#wss.close();
  }
}
