// The packet-level ingest: an RTSP client that forwards each RTP packet of the camera's H.264 video
// (and G.711/Opus audio) to the stream's mediasoup PlainTransports the moment it arrives, instead
// of letting FFmpeg hold every frame until the next one starts.
//
// Same seam and lifecycle as FfmpegSource (RtpSource: state, restarts, runningSince, start/restart/
// stop, `state` and `failed` events; supervised restarts with capped backoff). Per packet it
// rewrites the RTP header in place (the Producer's SSRC and payload type, sequence numbers that run
// on across reconnects, timestamps that keep increasing) and sends it from fixed local ports: the
// comedia PlainTransport only accepts the source address it learned first. Before each IDR that
// comes without in-band SPS/PPS it sends one STAP-A with the camera's SDP (or last in-band) SPS and
// PPS, so mediasoup sees a keyframe. A video packet larger than MAX_RTP_PACKET (some cameras send
// whole slices in one packet over RTSP/TCP) goes on as FU-A fragments of at most FRAGMENT_PAYLOAD
// bytes, as WebRTC stacks packetize: mediasoup keeps no copy of packets over 1500 bytes for
// retransmission, and a browser behind a smaller MTU would never get them whole. Camera sender
// reports go on to the transport's RTCP port with the SSRC and timestamp rewritten; receiver
// reports go back to the camera every few seconds.
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import type { Logger } from '../../log.js';
import type { AudioCodec } from '../../media/codecs.js';
import { backoffDelay } from '../backoff.js';
import type { RestartReason, RtpSource, RtpSourceEvents, SourceState } from '../FfmpegSource.js';
import { type RtpTarget, redact } from '../ffmpegArgs.js';
import { fragmentH264, HAS_PPS, HAS_SPS, IDR_START, inspectH264, parameterSets, stapAPayload } from './h264.js';
import { parseSession, parseTransport } from './message.js';
import { planPacketIngest } from './plan.js';
import { type Described, describe, type RtspConnection, RtspError } from './RtspConnection.js';
import { findSenderReport, ReceiverStats, wantsKeyframe, writePli, writeReceiverReport } from './rtcp.js';
import { FrameStartStamp, isRtp, payloadEnd, payloadOffset, RTP_HEADER, RtpRewriter, writeRtpHeader } from './rtp.js';
import { controlUrl, parseSdp } from './sdp.js';

export interface SupervisedRtpSource extends RtpSource {
  /** When the current run (process or RTSP session) started, ms since epoch; 0 when none runs. */
  readonly runningSince: number;
  readonly pid?: number | undefined;
}

export interface PacketTrackTarget {
  target: RtpTarget;
  /**
   * Sockets already bound to target.localRtpPort and localRtcpPort (see ports.ts); the source
   * keeps them until close(). Without them it binds those ports itself on the first start.
   */
  sockets?: [dgram.Socket, dgram.Socket] | undefined;
  /** 'h264' for video; the audio codec the Producer was made for. */
  codec: 'h264' | AudioCodec;
  clockRate: number;
}

export interface RtspPacketSourceOptions {
  url: string;
  transport: 'tcp' | 'udp';
  timeoutMs: number;
  video: PacketTrackTarget;
  audio?: PacketTrackTarget | undefined;
  secrets: string[];
  backoffInitialMs: number;
  backoffMaxMs: number;
  logger: Logger;
  /** An open connection whose DESCRIBE was answered (by the probe); the first run starts from it. */
  described?: Described | undefined;
  /** Receiver reports to the camera; default 5000 ms. */
  rtcpIntervalMs?: number;
}

const HEALTHY_AFTER_MS = 10_000;
const DESCRIBED_FRESH_MS = 10_000;
const PLI_MIN_INTERVAL_MS = 1000;
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
  /** The playout-delay stamp on each frame's first packet (see FrameStartStamp). */
  stamp: FrameStartStamp;
}

/** One forwarded track: its fixed sockets toward mediasoup and its per-session state. */
class Track {
  readonly rewriter: RtpRewriter;
  readonly stats: ReceiverStats;
  readonly srBuf = Buffer.alloc(28);
  readonly rtcpOut = Buffer.alloc(1500);
  fwdRtp: dgram.Socket | undefined;
  fwdRtcp: dgram.Socket | undefined;
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
  readonly h264: H264State | undefined;

  constructor(
    readonly kind: 'video' | 'audio',
    readonly spec: PacketTrackTarget,
  ) {
    this.rewriter = new RtpRewriter(spec.target.ssrc, spec.target.payloadType, spec.clockRate);
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
            stamp: new FrameStartStamp(),
            split: 0,
            largest: 0,
          }
        : undefined;
  }
}

/** One RTSP session attempt and what it holds. */
class Session {
  ended = false;
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
}

export class RtspPacketSource extends EventEmitter<RtpSourceEvents> implements SupervisedRtpSource {
  #state: SourceState = 'stopped';
  #session: Session | undefined;
  #timer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #restarts = 0;
  #wanted = false;
  #stopping: Promise<void> | undefined;
  #described: Described | undefined;
  #describedAt = 0;
  #forwarders: Promise<void> | undefined;
  #closed = false;
  readonly #tracks: Track[];
  readonly #video: Track;
  readonly #audio: Track | undefined;
  readonly #reporterSsrc = (Math.random() * 0xffffffff) >>> 0;
  readonly #cname = `${USER_AGENT}@${os.hostname()}`;
  readonly #log: Logger;

  constructor(private readonly opts: RtspPacketSourceOptions) {
    super();
    this.#video = new Track('video', opts.video);
    this.#audio = opts.audio ? new Track('audio', opts.audio) : undefined;
    this.#tracks = this.#audio ? [this.#video, this.#audio] : [this.#video];
    this.#described = opts.described;
    this.#describedAt = opts.described ? Date.now() : 0;
    this.#log = opts.logger.child({ ingest: 'packet' });
  }

  get state(): SourceState {
    return this.#state;
  }

  get restarts(): number {
    return this.#restarts;
  }

  get runningSince(): number {
    return this.#session && !this.#session.ended ? this.#session.startedAt : 0;
  }

  get pid(): undefined {
    return undefined;
  }

  /** Packets sent to mediasoup, STAP-As inserted and oversize packets split (for tests and logs). */
  get counters(): { videoSeq: number; inserted: number; split: number } {
    const h = this.#video.h264;
    return { videoSeq: this.#video.rewriter.lastSeq, inserted: h?.inserted ?? 0, split: h?.split ?? 0 };
  }

  start(): void {
    if (this.#closed) return;
    this.#wanted = true;
    if (!this.#session && !this.#timer && !this.#stopping) void this.#run();
  }

  restart(reason: RestartReason): void {
    if (!this.#wanted || !this.#session) return;
    this.#end(this.#session, reason, `restart requested (${reason})`, null);
  }

  /**
   * Ends the session (TEARDOWN) and the supervision. The local ports toward mediasoup stay bound, so
   * a later start() sends from the same source address the comedia transport has locked onto and no
   * other socket can take them meanwhile; close() releases them.
   */
  async stop(): Promise<void> {
    this.#wanted = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#stopping ??= (async () => {
      const s = this.#session;
      if (s && !s.ended) {
        const conn = s.conn;
        if (conn && s.id && !conn.closed) await conn.teardown(s.playUrl || conn.url, s.id);
        this.#end(s, 'exit', 'stopped', null);
      }
      this.#described?.conn.close();
      this.#described = undefined;
    })();
    await this.#stopping;
    this.#stopping = undefined;
    if (this.#wanted) void this.#run();
    else this.#setState('stopped');
  }

  /** stop(), then releases the local ports (the stream is gone for good). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.stop();
    await this.#forwarders?.catch(() => {});
    await this.#closeSockets();
    for (const t of this.#tracks) for (const sock of t.spec.sockets ?? []) sock.close();
  }

  #setState(s: SourceState): void {
    if (this.#state === s) return;
    this.#state = s;
    this.emit('state', s);
  }

  // ---- fixed sockets toward mediasoup ----

  #openForwarders(): Promise<void> {
    this.#forwarders ??= Promise.all(this.#tracks.map((t) => this.#openTrackForwarders(t))).then(
      () => undefined,
      async (err: NodeJS.ErrnoException) => {
        // e.g. EADDRINUSE: close what did open and try again on the next run.
        await this.#closeSockets();
        throw new RtspError(`cannot bind the fixed local RTP ports: ${err.message}`, 'exit');
      },
    );
    return this.#forwarders;
  }

  async #openTrackForwarders(t: Track): Promise<void> {
    const { target } = t.spec;
    const open = (localPort: number, remotePort: number, bound: dgram.Socket | undefined) =>
      new Promise<dgram.Socket>((resolve, reject) => {
        const s = bound ?? dgram.createSocket('udp4');
        s.once('error', (err) => {
          if (!bound) {
            try {
              s.close();
            } catch {}
          }
          reject(err);
        });
        const connect = () =>
          s.connect(remotePort, target.ip, () => {
            s.removeAllListeners('error');
            // On a connected socket ICMP errors (e.g. the transport is gone) arrive per packet: log few.
            let loggedAt = 0;
            s.on('error', (err) => {
              if (Date.now() - loggedAt < 10_000) return;
              loggedAt = Date.now();
              this.#log.warn({ err: err.message, kind: t.kind }, 'forwarding socket error');
            });
            s.unref(); // held while idle; it must not keep the process alive
            resolve(s);
          });
        if (bound) connect();
        else s.bind(localPort, target.ip, connect);
      });
    const [rtp, rtcp] = t.spec.sockets ?? [];
    t.fwdRtp = await open(target.localRtpPort, target.rtpPort, rtp);
    t.fwdRtcp = await open(target.localRtcpPort, target.rtcpPort, rtcp);
    // mediasoup's RTCP toward the "sender": forward its keyframe requests to the camera.
    t.fwdRtcp.removeAllListeners('message');
    t.fwdRtcp.on('message', (msg) => {
      if (wantsKeyframe(msg, 0, msg.length)) this.#requestKeyframe(t);
    });
  }

  async #closeSockets(): Promise<void> {
    this.#forwarders = undefined;
    await Promise.all(
      this.#tracks.flatMap((t) => {
        // Sockets handed in are closed by close() itself.
        const given: dgram.Socket[] = t.spec.sockets ?? [];
        const socks = [t.fwdRtp, t.fwdRtcp].filter((s): s is dgram.Socket => !!s && !given.includes(s));
        t.fwdRtp = undefined;
        t.fwdRtcp = undefined;
        return socks.map((s) => new Promise<void>((r) => s.close(() => r())));
      }),
    );
  }

  // ---- one session ----

  async #run(): Promise<void> {
    this.#timer = undefined;
    const s = new Session();
    this.#session = s;
    this.#setState('running');
    this.#log.debug({ attempt: this.#attempt, transport: this.opts.transport }, 'rtsp connecting');
    try {
      await this.#openForwarders();
      if (s.ended) return;
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
      conn.buffersBusy = () => this.#sendQueued();
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
    for (const t of this.#tracks) t.active = false;
    let channel = 0;
    let timeoutSec = 60;
    for (const [t, url, pt] of bindings) {
      let transport: string;
      if (this.opts.transport === 'tcp') {
        transport = `RTP/AVP/TCP;unicast;interleaved=${channel}-${channel + 1}`;
      } else {
        const [rtp, rtcp] = await bindReceivePair();
        if (s.ended) {
          rtp.close();
          rtcp.close();
          return;
        }
        t.recvRtp = rtp;
        t.recvRtcp = rtcp;
        transport = `RTP/AVP;unicast;client_port=${rtp.address().port}-${rtcp.address().port}`;
      }
      const res = await conn.request('SETUP', url, { Transport: transport, ...(s.id ? { Session: s.id } : {}) });
      if (s.ended) return;
      const session = parseSession(res.headers.get('session')?.[0]);
      if (!session) throw new RtspError(`SETUP: no Session in the answer (${conn.where})`, 'bad_stream', res.status);
      s.id ||= session.id;
      timeoutSec = session.timeoutSec;
      const reply = parseTransport(res.headers.get('transport')?.[0]);
      t.inPt = pt;
      if (this.opts.transport === 'tcp') {
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
      t.rewriter.newSession();
      t.stats.reset();
      t.active = true;
    }
    s.playUrl = controlUrl(d.base, sdp.control, '');
    await conn.request('PLAY', s.playUrl, { Session: s.id, Range: 'npt=0.000-' });
    if (s.ended) return;
    s.playingAt = Date.now();
    // Keep the session alive well before the camera's timeout (RTCP alone does not do it for all).
    const every = Math.max(1000, Math.min(timeoutSec * 500, (timeoutSec - 5) * 1000));
    s.keepAlive = setInterval(() => void this.#keepAlive(s), every);
    s.rtcpTimer = setInterval(() => this.#sendReceiverReports(s), this.opts.rtcpIntervalMs ?? 5000);
    s.keepAlive.unref();
    s.rtcpTimer.unref();
    this.#log.info(
      {
        transport: this.opts.transport,
        server: conn.where,
        redirects: d.redirects,
        video: { pt: v.format.payloadType, profileLevelId: v.profileLevelId, sdpParameterSets: !!(v.sps && v.pps) },
        audio: this.#audio?.active ? this.#audio.spec.codec : 'none',
        sessionTimeoutSec: timeoutSec,
        keepAliveMs: every,
        setupMs: s.playingAt - s.startedAt,
      },
      'rtsp session playing',
    );
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
    const fwd = t.fwdRtp;
    if (!fwd) return;
    t.stats.onPacket(buf, off, now);
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
    const extra = (insert ? 1 : 0) + (fragments ? fragments.length - 1 : 0);
    let seq = t.rewriter.rewrite(buf, off, now, extra);
    const ts = buf.readUInt32BE(off + 4);
    if (insert && h?.stap) {
      const stap = h.stap[h.stapTurn] as Buffer;
      h.stapTurn ^= 1;
      writeRtpHeader(stap, t.spec.target.payloadType, false, seq, ts, t.spec.target.ssrc);
      seq = (seq + 1) & 0xffff;
      fwd.send(h.stamp.apply(stap, 0, stap.length) ?? stap);
      if (h.inserted++ === 0)
        this.#log.info('sending SPS/PPS before keyframes (the camera sends them only in its SDP)');
    }
    if (fragments) {
      // The last fragment takes the camera packet's own (rewritten) number and marker bit.
      const marker = ((buf[off + 1] as number) & 0x80) !== 0;
      const own = buf.readUInt16BE(off + 2);
      for (let i = 0; i < fragments.length; i++) {
        const last = i === fragments.length - 1;
        const pkt = fragments[i] as Buffer;
        writeRtpHeader(pkt, t.spec.target.payloadType, marker && last, last ? own : seq, ts, t.spec.target.ssrc);
        seq = (seq + 1) & 0xffff;
        fwd.send(h?.stamp.apply(pkt, 0, pkt.length) ?? pkt);
      }
      return;
    }
    const stamped = h?.stamp.apply(buf, off, len);
    if (stamped) fwd.send(stamped);
    else fwd.send(buf, off, len);
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

  /** True when a send toward mediasoup was queued (EAGAIN) rather than done at once. */
  #sendQueued(): boolean {
    for (const t of this.#tracks) if ((t.fwdRtp?.getSendQueueCount() ?? 0) > 0) return true;
    return false;
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
    const n = sr && t.fwdRtcp ? t.rewriter.senderReport(t.srBuf, sr) : 0;
    if (!sr || !n) return;
    t.stats.onSenderReport(sr, now);
    t.fwdRtcp?.send(t.srBuf, 0, n);
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

  #requestKeyframe(t: Track): void {
    const s = this.#session;
    const now = Date.now();
    if (!s || s.ended || !t.active || t.stats.ssrc < 0 || now - t.lastPliAt < PLI_MIN_INTERVAL_MS) return;
    t.lastPliAt = now;
    const pli = Buffer.allocUnsafe(12);
    writePli(pli, this.#reporterSsrc, t.stats.ssrc);
    this.#sendRtcpToCamera(s, t, pli, 12);
  }

  #sendRtcpToCamera(s: Session, t: Track, buf: Buffer, len: number): void {
    if (this.opts.transport === 'tcp') {
      s.conn?.sendFrame(t.rtcpChannel, buf, len);
    } else if (t.recvRtcp && t.serverRtcpPort) {
      t.recvRtcp.send(buf, 0, len, t.serverRtcpPort, t.serverAddress);
    }
  }

  // ---- session end and supervision ----

  #end(s: Session, reason: RestartReason, message: string, status: number | null): void {
    if (s.ended) return;
    s.ended = true;
    clearInterval(s.keepAlive);
    clearInterval(s.rtcpTimer);
    s.conn?.close();
    for (const t of this.#tracks) {
      t.active = false;
      for (const sock of [t.recvRtp, t.recvRtcp]) sock?.close();
      t.recvRtp = t.recvRtcp = undefined;
      t.rewriter.newSession();
    }
    if (this.#session !== s) return;
    this.#session = undefined;
    if (!this.#wanted) return;
    const ranMs = Date.now() - s.startedAt;
    if (s.playingAt && ranMs > HEALTHY_AFTER_MS) this.#attempt = 0;
    const delayMs = backoffDelay(this.#attempt++, this.opts.backoffInitialMs, this.opts.backoffMaxMs);
    this.#restarts++;
    this.#log.warn(
      {
        reason,
        status,
        error: redact(message, this.opts.secrets),
        playedMs: s.playingAt ? Date.now() - s.playingAt : 0,
        restartInMs: delayMs,
        restarts: this.#restarts,
      },
      'rtsp session ended; restarting',
    );
    this.#setState('backoff');
    this.emit('failed', { reason, code: status, signal: null, delayMs });
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#wanted && !this.#session && !this.#stopping) void this.#run();
    }, delayMs);
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
