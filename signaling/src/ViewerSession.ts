// One signaling connection: its identity, WebRTC transports and consumers. Every consume is a
// "view" that holds the stream variant (on-demand ingest) and is written to the audit trail when it
// ends. A token expiring mid-session ends the views; a fresh `auth` before then keeps them going.
import type { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import type { AuditRecord } from '../../gateway/src/audit/AuditLog.js';
import type { Capacity } from '../../gateway/src/capacity/Capacity.js';
import { GatewayError } from '../../gateway/src/errors.js';
import type { Logger } from '../../gateway/src/log.js';
import { PLAYOUT_DELAY } from '../../gateway/src/media/codecs.js';
import type { MediaWorker, WorkerPool } from '../../gateway/src/media/WorkerPool.js';
import type { StreamRegistry } from '../../gateway/src/streams/StreamRegistry.js';
import type { StreamState, StreamVariant, VariantName } from '../../gateway/src/streams/StreamVariant.js';
import { type Claims, streamAllowed, type TokenVerifier } from './auth.js';
import type { Notifications, RequestData, Responses } from './protocol.js';

export interface SignalingObserverEvents {
  authFailure: [reason: string];
  rejected: [code: string];
  viewStarted: [stream: string, variant: string];
  viewEnded: [record: AuditRecord];
  firstFrame: [stream: string, variant: string, seconds: number];
}

export interface SessionDeps {
  pool: WorkerPool;
  streams: StreamRegistry;
  verifier: TokenVerifier;
  capacity: Capacity;
  logger: Logger;
  observer: EventEmitter<SignalingObserverEvents>;
  peer: { address: string; userAgent: string };
  limits: { maxTransports: number; maxConsumers: number };
  notify: <N extends keyof Notifications>(name: N, data: Notifications[N]) => void;
}

interface View {
  variant: StreamVariant;
  consumers: Set<types.Consumer>;
  onState: (s: StreamState, detail?: string) => void;
  startedAt: number;
  claims: Claims;
  ended: boolean;
}

type Handlers = { [M in keyof Responses]: (data: RequestData<M>) => Promise<Responses[M]> };

// setTimeout's ceiling (~24.8 days); longer-lived tokens are re-checked then.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class ViewerSession {
  claims: Claims | undefined;
  readonly #transports = new Map<string, { transport: types.WebRtcTransport; worker: MediaWorker }>();
  readonly #consumers = new Map<string, { consumer: types.Consumer; view: View }>();
  readonly #views = new Set<View>();
  #expiryTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(private readonly deps: SessionDeps) {}

  readonly handlers: Handlers = {
    auth: async ({ token }) => this.authenticate(token),
    listStreams: async () => {
      const claims = this.#requireAuth();
      const streams = this.deps.streams
        .list()
        .filter((s) => claims.role !== 'viewer' || streamAllowed(claims, s.id))
        .map((s) => ({ ...s, state: this.deps.streams.get(s.id, 'main').state }));
      return { streams };
    },
    getRouterRtpCapabilities: async () => {
      this.#requireAuth();
      return { rtpCapabilities: this.deps.pool.rtpCapabilities };
    },
    createTransport: async ({ forceTcp }) => {
      this.#requireAuth();
      if (this.#transports.size >= this.deps.limits.maxTransports) {
        throw new GatewayError('E_LIMIT', `a connection may open at most ${this.deps.limits.maxTransports} transports`);
      }
      const worker = this.deps.pool.leastLoaded();
      const transport = await worker.router.createWebRtcTransport({
        webRtcServer: worker.webRtcServer,
        enableUdp: !forceTcp,
        enableTcp: true,
        preferUdp: true,
      });
      this.#transports.set(transport.id, { transport, worker });
      this.deps.pool.trackTransport(worker, transport);
      transport.on('dtlsstatechange', (s) => {
        if (s === 'failed' || s === 'closed') transport.close();
      });
      transport.observer.once('close', () => this.#transports.delete(transport.id));
      return {
        id: transport.id,
        iceParameters: transport.iceParameters,
        iceCandidates: transport.iceCandidates,
        dtlsParameters: transport.dtlsParameters,
      };
    },
    connectTransport: async ({ transportId, dtlsParameters }) => {
      this.#requireAuth();
      await this.#transport(transportId).transport.connect({ dtlsParameters: dtlsParameters as types.DtlsParameters });
      return {};
    },
    consume: async ({ transportId, stream, variant, rtpCapabilities, latency }) => {
      const claims = this.#requireAuth();
      if (!streamAllowed(claims, stream))
        throw new GatewayError('E_FORBIDDEN_STREAM', `this token may not watch "${stream}"`);
      if (this.#consumers.size >= this.deps.limits.maxConsumers) {
        throw new GatewayError('E_LIMIT', `a connection may hold at most ${this.deps.limits.maxConsumers} consumers`);
      }
      const { transport, worker } = this.#transport(transportId);
      const sv = this.deps.streams.get(stream, (variant ?? 'main') as VariantName);
      // Packets carry the playout-delay stamp; only a consumer that negotiates it applies it.
      const caps = withoutPlayoutDelayUnless(latency === 'low', rtpCapabilities as types.RtpCapabilities);
      this.deps.capacity.admit(sv, worker);
      const producers = await sv.acquire();
      const view: View = {
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
        for (const producer of producers) {
          const local = await this.deps.pool.producerOn(producer, sv.origin, worker);
          if (!worker.router.canConsume({ producerId: local.id, rtpCapabilities: caps })) {
            if (producer.kind === 'video') {
              throw new GatewayError('E_UNSUPPORTED', `this browser cannot decode ${stream}'s video (H.264 required)`);
            }
            continue; // audio the browser cannot play: video alone is still worth showing
          }
          const consumer = await transport.consume({ producerId: local.id, rtpCapabilities: caps, paused: true });
          this.deps.pool.trackConsumer(worker, consumer);
          sv.attachConsumer(consumer);
          view.consumers.add(consumer);
          this.#consumers.set(consumer.id, { consumer, view });
          consumer.on('producerclose', () => this.#consumerGone(consumer, view, 'stream_closed'));
          consumer.on('transportclose', () =>
            this.#consumerGone(consumer, view, this.#closed ? 'disconnected' : 'transport_closed'),
          );
        }
      } catch (err) {
        this.#endView(view, 'error');
        throw err;
      }
      if (view.consumers.size === 0) this.#endView(view, 'no_media');
      this.deps.observer.emit('viewStarted', sv.opts.streamId, sv.opts.variant);
      this.deps.logger.info(
        { sub: claims.sub, stream, variant: sv.opts.variant, worker: worker.index },
        'view started',
      );
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
    },
    resume: async ({ consumerId }) => {
      this.#requireAuth();
      const { consumer } = this.#consumer(consumerId);
      await consumer.resume();
      // The browser needs a keyframe to start decoding; FFmpeg's passthrough ignores PLI, so this
      // only helps transcoded streams and relays that forward it. The camera's GOP bounds the wait.
      if (consumer.kind === 'video') await consumer.requestKeyFrame();
      return {};
    },
    reportFirstFrame: async ({ consumerId, ms }) => {
      this.#requireAuth();
      const { view } = this.#consumer(consumerId);
      this.deps.observer.emit('firstFrame', view.variant.opts.streamId, view.variant.opts.variant, ms / 1000);
      return {};
    },
    closeConsumer: async ({ consumerId }) => {
      this.#requireAuth();
      const { consumer, view } = this.#consumer(consumerId);
      consumer.close();
      this.#consumerGone(consumer, view, 'closed_by_viewer', false);
      return {};
    },
  };

  /** First authentication, or a fresh token before the old one expires. */
  authenticate(token: string): Responses['auth'] {
    let claims: Claims;
    try {
      claims = this.deps.verifier.verify(token);
    } catch (err) {
      this.deps.observer.emit('authFailure', (err as GatewayError).reason ?? 'unknown');
      throw err;
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
    return { sub: claims.sub, role: claims.role, expiresAt: claims.exp };
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
        this.claims = undefined;
        for (const v of [...this.#views]) this.#endViewWithNotice(v, 'E_AUTH_EXPIRED', 'auth_expired');
        this.deps.notify('authExpired', {
          code: 'E_AUTH_EXPIRED',
          message: 'the token expired; send a fresh one with auth',
        });
      },
      Math.min(Math.max(0, ms), MAX_TIMER_MS),
    );
    this.#expiryTimer.unref();
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

  #transport(id: string) {
    const t = this.#transports.get(id);
    if (!t) throw new GatewayError('E_NOT_FOUND', `no transport ${id} on this connection`);
    return t;
  }

  #consumer(id: string) {
    const c = this.#consumers.get(id);
    if (!c) throw new GatewayError('E_NOT_FOUND', `no consumer ${id} on this connection`);
    return c;
  }

  /** The socket is gone (or the gateway stops): end every view with `reason`, close transports. */
  close(reason = 'disconnected'): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#expiryTimer);
    for (const v of [...this.#views]) this.#endView(v, reason);
    for (const { transport } of this.#transports.values()) transport.close();
  }
}

function withoutPlayoutDelayUnless(low: boolean, caps: types.RtpCapabilities): types.RtpCapabilities {
  if (low || !caps.headerExtensions) return caps;
  return { ...caps, headerExtensions: caps.headerExtensions.filter((e) => e.uri !== PLAYOUT_DELAY.uri) };
}
