// WHEP sessions: one Viewer (the viewing service's, as each WebSocket gets) per POSTed offer, so
// admission, capacity, stream scopes, the token's expiry and the audit record are the WebSocket
// path's own. A session ends on DELETE, or by itself when its view ends: the transport no ICE check
// reached (the Viewer closes it after 20 s), DTLS closed or failed, the token expired, the stream
// moved or closed, its worker died. WHEP cannot renegotiate, so the player then POSTs again.
import { randomBytes } from 'node:crypto';
import type { types } from 'mediasoup';
import { GatewayError } from '../../../../signaling/src/errors.js';
import type { Notify, Peer, ViewerPort, ViewingPort } from '../../../../signaling/src/port.js';
import type { IceServer, RequestData } from '../../../../signaling/src/protocol.js';
import type { Logger } from '../../log.js';
import type { TransportRouter } from '../Viewer.js';
import { whepRouterOn } from './routers.js';
import { type AnswerTrack, buildAnswer, parseOffer, whepPlan } from './sdp.js';

/** Sessions one identity (`sub`) may hold at once, a bound on what one leaked token can open. */
export const MAX_SESSIONS_PER_SUB = 32;

/** The Viewer's notices that take this session's media away (the others have no one to go to). */
const ENDING = new Set<string>(['consumerClosed', 'transportClosed', 'authExpired', 'closing']);

export interface WhepOpen {
  token: string;
  offer: string;
  stream: string;
  variant: 'main' | 'sub' | undefined;
  peer: Peer;
}

export interface WhepAnswer {
  id: string;
  answer: string;
  iceServers: IceServer[];
  /** A version of the session's ICE state for ETag (RFC 9725 §4.3.1). */
  etag: string;
}

export interface WhepSession {
  readonly id: string;
  readonly sub: string;
  readonly stream: string;
  readonly variant: string;
  readonly etag: string;
  /** The player's ICE ufrag from its offer: another one in a PATCH is an ICE restart. */
  readonly remoteUfrag: string;
  readonly createdAt: number;
}

/** The gateway's Viewer: its WHEP-only createTransportOn puts the transport on the offer's router. */
interface RoutedViewer extends ViewerPort {
  createTransportOn(
    place: (slot: Parameters<typeof whepRouterOn>[0]) => Promise<TransportRouter>,
  ): ReturnType<ViewerPort['createTransport']>;
}

function routed(viewer: ViewerPort): RoutedViewer {
  if (typeof (viewer as Partial<RoutedViewer>).createTransportOn !== 'function')
    throw new Error('WHEP needs the gateway Viewer (createTransportOn)');
  return viewer as RoutedViewer;
}

interface Entry extends WhepSession {
  viewer: ViewerPort;
  consumerIds: string[];
  closed: boolean;
}

export class WhepSessions {
  readonly #sessions = new Map<string, Entry>();
  readonly #pendingBySub = new Map<string, number>();
  #closed = false;

  constructor(
    private readonly viewing: ViewingPort,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.#sessions.size;
  }

  get(id: string): WhepSession | undefined {
    return this.#sessions.get(id);
  }

  /** The offer in, the answer out, or a GatewayError saying why not (nothing is left behind then). */
  async open(req: WhepOpen): Promise<WhepAnswer> {
    if (this.#closed) throw new GatewayError('E_UNAVAILABLE', 'the gateway is stopping');
    const id = randomBytes(16).toString('hex');
    let entry: Entry | undefined;
    let lost: string | undefined;
    // The Viewer's notices are the WebSocket's; here each one that takes media away ends the session.
    const notify: Notify = (name, data) => {
      if (!ENDING.has(name)) return; // streamState, cluster news: nobody to tell over WHEP
      const why = `${name}${'reason' in data && data.reason ? ` ${data.reason}` : ''}`;
      // After the Viewer's own bookkeeping: the view is audited with its reason, not as 'disconnected'.
      if (entry) queueMicrotask(() => entry && this.#end(entry, why));
      else lost = why;
    };
    const viewer = this.viewing.openViewer(req.peer, notify);
    let counted: string | undefined; // the sub whose pending count this open holds
    try {
      const identity = await viewer.auth({ token: req.token });
      const sub = identity.sub;
      const pending = this.#pendingBySub.get(sub) ?? 0;
      if (this.#countOf(sub) + pending >= MAX_SESSIONS_PER_SUB)
        throw new GatewayError('E_LIMIT', `one identity may hold at most ${MAX_SESSIONS_PER_SUB} WHEP sessions`);
      this.#pendingBySub.set(sub, pending + 1);
      counted = sub;
      const offer = parseOffer(req.offer);
      const { rtpCapabilities: router } = await viewer.getRouterRtpCapabilities({});
      // Consumed on a router that numbers codecs as this offer does (routers.ts): sent on its numbers.
      const plan = whepPlan(offer.rtpCapabilities, router as types.RtpCapabilities);
      const unsupported = (what: string) =>
        new GatewayError('E_UNSUPPORTED', `the offer can receive none of ${what}`, 'no_common_codec');
      if (plan.codecs.length === 0) throw unsupported(`the codecs ${req.stream} may send`);
      const t = await routed(viewer).createTransportOn((slot) => whepRouterOn(slot, plan));
      await viewer.connectTransport({
        transportId: t.id,
        dtlsParameters: offer.dtlsParameters as RequestData<'connectTransport'>['dtlsParameters'],
      });
      const consumed = await viewer
        .consume({
          transportId: t.id,
          stream: req.stream,
          ...(req.variant ? { variant: req.variant } : {}),
          rtpCapabilities: plan.rtpCapabilities as RequestData<'consume'>['rtpCapabilities'],
        })
        .catch((err: unknown) => {
          throw err instanceof GatewayError && err.code === 'E_UNSUPPORTED'
            ? unsupported(`${req.stream}'s video`)
            : err;
        });
      if (consumed.consumers.length === 0) throw unsupported(`what ${req.stream} sends`);
      // At once: until DTLS is up the worker sends nothing, and on connecting it asks for a keyframe itself.
      for (const c of consumed.consumers) await viewer.resume({ consumerId: c.id });
      const answer = buildAnswer({
        offer,
        iceParameters: t.iceParameters as types.IceParameters,
        iceCandidates: t.iceCandidates as types.IceCandidate[],
        dtlsParameters: t.dtlsParameters as types.DtlsParameters,
        tracks: consumed.consumers.map(
          (c): AnswerTrack => ({ kind: c.kind, rtpParameters: c.rtpParameters as types.RtpParameters }),
        ),
        streamId: req.stream,
        sessionId: id,
      });
      const etag = `"${(t.iceParameters as types.IceParameters).usernameFragment}"`;
      entry = {
        id,
        sub,
        stream: consumed.stream,
        variant: consumed.variant,
        etag,
        remoteUfrag: offer.iceUfrag,
        createdAt: Date.now(),
        viewer,
        consumerIds: consumed.consumers.map((c) => c.id),
        closed: false,
      };
      if (this.#closed) throw new GatewayError('E_UNAVAILABLE', 'the gateway is stopping');
      if (lost) throw new GatewayError('E_UNAVAILABLE', `the view ended as it started (${lost}); try again`);
      this.#sessions.set(id, entry);
      this.logger.info({ session: id, sub, stream: entry.stream, variant: entry.variant }, 'WHEP session started');
      return { id, answer, iceServers: t.iceServers ?? [], etag };
    } catch (err) {
      entry = undefined;
      viewer.close('disconnected');
      throw err;
    } finally {
      if (counted !== undefined) {
        const left = (this.#pendingBySub.get(counted) ?? 1) - 1;
        if (left > 0) this.#pendingBySub.set(counted, left);
        else this.#pendingBySub.delete(counted);
      }
    }
  }

  /**
   * A request on a session URL: the id is unguessable (128 bits) and the token must be valid and of the
   * session's `sub`; a fresh token of that identity also renews the view's expiry (the Viewer's auth).
   */
  async authorize(id: string, token: string): Promise<WhepSession> {
    const e = this.#sessions.get(id);
    if (!e) throw new GatewayError('E_NOT_FOUND', 'no such WHEP session (it ended, or never was)');
    try {
      await e.viewer.auth({ token });
    } catch (err) {
      if (err instanceof GatewayError && err.code === 'E_FORBIDDEN')
        throw new GatewayError('E_FORBIDDEN', 'this WHEP session belongs to another identity');
      throw err;
    }
    return e;
  }

  /** DELETE: the player ends its view (audited `closed_by_viewer`). */
  delete(id: string): void {
    const e = this.#sessions.get(id);
    if (!e) throw new GatewayError('E_NOT_FOUND', 'no such WHEP session');
    for (const consumerId of e.consumerIds) void e.viewer.closeConsumer({ consumerId }).catch(() => {});
    this.#end(e, 'deleted');
  }

  #countOf(sub: string): number {
    let n = 0;
    for (const s of this.#sessions.values()) if (s.sub === sub) n++;
    return n;
  }

  #end(e: Entry, why: string): void {
    if (e.closed) return;
    e.closed = true;
    this.#sessions.delete(e.id);
    e.viewer.close('disconnected');
    this.logger.info({ session: e.id, sub: e.sub, stream: e.stream, why }, 'WHEP session ended');
  }

  /** The gateway stops: every session's view ends (audited `shutdown`). */
  close(): void {
    this.#closed = true;
    for (const e of [...this.#sessions.values()]) {
      e.closed = true;
      this.#sessions.delete(e.id);
      e.viewer.close('shutdown');
    }
  }
}
