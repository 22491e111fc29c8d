// The FFmpeg ingest path, for cameras that need transcoding (H.265, MJPEG, AAC) or `ingest: ffmpeg`.
// One run is one FFmpeg process; the stream's Supervisor restarts it. FFmpeg sends its RTP and RTCP
// to receive sockets held here, and each packet goes on through the track's RtpForwarder at once:
// every restarted FFmpeg starts a new random timestamp base (5.1 cannot set it), which mediasoup
// 3.12's SimpleConsumer would pass on and Chromium would hold for seconds; the forwarder's rewriter
// keeps numbers and timestamps running. stderr becomes structured, credential-free log lines.
import { type ChildProcess, spawn } from 'node:child_process';
import type dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import type { Run, RunEnd } from '../core/Supervisor.js';
import type { Logger } from '../log.js';
import { classifyFfmpegLine, type RtpTarget, redact } from './ffmpegArgs.js';
import { reserveUdpPair } from './ports.js';
import type { RtpForwarder } from './RtpForwarder.js';
import { findSenderReport } from './rtsp/rtcp.js';
import { isRtp } from './rtsp/rtp.js';
import type { IngestSource, RestartReason } from './source.js';

export interface FfmpegTargets {
  video: RtpTarget;
  audio?: RtpTarget;
}

export interface FfmpegSourceOptions {
  ffmpegPath: string;
  /** Built at each start from where FFmpeg should send, so a restart can pick up new settings. */
  args: (targets: FfmpegTargets) => string[];
  video: RtpForwarder;
  audio?: RtpForwarder | undefined;
  secrets: string[];
  logger: Logger;
}

const MAX_LOG_LINES_PER_RUN = 20;
const STOP_GRACE_MS = 2000;

/** The two sockets FFmpeg sends one track to; each packet goes on through the forwarder. */
class Receiver {
  constructor(
    readonly rtp: dgram.Socket,
    readonly rtcp: dgram.Socket,
    forwarder: RtpForwarder,
  ) {
    rtp.on('message', (msg) => {
      if (isRtp(msg, 0, msg.length)) forwarder.forward(msg, 0, msg.length, performance.now());
    });
    rtcp.on('message', (msg) => {
      const sr = findSenderReport(msg, 0, msg.length);
      if (sr) forwarder.senderReport(sr);
    });
  }

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
  ) {}

  static async create(opts: FfmpegSourceOptions): Promise<FfmpegSource> {
    const video = await Receiver.open(opts.video);
    let audio: Receiver | undefined;
    try {
      audio = opts.audio ? await Receiver.open(opts.audio) : undefined;
    } catch (err) {
      video.close();
      throw err;
    }
    return new FfmpegSource(opts, { video, audio });
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
    const { logger, video, audio } = this.opts;
    for (const f of [video, audio]) f?.newSession();
    const child = spawn(this.opts.ffmpegPath, this.opts.args(this.targets), { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
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
      requested = reason;
      // A restart (e.g. a stall) kills at once; a stop lets FFmpeg close its RTSP session first.
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
    this.receivers.video.close();
    this.receivers.audio?.close();
  }
}
