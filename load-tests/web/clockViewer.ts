// Benchmark viewer page (bundled by esbuild, served by Playwright at the origin of the server under
// test). One `join()` plays one stream by one of three paths and resolves at its first decoded frame;
// while it plays, every frame of a clock camera is read back from a canvas (requestVideoFrameCallback)
// and compared with this machine's clock.
//   gateway: the gateway's signalling protocol over /ws (what web-client does, without its UI)
//   floor:   the benchmark's reference mediasoup server (JSON over HTTP at /floor/*)
//   janus:   Janus' streaming plugin (its HTTP API at /janus)
import { Device, type types } from 'mediasoup-client';

export interface JoinOptions {
  mode: 'gateway' | 'floor' | 'janus';
  /** gateway: stream id; janus: mountpoint id (as a string). */
  stream: string;
  token?: string;
  /** Decode the clock in every frame. */
  clock: boolean;
  /** gateway: the consume request's latency ('low': playout-delay 0). */
  latency?: 'smooth' | 'low';
  timeoutMs?: number;
  /** gateway: fetch this snapshot URL (the poster) as the join starts, as the web client does. */
  snapshot?: string;
}

export interface JoinResult {
  /** Consume (gateway, floor) or watch (janus) request to the first frame handed to the compositor. */
  ttffMs: number;
  /** Same, to the frame's presentationTime from requestVideoFrameCallback. */
  ttffPresentedMs: number;
  /** Signalling round trips up to the request (connect, auth, transport), not part of ttff. */
  setupMs: number;
  /** From the join's start (the click): the first live frame, and the poster decoded (with `snapshot`). */
  liveMs: number;
  pictureMs: number | null;
}

export interface DelaySamples {
  /** ms from the frame's capture to: the last packet received, presentation, expected display, the callback. */
  receive: number[];
  present: number[];
  display: number[];
  callback: number[];
  frames: number;
  badDecodes: number;
}

export interface ReceiverStats {
  framesDecoded: number;
  framesDropped: number;
  packetsLost: number;
  packetsReceived: number;
  nackCount: number;
  pliCount: number;
  /** RTP inter-arrival jitter the receiver measured (RFC 3550), ms. */
  jitterMs: number | null;
  jitterBufferMs: number | null;
  jitterBufferTargetMs: number | null;
  decodeMs: number | null;
  processingMs: number | null;
  frameWidth: number | null;
  fps: number | null;
  decoder: string | null;
  codec: string | null;
}

interface Session {
  video: HTMLVideoElement;
  stats: () => Promise<RTCStatsReport | undefined>;
  close: () => Promise<void>;
}

const empty = (): DelaySamples => ({ receive: [], present: [], display: [], callback: [], frames: 0, badDecodes: 0 });
let samples = empty();
let current: Session | undefined;
const MOD = 2 ** 32;

const canvas = document.createElement('canvas');
const ctx = canvas.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D;

/** The time (ms mod 2^32) drawn into a clock frame, or null when the check row does not match. */
function readClock(video: HTMLVideoElement): number | null {
  const w = video.videoWidth;
  const h = video.videoHeight;
  if (!w || !h) return null;
  const block = Math.floor(w / 16);
  const rows = Math.ceil(block / 2 + 3 * block);
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== rows) canvas.height = rows;
  ctx.drawImage(video, 0, 0, w, h, 0, 0, w, h);
  const data = ctx.getImageData(0, 0, w, rows).data;
  const row = (r: number): number => {
    let v = 0;
    const y = Math.floor(block / 2 + r * block + block / 2);
    for (let b = 0; b < 16; b++) {
      const x = Math.floor(b * block + block / 2);
      v = (v << 1) | ((data[(y * w + x) * 4] as number) > 128 ? 1 : 0);
    }
    return v;
  };
  const hi = row(0);
  const lo = row(1);
  if (((hi ^ lo ^ 0xa5a5) & 0xffff) !== row(2)) return null;
  return hi * 65536 + lo;
}

/** a - b on the 2^32 ms circle, as a signed number. */
function diff(a: number, b: number): number {
  const d = (((a - b) % MOD) + MOD) % MOD;
  return d > MOD / 2 ? d - MOD : d;
}

function watchFrames(video: HTMLVideoElement, clock: boolean, first: (presentedAt: number) => void): void {
  let seen = false;
  const onFrame = (_now: number, md: VideoFrameCallbackMetadata): void => {
    if (current?.video !== video) return; // left
    const nowEpoch = Date.now();
    const epochOffset = nowEpoch - performance.now();
    if (!seen) {
      seen = true;
      first(md.presentationTime);
    }
    samples.frames++;
    if (clock) {
      const t = readClock(video);
      if (t === null) samples.badDecodes++;
      else {
        samples.callback.push(diff(nowEpoch, t));
        samples.present.push(diff(epochOffset + md.presentationTime, t));
        samples.display.push(diff(epochOffset + md.expectedDisplayTime, t));
        const rx = (md as VideoFrameCallbackMetadata & { receiveTime?: number }).receiveTime;
        if (rx !== undefined) samples.receive.push(diff(epochOffset + rx, t));
      }
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

function newVideo(): HTMLVideoElement {
  const video = document.createElement('video');
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  video.width = 640;
  video.height = 360;
  document.body.replaceChildren(video);
  return video;
}

async function postJson(url: string, body: unknown): Promise<Record<string, unknown>> {
  const r = await fetch(url, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
  const j = (await r.json()) as Record<string, unknown>;
  if (!r.ok || j['error']) throw new Error(`${url}: ${JSON.stringify(j['error'] ?? r.status)}`);
  return j;
}

/** The gateway's signalling protocol (signaling/src/protocol.ts), just what a viewer needs. */
class Signalling {
  #next = 1;
  readonly #pending = new Map<number, { resolve: (d: unknown) => void; reject: (e: Error) => void }>();
  private constructor(readonly ws: WebSocket) {
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data)) as { id?: number; ok?: boolean; data?: unknown; error?: unknown };
      const p = msg.id !== undefined ? this.#pending.get(msg.id) : undefined;
      if (!p) return;
      this.#pending.delete(msg.id as number);
      if (msg.ok) p.resolve(msg.data);
      else p.reject(new Error(JSON.stringify(msg.error)));
    };
    ws.onclose = () => {
      for (const p of this.#pending.values()) p.reject(new Error('socket closed'));
      this.#pending.clear();
    };
  }

  static async open(url: string): Promise<Signalling> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`cannot open ${url}`));
    });
    return new Signalling(ws);
  }

  request<T = Record<string, unknown>>(method: string, data: unknown = {}): Promise<T> {
    const id = this.#next++;
    this.ws.send(JSON.stringify({ id, method, data }));
    return new Promise((resolve, reject) =>
      this.#pending.set(id, { resolve: resolve as (d: unknown) => void, reject }),
    );
  }
}

async function joinGateway(
  o: JoinOptions,
  video: HTMLVideoElement,
): Promise<{ requestedAt: number; session: Session }> {
  const sig = await Signalling.open(`ws://${location.host}/ws`);
  await sig.request('auth', { token: o.token ?? '' });
  const { rtpCapabilities } = await sig.request<{ rtpCapabilities: types.RtpCapabilities }>('getRouterRtpCapabilities');
  const device = new Device();
  await device.load({ routerRtpCapabilities: rtpCapabilities });
  const tp = await sig.request<types.TransportOptions>('createTransport');
  const transport = device.createRecvTransport(tp);
  transport.on('connect', ({ dtlsParameters }, ok, fail) => {
    sig.request('connectTransport', { transportId: tp.id, dtlsParameters }).then(() => ok(), fail);
  });
  const requestedAt = performance.now();
  const res = await sig.request<{ consumers: types.ConsumerOptions[] }>('consume', {
    transportId: tp.id,
    stream: o.stream,
    variant: 'main',
    rtpCapabilities: device.rtpCapabilities,
    ...(o.latency ? { latency: o.latency } : {}),
  });
  const consumers: types.Consumer[] = [];
  for (const c of res.consumers) consumers.push(await transport.consume(c));
  video.srcObject = new MediaStream(consumers.map((c) => c.track));
  void video.play().catch(() => {});
  for (const c of consumers) await sig.request('resume', { consumerId: c.id });
  const consumer = consumers.find((c) => c.kind === 'video');
  return {
    requestedAt,
    session: {
      video,
      stats: async () => consumer?.getStats(),
      close: async () => {
        transport.close();
        sig.ws.close();
      },
    },
  };
}

async function joinFloor(_o: JoinOptions, video: HTMLVideoElement): Promise<{ requestedAt: number; session: Session }> {
  const api = (name: string, body: unknown = {}) => postJson(`/floor/${name}`, body);
  const { rtpCapabilities } = (await api('caps')) as { rtpCapabilities: types.RtpCapabilities };
  const device = new Device();
  await device.load({ routerRtpCapabilities: rtpCapabilities });
  const tp = (await api('createTransport')) as unknown as types.TransportOptions;
  const transport = device.createRecvTransport(tp);
  transport.on('connect', ({ dtlsParameters }, ok, fail) => {
    api('connect', { transportId: tp.id, dtlsParameters }).then(() => ok(), fail);
  });
  const requestedAt = performance.now();
  const c = (await api('consume', {
    transportId: tp.id,
    rtpCapabilities: device.rtpCapabilities,
  })) as unknown as types.ConsumerOptions;
  const consumer = await transport.consume(c);
  video.srcObject = new MediaStream([consumer.track]);
  void video.play().catch(() => {});
  await api('resume', { consumerId: c.id });
  return {
    requestedAt,
    session: {
      video,
      stats: () => consumer.getStats(),
      close: async () => {
        transport.close();
        await api('close', { transportId: tp.id }).catch(() => {});
      },
    },
  };
}

async function joinJanus(o: JoinOptions, video: HTMLVideoElement): Promise<{ requestedAt: number; session: Session }> {
  const tx = () => Math.random().toString(36).slice(2);
  const janus = (url: string, body: Record<string, unknown>) => postJson(url, { ...body, transaction: tx() });
  const session = ((await janus('/janus', { janus: 'create' }))['data'] as { id: number }).id;
  const base = `/janus/${session}`;
  const handle = ((await janus(base, { janus: 'attach', plugin: 'janus.plugin.streaming' }))['data'] as { id: number })
    .id;
  const h = `${base}/${handle}`;
  let closed = false;
  const keepalive = setInterval(() => void janus(base, { janus: 'keepalive' }).catch(() => {}), 20_000);
  const pc = new RTCPeerConnection();
  pc.ontrack = (ev) => {
    video.srcObject = ev.streams[0] ?? new MediaStream([ev.track]);
    void video.play().catch(() => {});
  };
  pc.onicecandidate = (ev) => {
    if (closed) return;
    const candidate = ev.candidate ? ev.candidate.toJSON() : { completed: true };
    void janus(h, { janus: 'trickle', candidate }).catch(() => {});
  };
  const requestedAt = performance.now();
  await janus(h, { janus: 'message', body: { request: 'watch', id: Number(o.stream) } });
  let offer: RTCSessionDescriptionInit | undefined;
  const until = performance.now() + 10_000;
  while (!offer) {
    if (performance.now() > until) throw new Error('janus: no offer within 10 s');
    const r = await fetch(`${base}?maxev=1&rid=${Date.now()}`);
    const ev = (await r.json()) as { jsep?: RTCSessionDescriptionInit; plugindata?: { data?: { error?: string } } };
    if (ev.plugindata?.data?.error) throw new Error(`janus: ${ev.plugindata.data.error}`);
    if (ev.jsep) offer = ev.jsep;
  }
  await pc.setRemoteDescription(offer);
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  await janus(h, { janus: 'message', body: { request: 'start' }, jsep: { type: 'answer', sdp: answer.sdp } });
  return {
    requestedAt,
    session: {
      video,
      stats: () => pc.getStats(),
      close: async () => {
        closed = true;
        clearInterval(keepalive);
        pc.close();
        await janus(base, { janus: 'destroy' }).catch(() => {});
      },
    },
  };
}

async function join(o: JoinOptions): Promise<JoinResult> {
  if (current) await leave();
  const started = performance.now();
  const video = newVideo();
  let firstAt = 0;
  let firstPresented = 0;
  const first = new Promise<void>((resolve) => {
    watchFrames(video, o.clock, (presented) => {
      firstAt = performance.now();
      firstPresented = presented;
      resolve();
    });
  });
  // The poster: fetched and decoded beside the join, as the web client shows it before live video.
  let pictureAt: number | null = null;
  const poster = o.snapshot
    ? fetch(o.snapshot, { headers: { authorization: `Bearer ${o.token ?? ''}` } })
        .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(`snapshot ${r.status}`))))
        .then((b) => createImageBitmap(b))
        .then((bitmap) => {
          pictureAt = performance.now();
          bitmap.close();
        })
        .catch(() => {})
    : Promise.resolve();
  const placeholder: Session = { video, stats: async () => undefined, close: async () => {} };
  current = placeholder;
  const joined = await (o.mode === 'gateway'
    ? joinGateway(o, video)
    : o.mode === 'floor'
      ? joinFloor(o, video)
      : joinJanus(o, video));
  if (current !== placeholder) {
    await joined.session.close(); // left meanwhile
    throw new Error('left while joining');
  }
  current = joined.session;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    first,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no frame within ${o.timeoutMs ?? 15_000} ms`)), o.timeoutMs ?? 15_000);
    }),
  ]).finally(() => clearTimeout(timer));
  await poster;
  return {
    ttffMs: firstAt - joined.requestedAt,
    ttffPresentedMs: firstPresented - joined.requestedAt,
    setupMs: joined.requestedAt - started,
    liveMs: firstAt - started,
    pictureMs: pictureAt === null ? null : (pictureAt as number) - started,
  };
}

async function leave(): Promise<void> {
  const s = current;
  current = undefined;
  if (!s) return;
  s.video.srcObject = null;
  s.video.remove();
  await s.close();
}

async function receiverStats(): Promise<ReceiverStats | null> {
  const report = await current?.stats();
  if (!report) return null;
  let inbound: Record<string, unknown> | undefined;
  report.forEach((s: Record<string, unknown>) => {
    if (s['type'] === 'inbound-rtp' && s['kind'] === 'video') inbound = s;
  });
  if (!inbound) return null;
  const n = (k: string) => (typeof inbound?.[k] === 'number' ? (inbound[k] as number) : 0);
  const per = (k: string, by: string) => (n(by) ? Math.round((1000 * n(k)) / n(by)) / 1 : null);
  const codec = inbound['codecId'] ? (report.get(inbound['codecId'] as string) as { mimeType?: string }) : undefined;
  return {
    framesDecoded: n('framesDecoded'),
    framesDropped: n('framesDropped'),
    packetsLost: n('packetsLost'),
    packetsReceived: n('packetsReceived'),
    nackCount: n('nackCount'),
    pliCount: n('pliCount'),
    jitterMs: typeof inbound['jitter'] === 'number' ? Math.round((inbound['jitter'] as number) * 10000) / 10 : null,
    jitterBufferMs: per('jitterBufferDelay', 'jitterBufferEmittedCount'),
    jitterBufferTargetMs: per('jitterBufferTargetDelay', 'jitterBufferEmittedCount'),
    decodeMs: per('totalDecodeTime', 'framesDecoded'),
    processingMs: per('totalProcessingDelay', 'framesDecoded'),
    frameWidth: n('frameWidth') || null,
    fps: n('framesPerSecond') || null,
    decoder: (inbound['decoderImplementation'] as string | undefined) ?? null,
    codec: codec?.mimeType ?? null,
  };
}

export interface BenchPage {
  join: typeof join;
  leave: typeof leave;
  /** Samples since the last reset (and clears them). */
  take: () => DelaySamples;
  reset: () => void;
  receiverStats: typeof receiverStats;
}

(window as unknown as { bench: BenchPage }).bench = {
  join,
  leave,
  take: () => {
    const s = samples;
    samples = empty();
    return s;
  },
  reset: () => {
    samples = empty();
  },
  receiverStats,
};
