// One signaling connection: its auth, WebRTC transports and consumers. Every consume holds the
// stream variant (on-demand ingest) until its consumers close.
import type { types } from 'mediasoup';
import { GatewayError } from '../../gateway/src/errors.js';
import type { Logger } from '../../gateway/src/log.js';
import type { MediaWorker, WorkerPool } from '../../gateway/src/media/WorkerPool.js';
import type { StreamRegistry } from '../../gateway/src/streams/StreamRegistry.js';
import type { StreamState, StreamVariant, VariantName } from '../../gateway/src/streams/StreamVariant.js';
import { type Claims, streamAllowed, type TokenVerifier } from './auth.js';
import type { Notifications, RequestData, Responses } from './protocol.js';

export interface SessionDeps {
  pool: WorkerPool;
  streams: StreamRegistry;
  verifier: TokenVerifier;
  logger: Logger;
  notify: <N extends keyof Notifications>(name: N, data: Notifications[N]) => void;
}

interface View {
  variant: StreamVariant;
  consumers: Set<types.Consumer>;
  onState: (s: StreamState, detail?: string) => void;
  ended: boolean;
}

type Handlers = { [M in keyof Responses]: (data: RequestData<M>) => Promise<Responses[M]> };

export class ViewerSession {
  claims: Claims | undefined;
  readonly #transports = new Map<string, { transport: types.WebRtcTransport; worker: MediaWorker }>();
  readonly #consumers = new Map<string, { consumer: types.Consumer; view: View }>();
  #closed = false;

  constructor(private readonly deps: SessionDeps) {}

  readonly handlers: Handlers = {
    auth: async ({ token }) => {
      this.claims = this.deps.verifier.verify(token);
      return { sub: this.claims.sub, role: this.claims.role, expiresAt: this.claims.exp };
    },
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
      const worker = this.deps.pool.leastLoaded();
      const transport = await worker.router.createWebRtcTransport({
        webRtcServer: worker.webRtcServer,
        enableUdp: !forceTcp,
        enableTcp: true,
        preferUdp: true,
      });
      this.#transports.set(transport.id, { transport, worker });
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
    consume: async ({ transportId, stream, variant, rtpCapabilities }) => {
      const claims = this.#requireAuth();
      if (!streamAllowed(claims, stream)) {
        throw new GatewayError('E_FORBIDDEN_STREAM', `this token may not watch "${stream}"`);
      }
      const { transport, worker } = this.#transport(transportId);
      const sv = this.deps.streams.get(stream, (variant ?? 'main') as VariantName);
      const caps = rtpCapabilities as types.RtpCapabilities;
      const producers = await sv.acquire();
      const view: View = {
        variant: sv,
        consumers: new Set(),
        ended: false,
        onState: (state, detail) =>
          this.deps.notify('streamState', {
            stream: sv.opts.streamId,
            variant: sv.opts.variant,
            state,
            ...(detail ? { detail } : {}),
          }),
      };
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
          view.consumers.add(consumer);
          this.#consumers.set(consumer.id, { consumer, view });
          const gone = (reason: string) => {
            this.#consumers.delete(consumer.id);
            view.consumers.delete(consumer);
            if (!this.#closed) this.deps.notify('consumerClosed', { consumerId: consumer.id, reason });
            if (view.consumers.size === 0) this.#endView(view);
          };
          consumer.on('producerclose', () => gone('stream closed'));
          consumer.on('transportclose', () => gone('transport closed'));
        }
      } catch (err) {
        for (const c of view.consumers) c.close();
        this.#endView(view);
        throw err;
      }
      if (view.consumers.size === 0) this.#endView(view);
      this.deps.logger.info(
        { sub: claims.sub, stream, variant: sv.opts.variant, worker: worker.index },
        'viewer consuming',
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
    closeConsumer: async ({ consumerId }) => {
      this.#requireAuth();
      const entry = this.#consumer(consumerId);
      entry.consumer.close();
      this.#consumers.delete(consumerId);
      entry.view.consumers.delete(entry.consumer);
      if (entry.view.consumers.size === 0) this.#endView(entry.view);
      return {};
    },
  };

  #endView(view: View): void {
    if (view.ended) return;
    view.ended = true;
    view.variant.off('state', view.onState);
    view.variant.release();
  }

  #requireAuth(): Claims {
    if (!this.claims) throw new GatewayError('E_UNAUTHENTICATED', 'send {"method":"auth","data":{"token":...}} first');
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

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const { transport } of this.#transports.values()) transport.close();
  }
}
