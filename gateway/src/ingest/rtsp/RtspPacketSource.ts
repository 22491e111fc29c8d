// The packet-level ingest: an RTSP client that forwards each RTP packet of the camera's H.264 video
// (and G.711/Opus audio) to the stream's mediasoup PlainTransports the moment it arrives, instead
// of letting FFmpeg hold every frame until the next one starts.
//
// The same seam as the FFmpeg path (IngestSource: one run is one RTSP session; the stream's
// Supervisor restarts it) and the same RtpForwarder per track, which rewrites each packet's header
// and sends it from the stream's held local ports. Before each IDR that
// comes without in-band SPS/PPS it sends one STAP-A with the camera's SDP (or last in-band) SPS and
// PPS, so mediasoup sees a keyframe. A video packet larger than MAX_RTP_PACKET (some cameras send
// whole slices in one packet over RTSP/TCP) goes on as FU-A fragments of at most FRAGMENT_PAYLOAD
// bytes, as WebRTC stacks packetize: mediasoup keeps no copy of packets over 1500 bytes for
// retransmission, and a browser behind a smaller MTU would never get them whole. Camera sender
// reports go on to the transport's RTCP port with the SSRC and timestamp rewritten; receiver
// reports go back to the camera every few seconds.
import dgram from 'node:dgram';
import os from 'node:os';
import type { Run, RunEnd } from '../../core/Supervisor.js';
import type { Logger } from '../../log.js';
import type { AudioCodec } from '../../media/codecs.js';
import { redact } from '../ffmpegArgs.js';
import { rawTracks } from '../ffmpegInput.js';
import type { RtpForwarder } from '../RtpForwarder.js';
import type { IngestSource, RestartReason } from '../source.js';
import { fragmentH264, HAS_PPS, HAS_SPS, IDR_START, inspectH264, parameterSets, stapAPayload } from './h264.js';
import { parseSession, parseTransport } from './message.js';
import { planPacketIngest } from './plan.js';
import { type Described, describe, type RtspConnection, RtspError } from './RtspConnection.js';
import { findSenderReport, ReceiverStats, writePli, writeReceiverReport } from './rtcp.js';
import { isRtp, payloadEnd, payloadOffset, RTP_HEADER } from './rtp.js';
import { controlUrl, parseSdp, type Sdp } from './sdp.js';
import type { RtspLowerTransport, TransportChoice } from './transport.js';

export interface PacketTrack {
  /** Where the track's packets go (the stream's held sockets toward its Producer). */
  forwarder: RtpForwarder;
  /**
   * 'h264' for relayed video; the audio codec the Producer was made for; 'raw': the camera's first
   * track of the kind, whatever its codec, passed on as it is (to FFmpeg, which transcodes it).
   */
  codec: 'h264' | AudioCodec | 'raw';
  clockRate: number;
}

export interface RtspPacketSourceOptions {
  url: string;
  /** The camera's transport choice (shared by its sessions: what worked is remembered there). */
  transport: TransportChoice;
  timeoutMs: number;
  video: PacketTrack;
  audio?: PacketTrack | undefined;
  secrets: string[];
  logger: Logger;
  /** An open connection whose DESCRIBE was answered (by the probe); the first run starts from it. */
  described?: Described | undefined;
  /** Receiver reports to the camera; default 5000 ms. */
  rtcpIntervalMs?: number;
  /**
   * Relayed H.264 whose frames arrive out of presentation order (B-frames), which WebRTC decoders
   * cannot show smoothly; called once per session.
   */
  onReordered?: () => void;
  /**
   * Ask the camera for a keyframe when a session starts (default true). FFmpeg's feed says false:
   * FfmpegSource asks once FFmpeg listens, or the keyframe would be lost before it.
   */
  keyframeOnStart?: boolean;
}

const DESCRIBED_FRESH_MS = 10_000;
export const PLI_MIN_INTERVAL_MS = 1000;
/** Frames whose timestamp goes back (within 2 s) before a session's video counts as reordered. */
const REORDERED_FRAMES = 3;
const REORDER_WINDOW = 2 * 90000;
const USER_AGENT = 'cctv-gateway';
/** Largest camera RTP packet forwarded as it is (GStreamer's and most cameras' payloaders: 1400). */
export const MAX_RTP_PACKET = 1400;
/** Payload bytes of each fragment of a larger packet (a 1200-byte packet, as WebRTC stacks send). */
export const FRAGMENT_PAYLOAD = 1188;

interface H264State {
  /** Parameter sets of the session's SDP and the last ones seen in-band. */
  sdpSps: Buffer | undefined;
  sdpPps: Buffer | undefined;
  bandSps: Buffer | undefined;
  bandPps: Buffer | undefined;
  /** Two prebuilt RTP packets (header + STAP-A [SPS, PPS]) used in turn. */
  stap: [Buffer, Buffer] | undefined;
  stapTurn: number;
  spsTs: number;
  ppsTs: number;
  keyTs: number;
  inserted: number;
  warnedNoSets: boolean;
  /** Oversize packets split into fragments, and the largest seen. */
  split: number;
  largest: number;
}

/** One relayed track: its forwarder toward mediasoup and its per-session state. */
class Track {
  readonly stats: ReceiverStats;
  readonly rtcpOut = Buffer.alloc(1500);
  // Per session:
  active = false;
  inPt = -1;
  rtpChannel = -1;
  rtcpChannel = -1;
  recvRtp: dgram.Socket | undefined;
  recvRtcp: dgram.Socket | undefined;
  serverRtcpPort = 0;
  serverAddress = '';
  lastPliAt = 0;
  /** A keyframe request that came within the minimum interval, sent when it is over. */
  pliTimer: NodeJS.Timeout | undefined;
  /** Video only: whether this session's first packet arrived, the last frame's timestamp, frames seen going back. */
  gotFirst = false;
  /** The SSRC the camera's SETUP answer announced (-1: none), so a keyframe can be asked before the first packet. */
  announcedSsrc = -1;
  frameTs = -1;
  reordered = 0;
  readonly h264: H264State | undefined;

  constructor(
    readonly kind: 'video' | 'audio',
    readonly spec: PacketTrack,
  ) {
    this.stats = new ReceiverStats(spec.clockRate);
    this.h264 =
      spec.codec === 'h264'
        ? {
            sdpSps: undefined,
            sdpPps: undefined,
            bandSps: undefined,
            bandPps: undefined,
            stap: undefined,
            stapTurn: 0,
            spsTs: -1,
            ppsTs: -1,
            keyTs: -1,
            inserted: 0,
            warnedNoSets: false,
            split: 0,
            largest: 0,
          }
        : undefined;
  }

  get forwarder(): RtpForwarder {
    return this.spec.forwarder;
  }
}

/** One RTSP session (one run) and what it holds. */
class Session {
  ended = false;
  transport: RtspLowerTransport = 'tcp';
  conn: RtspConnection | undefined;
  id = '';
  playUrl = '';
  startedAt = Date.now();
  playingAt = 0;
  keepAlive: NodeJS.Timeout | undefined;
  rtcpTimer: NodeJS.Timeout | undefined;
  keepAliveMethod: 'GET_PARAMETER' | 'OPTIONS' = 'GET_PARAMETER';
  /** Interleaved channel → track and whether it carries RTCP. */
  readonly channels: ({ track: Track; rtcp: boolean } | undefined)[] = [];
  readonly end: Promise<RunEnd<RestartReason>>;
  finish!: (end: RunEnd<RestartReason>) => void;

  constructor() {
    this.end = new Promise((resolve) => {
      this.finish = resolve;
    });
  }
}

export class RtspPacketSource implements IngestSource {
  #session: Session | undefined;
  #described: Described | undefined;
  #describedAt = 0;
  readonly #tracks: Track[];
  readonly #video: Track;
  readonly #audio: Track | undefined;
  readonly #reporterSsrc = (Math.random() * 0xffffffff) >>> 0;
  readonly #cname = `${USER_AGENT}@${os.hostname()}`;
  readonly #log: Logger;

  constructor(private readonly opts: RtspPacketSourceOptions) {
    this.#video = new Track('video', opts.video);
    this.#audio = opts.audio ? new Track('audio', opts.audio) : undefined;
    this.#tracks = this.#audio ? [this.#video, this.#audio] : [this.#video];
    // mediasoup's keyframe requests toward the "sender" go on to the camera.
    for (const t of this.#tracks) t.forwarder.onKeyframeRequest = () => this.#requestKeyframe(t);
    this.#described = opts.described;
    this.#describedAt = opts.described ? Date.now() : 0;
    this.#log = opts.logger.child({ ingest: 'packet' });
  }

  /** Packets sent to mediasoup, STAP-As inserted and oversize packets split (for tests and logs). */
  get counters(): { videoSeq: number; inserted: number; split: number } {
    const h = this.#video.h264;
    return { videoSeq: this.#video.forwarder.rewriter.lastSeq, inserted: h?.inserted ?? 0, split: h?.split ?? 0 };
  }

  /** Asks the camera for a keyframe now (at most once per `minIntervalMs`), e.g. until FFmpeg has one. */
  requestKeyframe(minIntervalMs = PLI_MIN_INTERVAL_MS): void {
    this.#requestKeyframe(this.#video, minIntervalMs);
  }

  /** One RTSP session: DESCRIBE (or the probe's), SETUP, PLAY; `ended` settles when it ends. */
  async run(): Promise<Run<RestartReason>> {
    const s = new Session();
    this.#session = s;
    s.transport = this.opts.transport.current;
    this.#log.debug({ transport: s.transport }, 'rtsp connecting');
    void this.#connect(s);
    return { ended: s.end, stop: (reason) => this.#stopSession(s, reason) };
  }

  /** TEARDOWN, then the session ends with `reason`. */
  async #stopSession(s: Session, reason: RestartReason): Promise<void> {
    if (s.ended) return;
    const conn = s.conn;
    if (reason === 'stopped' && conn && s.id && !conn.closed) await conn.teardown(s.playUrl || conn.url, s.id);
    this.#end(s, reason, reason === 'stopped' ? 'stopped' : `restart requested (${reason})`, null);
  }

  /** The stream is gone for good: drops a kept DESCRIBE connection. The forwarders are the stream's. */
  async close(): Promise<void> {
    const s = this.#session;
    if (s) await this.#stopSession(s, 'stopped');
    this.#described?.conn.close();
    this.#described = undefined;
  }

  // ---- one session ----

  async #connect(s: Session): Promise<void> {
    try {
      let d = this.#described;
      this.#described = undefined;
      if (d && (d.conn.closed || Date.now() - this.#describedAt > DESCRIBED_FRESH_MS)) {
        d.conn.close();
        d = undefined;
      }
      d ??= await describe(this.opts.url, { timeoutMs: this.opts.timeoutMs, userAgent: USER_AGENT });
      const conn = d.conn;
      if (s.ended) {
        conn.close();
        return;
      }
      s.conn = conn;
      conn.onFrame = (ch, buf, off, len) => this.#onFrame(s, ch, buf, off, len);
      conn.buffersBusy = () => this.#tracks.some((t) => t.forwarder.busy);
      conn.onClose((err) => this.#end(s, err.reason, err.message, err.status));
      await this.#setup(s, d);
    } catch (err) {
      const e = err instanceof RtspError ? err : new RtspError((err as Error).message, 'exit');
      this.#end(s, e.reason, e.message, e.status);
    }
  }

  async #setup(s: Session, d: Described): Promise<void> {
    const conn = s.conn as RtspConnection;
    const sdp = parseSdp(d.sdp);
    const bindings = this.#video.spec.codec === 'raw' ? this.#rawBindings(d, sdp) : this.#relayBindings(d, sdp);
    let timeoutSec: number;
    try {
      timeoutSec = await this.#setupTracks(s, conn, bindings);
    } catch (err) {
      // Cameras that only do UDP answer a TCP SETUP with 461 (and the reverse): under auto, the
      // same connection asks again with the other transport.
      const status = err instanceof RtspError ? err.status : null;
      const next = status === 461 && !s.id && !s.ended ? this.opts.transport.refused(s.transport) : undefined;
      if (!next) throw err;
      this.#log.info(
        { refused: s.transport, using: next, status },
        `the camera refuses RTP over ${s.transport.toUpperCase()}; using ${next.toUpperCase()}`,
      );
      s.transport = next;
      timeoutSec = await this.#setupTracks(s, conn, bindings);
    }
    if (s.ended) return;
    s.playUrl = controlUrl(d.base, sdp.control, '');
    await conn.request('PLAY', s.playUrl, { Session: s.id, Range: 'npt=0.000-' });
    if (s.ended) return;
    s.playingAt = Date.now();
    // A camera that announced its SSRC is asked for a keyframe at once (others on their first packet):
    // some send nothing to a new session before their next one, seconds away on a long GOP.
    if (this.#video.announcedSsrc >= 0 && this.opts.keyframeOnStart !== false) this.#requestKeyframe(this.#video);
    // Keep the session alive well before the camera's timeout (RTCP alone does not do it for all).
    const every = Math.max(1000, Math.min(timeoutSec * 500, (timeoutSec - 5) * 1000));
    s.keepAlive = setInterval(() => void this.#keepAlive(s), every);
    s.rtcpTimer = setInterval(() => this.#sendReceiverReports(s), this.opts.rtcpIntervalMs ?? 5000);
    s.keepAlive.unref();
    s.rtcpTimer.unref();
    this.#log.info(
      {
        transport: s.transport,
        server: conn.where,
        redirects: d.redirects,
        video: {
          pt: this.#video.inPt,
          codec: this.#video.spec.codec,
          sdpParameterSets: !!(this.#video.h264?.sdpSps && this.#video.h264.sdpPps),
        },
        audio: this.#audio?.active ? this.#audio.spec.codec : 'none',
        sessionTimeoutSec: timeoutSec,
        keepAliveMs: every,
        setupMs: s.playingAt - s.startedAt,
      },
      'rtsp session playing',
    );
  }

  /** SETUP of each track over the session's transport; resolves with the session timeout (s). */
  async #setupTracks(s: Session, conn: RtspConnection, bindings: [Track, string, number][]): Promise<number> {
    for (const t of this.#tracks) {
      t.active = false;
      for (const sock of [t.recvRtp, t.recvRtcp]) sock?.close();
      t.recvRtp = t.recvRtcp = undefined;
    }
    let channel = 0;
    let timeoutSec = 60;
    for (const [t, url, pt] of bindings) {
      let transport: string;
      if (s.transport === 'tcp') {
        transport = `RTP/AVP/TCP;unicast;interleaved=${channel}-${channel + 1}`;
      } else {
        const [rtp, rtcp] = await bindReceivePair();
        if (s.ended) {
          rtp.close();
          rtcp.close();
          return timeoutSec;
        }
        t.recvRtp = rtp;
        t.recvRtcp = rtcp;
        transport = `RTP/AVP;unicast;client_port=${rtp.address().port}-${rtcp.address().port}`;
      }
      const res = await conn.request('SETUP', url, { Transport: transport, ...(s.id ? { Session: s.id } : {}) });
      if (s.ended) return timeoutSec;
      const session = parseSession(res.headers.get('session')?.[0]);
      if (!session) throw new RtspError(`SETUP: no Session in the answer (${conn.where})`, 'bad_stream', res.status);
      s.id ||= session.id;
      timeoutSec = session.timeoutSec;
      const reply = parseTransport(res.headers.get('transport')?.[0]);
      t.inPt = pt;
      t.announcedSsrc = reply.ssrc ?? -1;
      if (s.transport === 'tcp') {
        const [a, b] = reply.interleaved ?? [channel, channel + 1];
        t.rtpChannel = a;
        t.rtcpChannel = b;
        s.channels[a] = { track: t, rtcp: false };
        s.channels[b] = { track: t, rtcp: true };
        channel = Math.max(a, b) + 1;
      } else {
        if (!reply.serverPort && /RTP\/AVP\/TCP/i.test(res.headers.get('transport')?.[0] ?? '')) {
          throw new RtspError(`SETUP: the camera refused RTP over UDP (${conn.where})`, 'bad_stream', res.status);
        }
        t.serverRtcpPort = reply.serverPort?.[1] ?? 0;
        t.serverAddress = reply.source && /^[0-9a-f.:]+$/i.test(reply.source) ? reply.source : conn.remoteAddress;
        this.#listenUdp(s, t);
      }
      t.forwarder.newSession();
      t.stats.reset();
      t.gotFirst = false;
      t.frameTs = -1;
      t.reordered = 0;
      t.active = true;
    }
    return timeoutSec;
  }

  /** H.264 video (and G.711/Opus audio) to relay to mediasoup: track, SETUP URL, the camera's payload type. */
  #relayBindings(d: Described, sdp: Sdp): [Track, string, number][] {
    const plan = planPacketIngest(sdp);
    if (!plan.video) throw new RtspError(`cannot relay the camera's video: ${plan.videoProblem}`, 'bad_stream');
    const bindings: [Track, string, number][] = [];
    const v = plan.video;
    bindings.push([this.#video, controlUrl(d.base, sdp.control, v.media.control), v.format.payloadType]);
    const h = this.#video.h264 as H264State;
    h.sdpSps = v.sps;
    h.sdpPps = v.pps;
    h.spsTs = h.ppsTs = h.keyTs = -1;
    this.#buildStap(h);
    const audio = this.#audio;
    if (audio) {
      if (plan.audio && plan.audio.codec === audio.spec.codec) {
        bindings.push([
          audio,
          controlUrl(d.base, sdp.control, plan.audio.media.control),
          plan.audio.format.payloadType,
        ]);
      } else {
        this.#log.warn({ camera: plan.audioCodec || 'none', expected: audio.spec.codec }, 'camera audio not relayed');
      }
    }
    return bindings;
  }

  /** The camera's tracks as they are, for FFmpeg (see ffmpegInput.ts). */
  #rawBindings(d: Described, sdp: Sdp): [Track, string, number][] {
    const raw = rawTracks(sdp, !!this.#audio);
    if (!raw.video) throw new RtspError('the camera sends no video track', 'bad_stream');
    const bindings: [Track, string, number][] = [
      [this.#video, controlUrl(d.base, sdp.control, raw.video.media.control), raw.video.format.payloadType],
    ];
    if (this.#audio && raw.audio)
      bindings.push([
        this.#audio,
        controlUrl(d.base, sdp.control, raw.audio.media.control),
        raw.audio.format.payloadType,
      ]);
    return bindings;
  }

  #listenUdp(s: Session, t: Track): void {
    const rtp = t.recvRtp as dgram.Socket;
    const rtcp = t.recvRtcp as dgram.Socket;
    rtp.on('message', (msg) => {
      if (!s.ended) this.#onRtp(t, msg, 0, msg.length, performance.now());
    });
    rtcp.on('message', (msg) => {
      if (!s.ended) this.#onRtcp(t, msg, 0, msg.length, performance.now());
    });
  }

  async #keepAlive(s: Session): Promise<void> {
    const conn = s.conn;
    if (s.ended || !conn) return;
    try {
      const res = await conn.request(s.keepAliveMethod, s.playUrl, { Session: s.id }, { allowError: true });
      if (s.ended) return;
      if (res.status === 454) {
        this.#end(s, 'exit', `keep-alive: RTSP 454 Session Not Found (${conn.where})`, 454);
      } else if (res.status >= 400 && s.keepAliveMethod === 'GET_PARAMETER') {
        s.keepAliveMethod = 'OPTIONS';
        this.#log.debug({ status: res.status }, 'GET_PARAMETER refused; keeping the session alive with OPTIONS');
        void this.#keepAlive(s);
      }
    } catch {
      // The connection has failed and #end has run from its close handler.
    }
  }

  // ---- hot path ----

  #onFrame(s: Session, channel: number, buf: Buffer, off: number, len: number): void {
    if (s.ended) return;
    const c = s.channels[channel];
    if (!c?.track.active) return;
    const now = performance.now();
    if (c.rtcp) this.#onRtcp(c.track, buf, off, len, now);
    else this.#onRtp(c.track, buf, off, len, now);
  }

  #onRtp(t: Track, buf: Buffer, off: number, len: number, now: number): void {
    if (!isRtp(buf, off, len) || ((buf[off + 1] as number) & 0x7f) !== t.inPt) return;
    t.stats.onPacket(buf, off, now);
    if (t.kind === 'video') {
      if (!t.gotFirst) this.#firstVideo(t);
      const ts = buf.readUInt32BE(off + 4);
      if (ts !== t.frameTs) {
        // A frame stamped before the previous one: decode order is not display order (B-frames).
        const back = (t.frameTs - ts) | 0;
        if (t.frameTs >= 0 && back > 0 && back < REORDER_WINDOW && ++t.reordered === REORDERED_FRAMES)
          this.opts.onReordered?.();
        t.frameTs = ts;
      }
    }
    const h = t.h264;
    let insert = false;
    let fragments: Buffer[] | null = null;
    if (h) {
      const p = payloadOffset(buf, off, len);
      if (p < 0) return;
      const end = payloadEnd(buf, off, len);
      const flags = inspectH264(buf, off + p, end - p);
      if (flags !== 0) {
        const ts = buf.readUInt32BE(off + 4);
        if (flags & (HAS_SPS | HAS_PPS)) this.#noteParameterSets(h, buf, off + p, end - p, flags, ts);
        if (flags & IDR_START && ts !== h.keyTs) {
          h.keyTs = ts;
          if (h.spsTs !== ts || h.ppsTs !== ts) {
            if (h.stap) insert = true;
            else if (!h.warnedNoSets) {
              h.warnedNoSets = true;
              this.#log.warn('keyframe without SPS/PPS, in-band or in the SDP: viewers may wait for one');
            }
          }
        }
      }
      if (len > MAX_RTP_PACKET) fragments = this.#split(h, buf, off + p, end - p, len);
    }
    let stap: Buffer | null = null;
    if (insert && h?.stap) {
      stap = h.stap[h.stapTurn] as Buffer;
      h.stapTurn ^= 1;
      if (h.inserted++ === 0)
        this.#log.info('sending SPS/PPS before keyframes (the camera sends them only in its SDP)');
    }
    if (stap || fragments) t.forwarder.forwardWith(buf, off, len, now, stap, fragments);
    else t.forwarder.forward(buf, off, len, now);
  }

  /**
   * The session's first video packet: the transport works (remembered), and the camera is asked for
   * a keyframe at once, so a cold start need not wait for its next one (FFmpeg cannot ask).
   */
  #firstVideo(t: Track): void {
    t.gotFirst = true;
    const s = this.#session;
    if (!s) return;
    if (this.opts.transport.worked(s.transport))
      this.#log.info(
        { transport: s.transport },
        `video arrives over ${s.transport.toUpperCase()}; kept for this camera`,
      );
    if (this.opts.keyframeOnStart !== false) this.#requestKeyframe(t);
  }

  /** FU-A fragments (RTP header room included) of an oversize packet's payload, or null. */
  #split(h: H264State, buf: Buffer, off: number, len: number, packetLen: number): Buffer[] | null {
    const fragments = fragmentH264(buf, off, len, FRAGMENT_PAYLOAD, RTP_HEADER);
    if (!fragments) return null;
    if (packetLen > h.largest) {
      if (h.largest === 0 || packetLen > 2 * h.largest)
        this.#log.info(
          { bytes: packetLen, limit: MAX_RTP_PACKET },
          'the camera sends RTP packets larger than WebRTC paths carry: splitting them into FU-A fragments',
        );
      h.largest = packetLen;
    }
    h.split++;
    return fragments;
  }

  #noteParameterSets(h: H264State, buf: Buffer, off: number, len: number, flags: number, ts: number): void {
    if (flags & HAS_SPS) h.spsTs = ts;
    if (flags & HAS_PPS) h.ppsTs = ts;
    const sets = parameterSets(buf, off, len);
    let changed = false;
    if (sets.sps && !sets.sps.equals(h.bandSps ?? h.sdpSps ?? Buffer.alloc(0))) {
      h.bandSps = sets.sps;
      changed = true;
    }
    if (sets.pps && !sets.pps.equals(h.bandPps ?? h.sdpPps ?? Buffer.alloc(0))) {
      h.bandPps = sets.pps;
      changed = true;
    }
    if (changed) this.#buildStap(h);
  }

  #buildStap(h: H264State): void {
    const sps = h.bandSps ?? h.sdpSps;
    const pps = h.bandPps ?? h.sdpPps;
    if (!sps || !pps) {
      h.stap = undefined;
      return;
    }
    const payload = stapAPayload([sps, pps]);
    const make = () => {
      const b = Buffer.alloc(RTP_HEADER + payload.length);
      payload.copy(b, RTP_HEADER);
      return b;
    };
    h.stap = [make(), make()];
  }

  #onRtcp(t: Track, buf: Buffer, off: number, len: number, now: number): void {
    const sr = findSenderReport(buf, off, len);
    if (sr && t.forwarder.senderReport(sr)) t.stats.onSenderReport(sr, now);
  }

  #sendReceiverReports(s: Session): void {
    if (s.ended) return;
    const now = performance.now();
    for (const t of this.#tracks) {
      if (!t.active || t.stats.received === 0) continue;
      const n = writeReceiverReport(t.rtcpOut, this.#reporterSsrc, [t.stats], this.#cname, now);
      this.#sendRtcpToCamera(s, t, t.rtcpOut, n);
    }
  }

  #requestKeyframe(t: Track, minIntervalMs = PLI_MIN_INTERVAL_MS): void {
    const s = this.#session;
    const now = Date.now();
    const ssrc = t.stats.ssrc >= 0 ? t.stats.ssrc : t.announcedSsrc;
    if (!s || s.ended || !t.active || ssrc < 0) return;
    const wait = t.lastPliAt + minIntervalMs - now;
    if (wait > 0) {
      // Too soon after the last one (e.g. a viewer joined just after the session's own request, and
      // missed that keyframe): sent when the interval is over, not dropped.
      t.pliTimer ??= setTimeout(() => {
        t.pliTimer = undefined;
        this.#requestKeyframe(t, minIntervalMs);
      }, wait);
      return;
    }
    clearTimeout(t.pliTimer);
    t.pliTimer = undefined;
    t.lastPliAt = now;
    const pli = Buffer.allocUnsafe(12);
    writePli(pli, this.#reporterSsrc, ssrc);
    this.#sendRtcpToCamera(s, t, pli, 12);
    this.#log.debug({ kind: t.kind, transport: s.transport }, 'keyframe requested from the camera (RTCP PLI)');
  }

  #sendRtcpToCamera(s: Session, t: Track, buf: Buffer, len: number): void {
    if (s.transport === 'tcp') {
      s.conn?.sendFrame(t.rtcpChannel, buf, len);
    } else if (t.recvRtcp && t.serverRtcpPort) {
      t.recvRtcp.send(buf, 0, len, t.serverRtcpPort, t.serverAddress);
    }
  }

  // ---- session end ----

  #end(s: Session, reason: RestartReason, message: string, status: number | null): void {
    if (s.ended) return;
    s.ended = true;
    if (s.playingAt && !this.#video.gotFirst && reason !== 'stopped') {
      // Played, but no video came over this transport (e.g. UDP blocked on the way): try the other.
      const next = this.opts.transport.refused(s.transport);
      if (next)
        this.#log.info(
          { silent: s.transport, using: next },
          `no video over ${s.transport.toUpperCase()}; trying ${next.toUpperCase()}`,
        );
    }
    clearInterval(s.keepAlive);
    clearInterval(s.rtcpTimer);
    s.conn?.close();
    for (const t of this.#tracks) {
      t.active = false;
      clearTimeout(t.pliTimer);
      t.pliTimer = undefined;
      for (const sock of [t.recvRtp, t.recvRtcp]) sock?.close();
      t.recvRtp = t.recvRtcp = undefined;
      t.forwarder.newSession();
    }
    if (this.#session === s) this.#session = undefined;
    const error = redact(message, this.opts.secrets);
    if (reason !== 'stopped')
      this.#log.info(
        { reason, status, error, playedMs: s.playingAt ? Date.now() - s.playingAt : 0 },
        'rtsp session ended',
      );
    s.finish({ reason, message: error, code: status });
  }
}

/** Two UDP sockets for RTP and RTCP from the camera, on an even/odd port pair when one is found. */
async function bindReceivePair(): Promise<[dgram.Socket, dgram.Socket]> {
  const bind = (port: number) =>
    new Promise<dgram.Socket>((resolve, reject) => {
      const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
      s.once('error', (err) => {
        try {
          s.close();
        } catch {}
        reject(err);
      });
      s.bind(port, () => resolve(s));
    });
  for (let i = 0; i < 20; i++) {
    const rtp = await bind(0);
    const port = rtp.address().port;
    if (port % 2 === 0 && port < 65535) {
      const rtcp = await bind(port + 1).catch(() => undefined);
      if (rtcp) return [rtp, rtcp];
    }
    rtp.close();
  }
  return [await bind(0), await bind(0)];
}
