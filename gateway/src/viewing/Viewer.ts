// One viewer (one signaling connection): its identity, WebRTC transports and consumers. Every consume
// is a "view" that holds the stream variant (on-demand ingest) and is written to the audit trail when
// it starts (before it is answered) and when it ends. A token expiring mid-session ends the views; a fresh `auth` before then keeps them going.
// A dead worker takes the transports and pipe consumers that lived on it: the viewer is told
// (transportClosed, consumerClosed 'stream_moved') and consumes again on a serving worker.
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { GatewayError } from '../../../signaling/src/errors.js';
import type { Notify, Peer, ViewerPort } from '../../../signaling/src/port.js';
import type { Notifications, RequestData, Responses } from '../../../signaling/src/protocol.js';
import type { AuditRecord, ViewStartRecord } from '../audit/AuditLog.js';
import { type Claims, type ClaimsVerifier, seesAllStreams, streamAllowed } from '../auth/tokens.js';
import type { Logger } from '../log.js';
import { PLAYOUT_DELAY } from '../media/codecs.js';
import type { WorkerPool } from '../media/WorkerPool.js';
import type { WorkerSlot } from '../media/WorkerSlot.js';
import type { StreamRegistry } from '../streams/StreamRegistry.js';
import type { StreamState, StreamVariant, VariantName } from '../streams/StreamVariant.js';
import type { Capacity } from './Capacity.js';
import { type TurnSettings, turnCredential } from './turn.js';

/** What viewing reports, for metrics and the audit trail. */
export interface ViewingObserverEvents {
  authFailure: [reason: string];
  viewStarted: [stream: string, variant: string];
  viewEnded: [record: AuditRecord];
  firstFrame: [stream: string, variant: string, seconds: number];
}

export interface ViewerDeps {
  pool: WorkerPool;
  streams: StreamRegistry;
  verifier: ClaimsVerifier;
  capacity: Capacity;
  logger: Logger;
  observer: EventEmitter<ViewingObserverEvents>;
  peer: Peer;
  limits: { maxTransports: number; maxConsumers: number };
  notify: Notify;
  /** TURN relays offered to browsers (config `turn`), if any. */
  turn?: TurnSettings | undefined;
  /** In a cluster: the other live nodes' /ws URLs (Identity.nodes). */
  nodes?: (() => string[]) | undefined;
  /** The connection closed (the service forgets this viewer). */
  onClose?: () => void;
  audit?: ViewAudit | undefined;
}

/** What a view needs of the audit trail: its start is written before the view is answered. */
export interface ViewAudit {
  /** Throws (E_UNAVAILABLE) when views must be refused: `audit.required` and the trail cannot be written. */
  admit(): void;
  /** Writes the start record; throws like `admit` when it cannot be written and auditing is required. */
  started(record: ViewStartRecord): void;
}

interface View {
  /** Its start and end records share it. */
  id: string;
  variant: StreamVariant;
  consumers: Set<types.Consumer>;
  onState: (s: StreamState, detail?: string) => void;
  startedAt: number;
  claims: Claims;
  ended: boolean;
}

/**
 * A transport's router when it is not its slot's main router (WHEP only: whep/routers.ts, a router
 * numbering codecs as the player's offer does), and how a stream's Producer reaches it.
 */
export interface TransportRouter {
  router: types.Router;
  /** Undefined: the router has no codec for it (as canConsume false: audio skipped, video refused). */
  producerOn(producer: types.Producer, origin: WorkerSlot): Promise<types.Producer | undefined>;
}

interface Transport {
  transport: types.WebRtcTransport;
  slot: WorkerSlot;
  /** Not on `slot.router` (createTransportOn). */
  on?: TransportRouter | undefined;
  /** The router it is on: closed first when its worker dies, before the transport and its consumers. */
  router: types.Router;
  /** Closed with its worker: the viewer was told once for all its consumers. */
  lost: boolean;
  /** connectTransport was called (mediasoup allows it once). */
  connected: boolean;
}

/**
 * A transport no ICE check arrived on by then is closed. The web client gives up on one after 15 s
 * at most and tries again 10 s later: at most two such transports per connection (of maxTransports).
 */
const UNREACHED_TRANSPORT_MS = 20_000;

// setTimeout's ceiling (~24.8 days); longer-lived tokens are re-checked then.
const MAX_TIMER_MS = 2 ** 31 - 1;

const closedError = () => new GatewayError('E_NOT_FOUND', 'the connection is closing');

/** A mediasoup call on what the client named: if that closed meanwhile, the client hears E_NOT_FOUND. */
async function whileOpen<R>(target: { closed: boolean }, name: string, call: () => Promise<R>): Promise<R> {
  try {
    return await call();
  } catch (err) {
    if (target.closed && !(err instanceof GatewayError)) throw new GatewayError('E_NOT_FOUND', `${name} was closed`);
    throw err;
  }
}

export class Viewer implements ViewerPort {
  claims: Claims | undefined;
  readonly #transports = new Map<string, Transport>();
  readonly #consumers = new Map<string, { consumer: types.Consumer; view: View; transport: Transport }>();
  readonly #views = new Set<View>();
  /** Requests still awaiting mediasoup count against the limits, so a burst cannot pass them. */
  #pendingTransports = 0;
  #pendingConsumes = 0;
  #expiryTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(private readonly deps: ViewerDeps) {}

  get authenticated(): boolean {
    return !!this.claims;
  }

  /** First authentication, or a fresh token before the old one expires. */
  async auth({ token }: RequestData<'auth'>): Promise<Responses['auth']> {
    let claims: Claims;
    try {
      claims = await this.deps.verifier.verify(token);
    } catch (err) {
      // A token the verifier cannot even read (it threw something of its own) is still the client's error.
      const e =
        err instanceof GatewayError
          ? err
          : new GatewayError('E_UNAUTHENTICATED', 'the token is malformed', 'malformed');
      this.deps.observer.emit('authFailure', e.reason ?? 'unknown');
      throw e;
    }
    if (this.claims && claims.sub !== this.claims.sub) {
      throw new GatewayError('E_FORBIDDEN', 'a connection keeps one identity; open a new one for another user');
    }
    this.claims = claims;
    // A narrower token ends the views it no longer covers.
    for (const v of [...this.#views]) {
      if (!streamAllowed(claims, v.variant.opts.streamId))
        this.#endViewWithNotice(v, 'E_FORBIDDEN_STREAM', 'scope_narrowed');
    }
    this.#armExpiry(claims.exp);
    const nodes = this.deps.nodes?.() ?? [];
    return { sub: claims.sub, role: claims.role, expiresAt: claims.exp, ...(nodes.length ? { nodes } : {}) };
  }

  async listStreams(): Promise<Responses['listStreams']> {
    const claims = this.#requireAuth();
    const streams = this.deps.streams
      .list()
      .filter((s) => seesAllStreams(claims.role) || streamAllowed(claims, s.id))
      .map((s) => ({ ...s, state: this.deps.streams.get(s.id, 'main').state }));
    return { streams };
  }

  async getRouterRtpCapabilities(): Promise<Responses['getRouterRtpCapabilities']> {
    this.#requireAuth();
    return { rtpCapabilities: this.deps.pool.rtpCapabilities };
  }

  async createTransport({ forceTcp }: RequestData<'createTransport'>): Promise<Responses['createTransport']> {
    return this.#createTransport(forceTcp);
  }

  /**
   * WHEP only (not in the protocol): createTransport on a router `place` picks on the chosen slot's
   * worker instead of the slot's main router; consume on that transport pipes the stream there.
   */
  createTransportOn(place: (slot: WorkerSlot) => Promise<TransportRouter>): Promise<Responses['createTransport']> {
    return this.#createTransport(undefined, place);
  }

  async #createTransport(
    forceTcp: boolean | undefined,
    place?: (slot: WorkerSlot) => Promise<TransportRouter>,
  ): Promise<Responses['createTransport']> {
    const claims = this.#requireAuth();
    if (this.#transports.size + this.#pendingTransports >= this.deps.limits.maxTransports) {
      throw new GatewayError('E_LIMIT', `a connection may open at most ${this.deps.limits.maxTransports} transports`);
    }
    const slot = this.deps.pool.leastLoaded();
    this.#pendingTransports++;
    let transport: types.WebRtcTransport;
    let on: TransportRouter | undefined;
    try {
      on = place && (await place(slot));
      transport = await (on?.router ?? slot.router).createWebRtcTransport({
        webRtcServer: slot.webRtcServer,
        enableUdp: !forceTcp,
        enableTcp: true,
        preferUdp: true,
      });
    } finally {
      this.#pendingTransports--;
    }
    if (this.#closed) {
      transport.close();
      throw closedError();
    }
    const entry: Transport = { transport, slot, on, router: on?.router ?? slot.router, lost: false, connected: false };
    this.#transports.set(transport.id, entry);
    slot.trackTransport(transport);
    transport.on('dtlsstatechange', (s) => {
      if (s === 'failed' || s === 'closed') transport.close();
    });
    transport.on('routerclose', () => {
      entry.lost = true;
      if (!this.#closed) this.deps.notify('transportClosed', { transportId: transport.id, reason: 'worker_died' });
    });
    // A transport the browser never reaches (UDP and TCP blocked, TURN refused) would hold one of the
    // connection's transports for good while the player tries again with new ones: closed unreached.
    const unreached = setTimeout(() => {
      if (transport.iceState === 'new' && !transport.closed) transport.close();
    }, UNREACHED_TRANSPORT_MS);
    unreached.unref();
    transport.observer.once('close', () => {
      clearTimeout(unreached);
      this.#transports.delete(transport.id);
    });
    return {
      id: transport.id,
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      dtlsParameters: transport.dtlsParameters,
      // A credential of its own per viewer and transport: a new transport (after ICE failed) gets a fresh one.
      ...(this.deps.turn ? { iceServers: [turnCredential(this.deps.turn, claims.sub)] } : {}),
    };
  }

  async connectTransport({
    transportId,
    dtlsParameters,
  }: RequestData<'connectTransport'>): Promise<Record<string, never>> {
    this.#requireAuth();
    const t = this.#transport(transportId);
    if (t.connected) throw new GatewayError('E_BAD_REQUEST', `transport ${transportId} is already connected`);
    t.connected = true; // before the await: a second connect in flight is refused too
    const { transport } = t;
    try {
      await whileOpen(transport, `transport ${transportId}`, () =>
        transport.connect({ dtlsParameters: dtlsParameters as types.DtlsParameters }),
      );
    } catch (err) {
      t.connected = false;
      throw err;
    }
    return {};
  }

  async consume(data: RequestData<'consume'>): Promise<Responses['consume']> {
    const { transportId, stream } = data;
    const claims = this.#requireAuth();
    if (!streamAllowed(claims, stream))
      throw new GatewayError('E_FORBIDDEN_STREAM', `this token may not watch "${stream}"`);
    if (this.#consumers.size + this.#pendingConsumes >= this.deps.limits.maxConsumers) {
      throw new GatewayError('E_LIMIT', `a connection may hold at most ${this.deps.limits.maxConsumers} consumers`);
    }
    const t = this.#transport(transportId);
    this.#pendingConsumes++;
    try {
      return await this.#consume(claims, t, data);
    } finally {
      this.#pendingConsumes--;
    }
  }

  async #consume(
    claims: Claims,
    t: Transport,
    { stream, variant, rtpCapabilities, latency }: RequestData<'consume'>,
  ): Promise<Responses['consume']> {
    const sv = this.deps.streams.get(stream, (variant ?? 'main') as VariantName);
    // Packets carry the playout-delay stamp; only a consumer that negotiates it applies it.
    const caps = withoutPlayoutDelayUnless(latency === 'low', rtpCapabilities as types.RtpCapabilities);
    this.deps.audit?.admit();
    this.deps.capacity.admit(sv, t.slot);
    const set = await sv.acquire();
    const view: View = {
      id: randomUUID(),
      variant: sv,
      consumers: new Set(),
      startedAt: Date.now(),
      claims,
      ended: false,
      onState: (state, detail) =>
        this.deps.notify('streamState', {
          stream: sv.opts.streamId,
          variant: sv.opts.variant,
          state,
          ...(detail ? { detail } : {}),
        }),
    };
    this.#views.add(view);
    sv.on('state', view.onState);
    try {
      for (const producer of set.producers) {
        if (this.#closed || t.transport.closed) throw closedError();
        const local = t.on
          ? await t.on.producerOn(producer, set.slot)
          : await this.deps.pool.producerOn(producer, set.slot, t.slot);
        if (!local || !(t.on?.router ?? t.slot.router).canConsume({ producerId: local.id, rtpCapabilities: caps })) {
          if (producer.kind === 'video') {
            throw new GatewayError('E_UNSUPPORTED', `this browser cannot decode ${stream}'s video (H.264 required)`);
          }
          continue; // audio the browser cannot play: video alone is still worth showing
        }
        if (this.#closed || t.transport.closed) throw closedError();
        const consumer = await whileOpen(t.transport, `transport ${t.transport.id}`, () =>
          t.transport.consume({ producerId: local.id, rtpCapabilities: caps, paused: true }),
        );
        t.slot.trackConsumer(consumer);
        sv.attachConsumer(consumer);
        view.consumers.add(consumer);
        this.#consumers.set(consumer.id, { consumer, view, transport: t });
        consumer.on('producerclose', () =>
          // The stream's Producer was rebuilt on another worker, unless the stream itself is gone.
          this.#consumerGone(consumer, view, sv.closed ? 'stream_closed' : 'stream_moved'),
        );
        consumer.on('transportclose', () => {
          // mediasoup closes a dead worker's consumers before their transport says 'routerclose'; the
          // router is closed already. The viewer then hears transportClosed only, and consumes again at
          // once (a consumerClosed 'transport_closed' first would make a player wait before retrying).
          if (t.router.closed) t.lost = true;
          this.#consumerGone(
            consumer,
            view,
            this.#closed ? 'disconnected' : t.lost ? 'worker_died' : 'transport_closed',
            !t.lost,
          );
        });
        if (this.#closed) throw closedError();
      }
      if (view.consumers.size > 0)
        this.deps.audit?.started({
          kind: 'view-start',
          id: view.id,
          at: new Date(view.startedAt).toISOString(),
          sub: claims.sub,
          role: claims.role,
          stream: sv.opts.streamId,
          variant: sv.opts.variant,
          client: this.deps.peer.address,
          userAgent: this.deps.peer.userAgent,
        });
    } catch (err) {
      this.#endView(view, (err as GatewayError).reason === 'audit_unavailable' ? 'audit_unavailable' : 'error');
      throw err;
    }
    if (view.consumers.size === 0) this.#endView(view, 'no_media');
    this.deps.observer.emit('viewStarted', sv.opts.streamId, sv.opts.variant);
    this.deps.logger.info({ sub: claims.sub, stream, variant: sv.opts.variant, worker: t.slot.index }, 'view started');
    return {
      stream,
      variant: sv.opts.variant,
      consumers: [...view.consumers].map((c) => ({
        id: c.id,
        producerId: c.producerId,
        kind: c.kind,
        rtpParameters: c.rtpParameters,
      })),
    };
  }

  async resume({ consumerId }: RequestData<'resume'>): Promise<Record<string, never>> {
    this.#requireAuth();
    const { consumer } = this.#consumer(consumerId);
    await whileOpen(consumer, `consumer ${consumerId}`, async () => {
      await consumer.resume();
      // The browser needs a keyframe to start decoding: the relay passes the request on to the camera,
      // a transcoding FFmpeg makes one; FFmpeg's passthrough cannot, and the camera's GOP bounds the wait.
      if (consumer.kind === 'video' && !consumer.closed) await consumer.requestKeyFrame();
    });
    return {};
  }

  async reportFirstFrame({ consumerId, ms }: RequestData<'reportFirstFrame'>): Promise<Record<string, never>> {
    this.#requireAuth();
    const { view } = this.#consumer(consumerId);
    this.deps.observer.emit('firstFrame', view.variant.opts.streamId, view.variant.opts.variant, ms / 1000);
    return {};
  }

  async closeConsumer({ consumerId }: RequestData<'closeConsumer'>): Promise<Record<string, never>> {
    this.#requireAuth();
    const { consumer, view } = this.#consumer(consumerId);
    consumer.close();
    this.#consumerGone(consumer, view, 'closed_by_viewer', false);
    return {};
  }

  #armExpiry(exp: number): void {
    clearTimeout(this.#expiryTimer);
    const ms = exp * 1000 - Date.now();
    this.#expiryTimer = setTimeout(
      () => {
        if (!this.claims || this.claims.exp * 1000 > Date.now()) {
          if (this.claims) this.#armExpiry(this.claims.exp);
          return;
        }
        this.deps.logger.info({ sub: this.claims.sub }, 'token expired; ending views');
        this.#authEnded('auth_expired', 'the token expired; send a fresh one with auth');
      },
      Math.min(Math.max(0, ms), MAX_TIMER_MS),
    );
    this.#expiryTimer.unref();
  }

  /** A notification for this connection from outside a request (e.g. the cluster's nodes changed). */
  tell<N extends keyof Notifications>(name: N, data: Notifications[N]): void {
    if (this.claims && !this.#closed) this.deps.notify(name, data);
  }

  /** The sign-in session this connection authenticated with, if any (sessions.ts). */
  get sessionId(): string | undefined {
    return this.claims?.sid;
  }

  /** Its sign-in session ended (signed out elsewhere, revoked, account disabled): views end now. */
  endSession(reason: string, message: string): void {
    if (!this.claims || this.#closed) return;
    this.deps.logger.info({ sub: this.claims.sub, reason }, 'session ended; ending views');
    this.#authEnded(reason, message);
  }

  /** No valid identity any more: every view ends (audited with `endReason`), the client is told once. */
  #authEnded(endReason: string, message: string): void {
    this.claims = undefined;
    clearTimeout(this.#expiryTimer);
    // Why first: the client then reads the consumers' E_AUTH_EXPIRED that follow as this, not a camera fault.
    const reason = endReason === 'auth_expired' ? 'expired' : endReason;
    this.deps.notify('authExpired', { code: 'E_AUTH_EXPIRED', message, reason });
    for (const v of [...this.#views]) this.#endViewWithNotice(v, 'E_AUTH_EXPIRED', endReason);
  }

  #endViewWithNotice(view: View, code: string, reason: string): void {
    for (const c of [...view.consumers]) {
      c.close();
      this.#consumers.delete(c.id);
      view.consumers.delete(c);
      this.deps.notify('consumerClosed', { consumerId: c.id, reason: code });
    }
    this.#endView(view, reason);
  }

  #consumerGone(consumer: types.Consumer, view: View, reason: string, notify = true): void {
    if (!this.#consumers.delete(consumer.id)) return;
    view.consumers.delete(consumer);
    if (notify && !this.#closed) this.deps.notify('consumerClosed', { consumerId: consumer.id, reason });
    if (view.consumers.size === 0) this.#endView(view, reason);
  }

  #endView(view: View, reason: string): void {
    if (view.ended) return;
    view.ended = true;
    this.#views.delete(view);
    for (const c of view.consumers) {
      c.close();
      this.#consumers.delete(c.id);
    }
    view.consumers.clear();
    view.variant.off('state', view.onState);
    view.variant.release();
    const end = Date.now();
    const record: AuditRecord = {
      kind: 'view',
      id: view.id,
      sub: view.claims.sub,
      role: view.claims.role,
      stream: view.variant.opts.streamId,
      variant: view.variant.opts.variant,
      start: new Date(view.startedAt).toISOString(),
      end: new Date(end).toISOString(),
      durationMs: end - view.startedAt,
      client: this.deps.peer.address,
      userAgent: this.deps.peer.userAgent,
      endReason: reason,
    };
    this.deps.observer.emit('viewEnded', record);
  }

  #requireAuth(): Claims {
    if (!this.claims)
      throw new GatewayError('E_UNAUTHENTICATED', 'send {"method":"auth","data":{"token":...}} first', 'missing');
    return this.claims;
  }

  #transport(id: string): Transport {
    const t = this.#transports.get(id);
    if (!t) throw new GatewayError('E_NOT_FOUND', `no transport ${id} on this connection`);
    return t;
  }

  #consumer(id: string) {
    const c = this.#consumers.get(id);
    if (!c) throw new GatewayError('E_NOT_FOUND', `no consumer ${id} on this connection`);
    return c;
  }

  /** The connection is gone (or the gateway stops): end every view with `reason`, close transports. */
  close(reason: 'disconnected' | 'shutdown' = 'disconnected'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.deps.onClose?.();
    clearTimeout(this.#expiryTimer);
    for (const v of [...this.#views]) this.#endView(v, reason);
    for (const { transport } of this.#transports.values()) transport.close();
  }
}

function withoutPlayoutDelayUnless(low: boolean, caps: types.RtpCapabilities): types.RtpCapabilities {
  if (low || !caps.headerExtensions) return caps;
  return { ...caps, headerExtensions: caps.headerExtensions.filter((e) => e.uri !== PLAYOUT_DELAY.uri) };
}
