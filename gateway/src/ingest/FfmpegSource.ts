// The FFmpeg ingest path, for cameras that need transcoding (H.265, MJPEG, AAC) or `ingest: ffmpeg`.
// FFmpeg never talks to the camera: one run is one RTSP session of the gateway's own client, relaying
// the camera's tracks as they are to loopback ports FFmpeg reads (an SDP on its stdin says what they
// carry, see ffmpegInput.ts), and one FFmpeg process; when either ends, so does the other, and the
// stream's Supervisor starts both again. FFmpeg sends its RTP and RTCP to receive sockets held here,
// and each packet goes on through the track's RtpForwarder at once:
// every restarted FFmpeg starts a new random timestamp base (5.1 cannot set it), which mediasoup
// 3.12's SimpleConsumer would pass on and Chromium would hold for seconds; the forwarder's rewriter
// keeps numbers and timestamps running. stderr becomes structured, credential-free log lines.
import type { ChildProcess } from 'node:child_process';
import type dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import type { Run, RunEnd } from '../core/Supervisor.js';
import { tiedSpawn } from '../core/tiedSpawn.js';
import type { Logger } from '../log.js';
import { classifyFfmpegLine, type RtpTarget, redact } from './ffmpegArgs.js';
import { ffmpegInputSdp, type RawTrack } from './ffmpegInput.js';
import { freeUdpPortPair, reserveUdpPair } from './ports.js';
import { RtpForwarder } from './RtpForwarder.js';
import type { Described } from './rtsp/RtspConnection.js';
import { RtspPacketSource } from './rtsp/RtspPacketSource.js';
import { findSenderReport } from './rtsp/rtcp.js';
import { isRtp } from './rtsp/rtp.js';
import type { TransportChoice } from './rtsp/transport.js';
import type { IngestSource, RestartReason } from './source.js';

export interface FfmpegTargets {
  video: RtpTarget;
  audio?: RtpTarget;
}

export interface FfmpegSourceOptions {
  ffmpegPath: string;
  /** Built at each start from where FFmpeg should send, so a restart can pick up new settings. */
  args: (targets: FfmpegTargets) => string[];
  /** The tracks' forwarders toward their Producers (FFmpeg's output). */
  video: RtpForwarder;
  audio?: RtpForwarder | undefined;
  /** The camera, pulled by the gateway's RTSP client and relayed to FFmpeg. */
  camera: {
    url: string;
    transport: TransportChoice;
    timeoutMs: number;
    /** Its DESCRIBE, answered; the first session starts from it. */
    described: Described;
    video: RawTrack;
    audio?: RawTrack | undefined;
  };
  /** Shown in FFmpeg's SDP and command line (never a URL). */
  name: string;
  secrets: string[];
  logger: Logger;
  /** The camera's video arrives out of display order (B-frames): see RtspPacketSourceOptions. */
  onReordered?: () => void;
}

/** The relay's side of the FFmpeg input: a forwarder per camera track, pointed at FFmpeg's ports. */
interface Input {
  relay: RtspPacketSource;
  forwarders: RtpForwarder[];
  sdp: string;
  /** The loopback port FFmpeg reads the camera's video on. */
  videoPort: number;
}

const MAX_LOG_LINES_PER_RUN = 20;
const KEYFRAME_ASK_MS = 600;
const PORT_POLL_MS = 20;
const PORT_WAIT_MS = 3000;

/**
 * Resolves once some socket has bound UDP `port` (/proc/net/udp; FFmpeg binds the port its SDP
 * names), when `over` settles, or after PORT_WAIT_MS (also where /proc cannot be read).
 */
function udpPortBound(port: number, over: Promise<unknown>): Promise<void> {
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`; // "0100007F:9C40" in /proc/net/udp
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      done = true;
      clearInterval(poll);
      resolve();
    };
    const until = Date.now() + PORT_WAIT_MS;
    const poll = setInterval(() => {
      if (done) return;
      if (Date.now() > until) return finish();
      Promise.all(['/proc/net/udp', '/proc/net/udp6'].map((f) => readFile(f, 'utf8').catch(() => '')))
        .then((tables) => {
          // Each line: "sl local_address rem_address st ..."; no table at all: not Linux, stop waiting.
          const bound = tables.some((t) => t.split('\n').some((l) => l.trim().split(/\s+/)[1]?.endsWith(local)));
          if (bound || tables.every((t) => t === '')) finish();
        })
        .catch(finish);
    }, PORT_POLL_MS);
    poll.unref();
    void over.then(() => !done && finish());
  });
}
const STOP_GRACE_MS = 2000;

/** The two sockets FFmpeg sends one track to; each packet goes on through the forwarder. */
class Receiver {
  constructor(
    readonly rtp: dgram.Socket,
    readonly rtcp: dgram.Socket,
    forwarder: RtpForwarder,
  ) {
    rtp.on('message', (msg) => {
      if (!isRtp(msg, 0, msg.length)) return;
      this.packets++;
      forwarder.forward(msg, 0, msg.length, performance.now());
    });
    rtcp.on('message', (msg) => {
      const sr = findSenderReport(msg, 0, msg.length);
      if (sr) forwarder.senderReport(sr);
    });
  }

  /** RTP packets FFmpeg has sent here. */
  packets = 0;

  static async open(forwarder: RtpForwarder): Promise<Receiver> {
    const [rtp, rtcp] = await reserveUdpPair();
    return new Receiver(rtp, rtcp, forwarder);
  }

  target(forwarder: RtpForwarder): RtpTarget {
    return {
      ip: '127.0.0.1',
      rtpPort: this.rtp.address().port,
      rtcpPort: this.rtcp.address().port,
      localRtpPort: 0,
      localRtcpPort: 0,
      ssrc: forwarder.ssrc,
      payloadType: forwarder.payloadType,
    };
  }

  close(): void {
    for (const s of [this.rtp, this.rtcp]) {
      try {
        s.close();
      } catch {}
    }
  }
}

export class FfmpegSource implements IngestSource {
  #child: ChildProcess | undefined;

  private constructor(
    private readonly opts: FfmpegSourceOptions,
    private readonly receivers: { video: Receiver; audio?: Receiver | undefined },
    private readonly input: Input,
  ) {}

  static async create(opts: FfmpegSourceOptions): Promise<FfmpegSource> {
    const opened: { close(): void }[] = [];
    try {
      const video = await Receiver.open(opts.video);
      opened.push(video);
      const audio = opts.audio ? await Receiver.open(opts.audio) : undefined;
      if (audio) opened.push(audio);
      const input = await FfmpegSource.#input(opts, opened);
      return new FfmpegSource(opts, { video, audio }, input);
    } catch (err) {
      for (const o of opened) o.close();
      throw err;
    }
  }

  /** One forwarder per camera track toward a port pair FFmpeg binds, the relay that feeds them, and the SDP. */
  static async #input(opts: FfmpegSourceOptions, opened: { close(): void }[]): Promise<Input> {
    const { camera } = opts;
    const tracks = [camera.video, ...(opts.audio && camera.audio ? [camera.audio] : [])];
    const forwarders: RtpForwarder[] = [];
    const described: { track: RawTrack; port: number }[] = [];
    for (const track of tracks) {
      const port = await freeUdpPortPair();
      const forwarder = await RtpForwarder.open({
        ssrc: (Math.random() * 0xffffffff) >>> 0,
        payloadType: track.format.payloadType,
        clockRate: track.format.clockRate || 90000,
        video: false,
        logger: opts.logger,
      });
      opened.push(forwarder);
      await forwarder.pointAt({ ip: '127.0.0.1', rtpPort: port, rtcpPort: port + 1 });
      forwarders.push(forwarder);
      described.push({ track, port });
    }
    const [video, audio] = forwarders as [RtpForwarder, RtpForwarder | undefined];
    const relay = new RtspPacketSource({
      url: camera.url,
      transport: camera.transport,
      timeoutMs: camera.timeoutMs,
      video: { forwarder: video, codec: 'raw', clockRate: camera.video.format.clockRate || 90000 },
      audio:
        audio && camera.audio
          ? { forwarder: audio, codec: 'raw', clockRate: camera.audio.format.clockRate || 8000 }
          : undefined,
      secrets: opts.secrets,
      logger: opts.logger,
      described: camera.described,
      ...(opts.onReordered ? { onReordered: opts.onReordered } : {}),
      keyframeOnStart: false, // asked once FFmpeg listens (run())
    });
    return { relay, forwarders, sdp: ffmpegInputSdp(described, opts.name), videoPort: described[0]?.port ?? 0 };
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get targets(): FfmpegTargets {
    const { video, audio } = this.receivers;
    return {
      video: video.target(this.opts.video),
      ...(audio && this.opts.audio ? { audio: audio.target(this.opts.audio) } : {}),
    };
  }

  async run(): Promise<Run<RestartReason>> {
    const ffmpeg = this.#spawn();
    const session = await this.input.relay.run();
    // A keyframe that reaches FFmpeg before it listens (some 100-300 ms after it starts) is lost, and
    // so is one it reads while it analyses its input (-fflags nobuffer drops those packets), and the
    // next may be seconds away on a long GOP. So the camera is asked once FFmpeg's input port is bound
    // (the analysis needs SPS/PPS, which some cameras send only in-band) and again every
    // KEYFRAME_ASK_MS until FFmpeg sends video: measured, the second one (after the analysis) is
    // the one FFmpeg sends on (load-tests/coldstart.ts).
    const video = this.receivers.video;
    const before = video.packets;
    const timers = new Set<NodeJS.Timeout>();
    const over = Promise.race([ffmpeg.ended, session.ended]).then(() => {
      for (const t of timers) clearTimeout(t);
    });
    const ask = (afterMs: number) => {
      const t = setTimeout(() => {
        timers.delete(t);
        if (video.packets > before) return;
        this.input.relay.requestKeyframe(0);
        ask(KEYFRAME_ASK_MS);
      }, afterMs);
      t.unref();
      timers.add(t);
    };
    void udpPortBound(this.input.videoPort, over).then(() => {
      if (video.packets > before) return;
      this.input.relay.requestKeyframe(0);
      ask(KEYFRAME_ASK_MS);
    });
    // The pair ends together: the first to end says why, the other is stopped.
    const ended = Promise.race([ffmpeg.ended, session.ended]).then(async (end) => {
      await Promise.all([ffmpeg.stop(end.reason), session.stop(end.reason)]);
      return end;
    });
    return {
      ended,
      stop: async (reason) => {
        await Promise.all([ffmpeg.stop(reason), session.stop(reason)]);
        await ended;
      },
    };
  }

  /** One FFmpeg process reading the relayed tracks. */
  #spawn(): Run<RestartReason> {
    const { logger, video, audio } = this.opts;
    for (const f of [video, audio]) f?.newSession();
    const child = tiedSpawn(this.opts.ffmpegPath, this.opts.args(this.targets), { stdio: ['pipe', 'ignore', 'pipe'] });
    this.#child = child;
    child.stdin?.on('error', () => {}); // FFmpeg may exit before it read the SDP: its exit says why
    child.stdin?.end(this.input.sdp);
    logger.info({ pid: child.pid }, 'ffmpeg started');
    let lastReason: RestartReason | null = null;
    let requested: RestartReason | undefined;
    let logged = 0;
    const seen = new Set<string>();
    readline.createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (raw) => {
      if (!raw.trim()) return;
      const line = redact(raw, this.opts.secrets);
      lastReason = classifyFfmpegLine(line) ?? lastReason;
      const key = line.replace(/0x[0-9a-f]+|\d+/g, '#');
      if (seen.has(key) || logged >= MAX_LOG_LINES_PER_RUN) return;
      seen.add(key);
      logged++;
      const level = /\[(error|fatal|panic)\]/.test(line) ? 'error' : 'warn';
      logger[level]({ ffmpeg: line.replace(/^\[(warning|error|fatal|panic)\]\s*/, '') }, 'ffmpeg says');
    });
    const ended = new Promise<RunEnd<RestartReason>>((resolve) => {
      child.on('error', (err) => logger.error({ err: err.message }, 'ffmpeg could not be started'));
      child.on('exit', (code, signal) => {
        if (this.#child === child) this.#child = undefined;
        const reason = requested ?? lastReason ?? 'exit';
        resolve({ reason, message: `ffmpeg ended (${reason})`, code, signal });
      });
    });
    const stop = async (reason: RestartReason) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      requested ??= reason;
      // A restart (e.g. a stall) kills at once; a stop lets FFmpeg finish first.
      if (reason !== 'stopped') child.kill('SIGKILL');
      else {
        child.kill('SIGTERM');
        const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await ended;
        clearTimeout(kill);
      }
    };
    return { ended, stop };
  }

  async close(): Promise<void> {
    await this.input.relay.close();
    for (const f of this.input.forwarders) f.close();
    this.receivers.video.close();
    this.receivers.audio?.close();
  }
}
