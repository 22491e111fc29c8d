// A viewer without a browser: werift 0.24.4 (pure TypeScript ICE + DTLS + SRTP) receiving one H.264
// stream, from the gateway (its WebSocket protocol; the offer SDP is built from the consumer's
// parameters, as mediasoup-client does) or from a Janus streaming mountpoint (Janus' HTTP API). It
// counts RTP packets and the gaps in their sequence numbers.
//
// werift offers only VP8 unless told otherwise, so H.264 is declared. No header extensions are
// negotiated (no transport-cc): the gateway sends without bandwidth estimation, as to any receiver
// that does not offer it.
import { RTCPeerConnection, RTCRtpCodecParameters } from 'werift';
import WebSocket from 'ws';

type PeerConnection = RTCPeerConnection;

const H264_FEEDBACK = [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }];

export interface ViewerCounters {
  packets: number;
  bytes: number;
  /** Sequence numbers expected (first to highest seen) minus packets received; never negative. */
  lost: number;
  expected: number;
  /** ms from the subscribe request to the first RTP packet. */
  firstRtpMs: number | null;
  connected: boolean;
}

function newPeer(profileLevelIds: string[]): PeerConnection {
  return new RTCPeerConnection({
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceUseIpv6: false,
    codecs: {
      audio: [],
      video: profileLevelIds.map(
        (id) =>
          new RTCRtpCodecParameters({
            mimeType: 'video/H264',
            clockRate: 90000,
            rtcpFeedback: H264_FEEDBACK,
            parameters: `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${id}`,
          }),
      ),
    },
    headerExtensions: { audio: [], video: [] },
  });
}

export class WeriftViewer {
  readonly counters: ViewerCounters = {
    packets: 0,
    bytes: 0,
    lost: 0,
    expected: 0,
    firstRtpMs: null,
    connected: false,
  };
  #firstSeq = -1;
  #highest = -1; // extended
  #closers: (() => void | Promise<void>)[] = [];
  readonly #startedAt = performance.now();

  private constructor(readonly pc: PeerConnection) {
    pc.connectionStateChange.subscribe((s) => {
      this.counters.connected = s === 'connected';
    });
    pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => this.#count(rtp.header.sequenceNumber, rtp.payload.length));
    });
  }

  #count(seq: number, bytes: number): void {
    const c = this.counters;
    if (c.firstRtpMs === null) c.firstRtpMs = Math.round(performance.now() - this.#startedAt);
    c.packets++;
    c.bytes += bytes;
    if (this.#firstSeq < 0) {
      this.#firstSeq = seq;
      this.#highest = seq;
    } else {
      // Extend the 16-bit number to the one closest to the highest seen.
      const base = this.#highest - (this.#highest & 0xffff);
      let ext = base + seq;
      if (ext - this.#highest > 0x8000) ext -= 0x10000;
      else if (this.#highest - ext > 0x8000) ext += 0x10000;
      if (ext > this.#highest) this.#highest = ext;
    }
    c.expected = this.#highest - this.#firstSeq + 1;
    c.lost = Math.max(0, c.expected - c.packets);
  }

  /** Starts counting afresh (e.g. after the joins of a load level settled). */
  resetCounters(): void {
    Object.assign(this.counters, { packets: 0, bytes: 0, lost: 0, expected: 0 });
    this.#firstSeq = -1;
    this.#highest = -1;
  }

  async close(): Promise<void> {
    for (const c of this.#closers.splice(0)) await Promise.resolve(c()).catch(() => {});
    await this.pc.close().catch(() => {});
  }

  /** Watches `stream` on the gateway at `wsUrl` (ws://127.0.0.1:port/ws) with a viewer token. */
  static async gateway(wsUrl: string, token: string, stream: string): Promise<WeriftViewer> {
    const sig = await GatewaySocket.open(wsUrl);
    try {
      await sig.request('auth', { token });
      const { rtpCapabilities } = await sig.request<{ rtpCapabilities: RouterCaps }>('getRouterRtpCapabilities');
      const h264 = rtpCapabilities.codecs.filter((c) => c.mimeType.toLowerCase() === 'video/h264');
      const t = await sig.request<TransportInfo>('createTransport');
      const caps = { codecs: h264.map((c) => ({ ...c, rtcpFeedback: H264_FEEDBACK })), headerExtensions: [] };
      const profiles = h264.map((c) => String(c.parameters?.['profile-level-id'] ?? '42e01f'));
      const viewer = new WeriftViewer(newPeer(profiles));
      viewer.#closers.push(() => sig.ws.close());
      const res = await sig.request<{ consumers: ConsumerInfo[] }>('consume', {
        transportId: t.id,
        stream,
        variant: 'main',
        rtpCapabilities: caps,
      });
      const consumer = res.consumers.find((c) => c.kind === 'video');
      if (!consumer) throw new Error(`no video consumer for ${stream}`);
      await viewer.pc.setRemoteDescription({ type: 'offer', sdp: offerSdp(t, consumer) });
      const answer = await viewer.pc.createAnswer();
      await viewer.pc.setLocalDescription(answer);
      await sig.request('connectTransport', { transportId: t.id, dtlsParameters: dtlsFromSdp(answer.sdp) });
      await sig.request('resume', { consumerId: consumer.id });
      return viewer;
    } catch (err) {
      sig.ws.close();
      throw err;
    }
  }

  /** Watches Janus streaming mountpoint `id` through its HTTP API at `base` (http://127.0.0.1:8088/janus). */
  static async janus(base: string, id: number): Promise<WeriftViewer> {
    const post = async (url: string, body: Record<string, unknown>) => {
      const r = await fetch(url, {
        method: 'POST',
        body: JSON.stringify({ ...body, transaction: Math.random().toString(36).slice(2) }),
      });
      return (await r.json()) as Record<string, unknown>;
    };
    const session = ((await post(base, { janus: 'create' }))['data'] as { id: number }).id;
    const s = `${base}/${session}`;
    try {
      const handle = ((await post(s, { janus: 'attach', plugin: 'janus.plugin.streaming' }))['data'] as { id: number })
        .id;
      const h = `${s}/${handle}`;
      const viewer = new WeriftViewer(newPeer(['42e01f', '4d001f', '640028']));
      const keepalive = setInterval(() => void post(s, { janus: 'keepalive' }).catch(() => {}), 20_000);
      viewer.#closers.push(() => clearInterval(keepalive));
      viewer.#closers.push(async () => {
        await post(s, { janus: 'destroy' });
      });
      await post(h, { janus: 'message', body: { request: 'watch', id } });
      let offer: { type: 'offer'; sdp: string } | undefined;
      const until = Date.now() + 15_000;
      while (!offer) {
        if (Date.now() > until) throw new Error('janus: no offer within 15 s');
        const ev = (await (await fetch(`${s}?maxev=1`)).json()) as { jsep?: { type: 'offer'; sdp: string } };
        if (ev.jsep) offer = ev.jsep;
      }
      await viewer.pc.setRemoteDescription(offer);
      const answer = await viewer.pc.createAnswer();
      await viewer.pc.setLocalDescription(answer);
      await post(h, { janus: 'message', body: { request: 'start' }, jsep: { type: 'answer', sdp: answer.sdp } });
      return viewer;
    } catch (err) {
      await post(s, { janus: 'destroy' }).catch(() => {});
      throw err;
    }
  }
}

interface RouterCaps {
  codecs: { kind: string; mimeType: string; parameters?: Record<string, unknown> }[];
}

interface TransportInfo {
  id: string;
  iceParameters: { usernameFragment: string; password: string };
  iceCandidates: {
    foundation: string;
    priority: number;
    ip?: string;
    address?: string;
    port: number;
    protocol: string;
  }[];
  dtlsParameters: { fingerprints: { algorithm: string; value: string }[] };
}

interface ConsumerInfo {
  id: string;
  kind: 'audio' | 'video';
  rtpParameters: {
    codecs: {
      mimeType: string;
      payloadType: number;
      clockRate: number;
      parameters?: Record<string, unknown>;
      rtcpFeedback?: { type: string; parameter?: string }[];
    }[];
    encodings?: { ssrc?: number }[];
    rtcp?: { cname?: string };
  };
}

/** The remote offer for one recvonly H.264 m-line, the way mediasoup-client writes it for a consumer. */
function offerSdp(t: TransportInfo, c: ConsumerInfo): string {
  const codecs = c.rtpParameters.codecs.filter((x) => x.mimeType.toLowerCase() === 'video/h264');
  const pts = codecs.map((x) => x.payloadType);
  const fp = t.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? t.dtlsParameters.fingerprints[0];
  const ssrc = c.rtpParameters.encodings?.[0]?.ssrc;
  const lines = [
    'v=0',
    'o=- 10000 1 IN IP4 0.0.0.0',
    's=-',
    't=0 0',
    'a=ice-lite',
    `a=fingerprint:${fp?.algorithm} ${fp?.value}`,
    'a=msid-semantic: WMS *',
    'a=group:BUNDLE 0',
    `m=video 7 UDP/TLS/RTP/SAVPF ${pts.join(' ')}`,
    'c=IN IP4 127.0.0.1',
    'a=mid:0',
    'a=sendonly',
    `a=ice-ufrag:${t.iceParameters.usernameFragment}`,
    `a=ice-pwd:${t.iceParameters.password}`,
    ...t.iceCandidates
      .filter((x) => x.protocol === 'udp')
      .map((x) => `a=candidate:${x.foundation} 1 udp ${x.priority} ${x.address ?? x.ip} ${x.port} typ host`),
    'a=end-of-candidates',
    'a=setup:actpass',
    'a=rtcp-mux',
    'a=rtcp-rsize',
  ];
  for (const x of codecs) {
    lines.push(`a=rtpmap:${x.payloadType} H264/${x.clockRate}`);
    const fmtp = Object.entries(x.parameters ?? {})
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(';');
    if (fmtp) lines.push(`a=fmtp:${x.payloadType} ${fmtp}`);
    for (const fb of x.rtcpFeedback ?? [])
      lines.push(`a=rtcp-fb:${x.payloadType} ${fb.type}${fb.parameter ? ` ${fb.parameter}` : ''}`);
  }
  if (ssrc) lines.push(`a=ssrc:${ssrc} cname:${c.rtpParameters.rtcp?.cname ?? 'gateway'}`);
  return `${lines.join('\r\n')}\r\n`;
}

function dtlsFromSdp(sdp: string): { role: 'client' | 'server'; fingerprints: { algorithm: string; value: string }[] } {
  const fp = /a=fingerprint:(\S+) (\S+)/.exec(sdp);
  const setup = /a=setup:(\w+)/.exec(sdp)?.[1];
  if (!fp) throw new Error('answer has no DTLS fingerprint');
  return {
    role: setup === 'passive' ? 'server' : 'client',
    fingerprints: [{ algorithm: fp[1] as string, value: fp[2] as string }],
  };
}

/** The gateway's WebSocket request/response protocol (signaling/src/protocol.ts). */
class GatewaySocket {
  #next = 1;
  readonly #pending = new Map<number, { resolve: (d: unknown) => void; reject: (e: Error) => void }>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      const msg = JSON.parse(String(raw)) as { id?: number; ok?: boolean; data?: unknown; error?: unknown };
      const p = msg.id !== undefined ? this.#pending.get(msg.id) : undefined;
      if (!p) return;
      this.#pending.delete(msg.id as number);
      if (msg.ok) p.resolve(msg.data);
      else p.reject(new Error(JSON.stringify(msg.error)));
    });
    ws.on('close', () => {
      for (const p of this.#pending.values()) p.reject(new Error('signalling socket closed'));
      this.#pending.clear();
    });
  }

  static async open(url: string): Promise<GatewaySocket> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('error', () => {});
    return new GatewaySocket(ws);
  }

  request<T = Record<string, unknown>>(method: string, data: unknown = {}): Promise<T> {
    const id = this.#next++;
    this.ws.send(JSON.stringify({ id, method, data }));
    return new Promise((resolve, reject) =>
      this.#pending.set(id, { resolve: resolve as (d: unknown) => void, reject }),
    );
  }
}
