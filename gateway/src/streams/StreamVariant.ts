// One camera stream variant (`main` or `sub`): its mediasoup Producer(s), the ingest that feeds them
// (the packet-level RTSP relay, or FFmpeg when the camera needs transcoding or `ingest: ffmpeg`),
// on-demand start/stop by viewer count, and stall detection from the producer's byte counters.
//
// The PlainTransports and Producers are made once (after the first successful probe) and outlive
// FFmpeg restarts and idle stops, so viewers keep their consumers and the video resumes by itself.
import type dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import type { Config, VariantConfig } from '../../../config/schema.js';
import { GatewayError } from '../errors.js';
import { backoffDelay } from '../ingest/backoff.js';
import { FfmpegSource, type RestartReason } from '../ingest/FfmpegSource.js';
import { ffmpegArgs, type IngestPlan, type RtpTarget, redact, urlSecrets } from '../ingest/ffmpegArgs.js';
import { reserveUdpPair } from '../ingest/ports.js';
import { type ProbeResult, probe } from '../ingest/probe.js';
import { RtpContinuity } from '../ingest/RtpContinuity.js';
import { planPacketIngest } from '../ingest/rtsp/plan.js';
import { type Described, describe } from '../ingest/rtsp/RtspConnection.js';
import { RtspPacketSource, type SupervisedRtpSource } from '../ingest/rtsp/RtspPacketSource.js';
import { parseSdp } from '../ingest/rtsp/sdp.js';
import type { Logger } from '../log.js';
import {
  type AudioCodec,
  audioProducerCodec,
  PLAYOUT_DELAY,
  signalledProfileLevelId,
  ssrcFor,
  VIDEO_PT,
  videoProducerCodec,
} from '../media/codecs.js';
import type { MediaWorker } from '../media/WorkerPool.js';

export type VariantName = 'main' | 'sub';
export type IngestMode = 'auto' | 'packet' | 'ffmpeg';
export type StreamState = 'idle' | 'starting' | 'live' | 'stalled' | 'error';

export interface StreamVariantEvents {
  state: [StreamState, string | undefined];
  restart: [RestartReason];
}

export interface StreamVariantOptions {
  streamId: string;
  variant: VariantName;
  source: VariantConfig;
  rtspTransport: 'tcp' | 'udp';
  audio: boolean;
  alwaysOn: boolean;
  ingest: Config['ingest'];
  /** auto (default): packet relay for H.264 (+ G.711/Opus audio), FFmpeg when transcoding is needed. */
  ingestMode?: IngestMode;
  origin: MediaWorker;
  /** Where FFmpeg's fixed local ports come from (one pool per gateway, so no two streams share). */
  logger: Logger;
}

export interface IngestStats {
  bitrateBps: number;
  packetsLost: number;
  jitterSec: number;
  packetCount: number;
}

interface Track {
  transport: types.PlainTransport;
  producer: types.Producer;
  target: RtpTarget;
  /** FFmpeg path: what FFmpeg sends through, keeping numbers and timestamps running across restarts. */
  continuity?: RtpContinuity;
}

const STALL_POLL_MS = 1000;
/** Where FFmpeg sends a track's RTP. */
const sendTo = (t: Track): RtpTarget => t.continuity?.ffmpegTarget ?? t.target;

export class StreamVariant extends EventEmitter<StreamVariantEvents> {
  #state: StreamState = 'idle';
  #lastError: string | undefined;
  #viewers = 0;
  #video: Track | undefined;
  #audio: Track | undefined;
  #audioMode: 'copy' | 'opus' | undefined;
  #videoMode: 'copy' | 'transcode' = 'copy';
  #fps = 25;
  #longAnalysis = false;
  #source: SupervisedRtpSource | undefined;
  #packet: RtspPacketSource | undefined;
  #preparing: Promise<void> | undefined;
  #prepareAttempt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #stallTimer: NodeJS.Timeout | undefined;
  #lastBytes = 0;
  #lastProgressAt = 0;
  #liveSince: number | undefined;
  #stats: IngestStats = { bitrateBps: 0, packetsLost: 0, jitterSec: 0, packetCount: 0 };
  readonly #consumers = new Set<types.Consumer>();
  #closed = false;
  readonly logger: Logger;

  constructor(readonly opts: StreamVariantOptions) {
    super();
    this.setMaxListeners(0); // one 'state' listener per view: a popular stream has many
    this.logger = opts.logger.child({ stream: opts.streamId, variant: opts.variant });
  }

  get id(): string {
    return `${this.opts.streamId}/${this.opts.variant}`;
  }
  get state(): StreamState {
    return this.#state;
  }
  get lastError(): string | undefined {
    return this.#lastError;
  }
  get viewers(): number {
    return this.#viewers;
  }
  get origin(): MediaWorker {
    return this.opts.origin;
  }
  get producers(): types.Producer[] {
    return [this.#video?.producer, this.#audio?.producer].filter((p): p is types.Producer => !!p);
  }
  get ffmpegPid(): number | undefined {
    return this.#source?.pid;
  }
  /** Which ingest feeds the producers, once chosen. */
  get ingestPath(): 'packet' | 'ffmpeg' | undefined {
    return this.#source ? (this.#packet ? 'packet' : 'ffmpeg') : undefined;
  }
  /** The packet relay's last video sequence number and SPS/PPS insertions (packet path only). */
  get packetCounters(): { videoSeq: number; inserted: number; split: number } | undefined {
    return this.#packet?.counters;
  }
  get ingestRunning(): boolean {
    return !!this.#source && this.#source.state !== 'stopped';
  }
  get restarts(): number {
    return this.#source?.restarts ?? 0;
  }
  get liveSince(): number | undefined {
    return this.#liveSince;
  }
  /** The video producer's receive stats, refreshed every second while ingest runs. */
  get ingestStats(): IngestStats {
    return this.ingestRunning ? this.#stats : { ...this.#stats, bitrateBps: 0 };
  }
  /** Consumers of this variant on any worker (for egress stats). */
  get consumers(): ReadonlySet<types.Consumer> {
    return this.#consumers;
  }

  attachConsumer(consumer: types.Consumer): void {
    this.#consumers.add(consumer);
    consumer.observer.once('close', () => this.#consumers.delete(consumer));
  }

  /**
   * A viewer wants this variant: start ingest if needed and return the producers once they exist.
   * Concurrent callers share one start. Each successful acquire() must be paired with release().
   */
  async acquire(): Promise<types.Producer[]> {
    if (this.#closed) throw new GatewayError('E_NOT_FOUND', `stream ${this.id} is closed`);
    this.#viewers++;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    try {
      await this.#ensureStarted();
    } catch (err) {
      this.release();
      throw err;
    }
    return this.producers;
  }

  release(): void {
    this.#viewers = Math.max(0, this.#viewers - 1);
    if (this.#viewers > 0 || this.opts.alwaysOn || this.#closed) return;
    const ms = this.opts.ingest.idleTimeoutSec * 1000;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#viewers === 0) void this.stopIngest('idle');
    }, ms);
  }

  /** Starts ingest without a viewer (alwaysOn cameras); failures are retried in the background. */
  startAlwaysOn(): void {
    this.#ensureStarted().catch(() => {});
  }

  #ensureStarted(): Promise<void> {
    if (this.#video && this.#source) {
      if (this.#source.state === 'stopped') this.#setState('starting');
      this.#source.start();
      this.#watchStalls();
      return Promise.resolve();
    }
    if (!this.#preparing) {
      this.#setState('starting');
      this.#preparing = this.#prepare().finally(() => {
        this.#preparing = undefined;
      });
    }
    return this.#preparing;
  }

  async #prepare(): Promise<void> {
    const mode = this.opts.ingestMode ?? 'auto';
    if (mode !== 'ffmpeg' && (await this.#preparePacket(mode))) return;
    const { source, ingest } = this.opts;
    let info: ProbeResult;
    try {
      info = await probe(ingest.ffprobePath, source.url, this.opts.rtspTransport, ingest.connectTimeoutSec);
    } catch (err) {
      const msg = redact((err as Error).message, urlSecrets(source.url));
      this.#fail(`camera unreachable: ${msg}`);
      this.#scheduleRetry();
      throw new GatewayError('E_STREAM_OFFLINE', `camera ${this.id} is not reachable (${msg})`);
    }
    if (this.#closed) throw new GatewayError('E_NOT_FOUND', `stream ${this.id} is closed`);
    const v = info.video;
    if (!v) {
      this.#fail('camera sends no video track');
      throw new GatewayError('E_UNSUPPORTED', `camera ${this.id} sends no video`);
    }
    const transcode = source.transcode === 'always' || (source.transcode === 'auto' && v.codec !== 'h264');
    if (!transcode && v.codec !== 'h264') {
      this.#fail(`camera sends ${v.codec} and transcode is 'never'`);
      throw new GatewayError(
        'E_UNSUPPORTED',
        `camera ${this.id} sends ${v.codec}, which browsers cannot play, and transcoding is off`,
      );
    }
    this.#videoMode = transcode ? 'transcode' : 'copy';
    this.#fps = Math.round(v.fps) || 25;
    const profileLevelId = transcode ? '42e01f' : signalledProfileLevelId(v.profile);
    this.#video = await this.#makeTrack(
      'video',
      videoProducerCodec(profileLevelId),
      VIDEO_PT,
      await reserveUdpPair(),
      true,
    );
    const a = info.audio;
    if (this.opts.audio && a) {
      const codec: AudioCodec = a.codec === 'pcm_mulaw' ? 'pcmu' : a.codec === 'pcm_alaw' ? 'pcma' : 'opus';
      this.#audioMode = codec === 'opus' ? 'opus' : 'copy';
      const params = audioProducerCodec(codec);
      this.#audio = await this.#makeTrack('audio', params, params.payloadType, await reserveUdpPair(), true);
    }
    this.logger.info(
      {
        codec: v.codec,
        profile: v.profile,
        signalled: profileLevelId,
        mode: this.#videoMode,
        size: `${v.width}x${v.height}`,
        fps: v.fps,
        audio: this.#audioMode ?? 'none',
      },
      'camera probed; producers ready',
    );
    this.#prepareAttempt = 0;
    this.#source = new FfmpegSource({
      ffmpegPath: ingest.ffmpegPath,
      args: () => ffmpegArgs(this.#plan()),
      secrets: urlSecrets(source.url),
      backoffInitialMs: ingest.backoffInitialMs,
      backoffMaxMs: ingest.backoffMaxMs,
      logger: this.logger,
    });
    this.#source.on('state', (state) => {
      if (state === 'running') for (const t of [this.#video, this.#audio]) t?.continuity?.newSession();
    });
    this.#source.on('failed', ({ reason }) => {
      if (reason === 'bad_stream') this.#longAnalysis = true;
      this.#fail(`ffmpeg ended (${reason})`);
      this.emit('restart', reason);
    });
    this.#source.start();
    this.#watchStalls();
  }

  /**
   * The packet path: DESCRIBE the camera and, when its tracks can be relayed as they are, make the
   * producers and an RtspPacketSource that continues on the same connection. Returns false when
   * `auto` should use FFmpeg instead (the camera needs transcoding).
   */
  async #preparePacket(mode: 'auto' | 'packet'): Promise<boolean> {
    const { source, ingest } = this.opts;
    let d: Described;
    try {
      d = await describe(source.url, { timeoutMs: ingest.connectTimeoutSec * 1000, userAgent: 'cctv-gateway' });
    } catch (err) {
      const msg = redact((err as Error).message, urlSecrets(source.url));
      this.#fail(`camera unreachable: ${msg}`);
      this.#scheduleRetry();
      throw new GatewayError('E_STREAM_OFFLINE', `camera ${this.id} is not reachable (${msg})`);
    }
    if (this.#closed) {
      d.conn.close();
      throw new GatewayError('E_NOT_FOUND', `stream ${this.id} is closed`);
    }
    const plan = planPacketIngest(parseSdp(d.sdp));
    const audioNeedsFfmpeg = this.opts.audio && plan.audioCodec !== '' && !plan.audio;
    const why =
      source.transcode === 'always'
        ? "transcode is 'always'"
        : !plan.video
          ? plan.videoProblem
          : audioNeedsFfmpeg
            ? `${plan.audioCodec} audio needs transcoding`
            : undefined;
    if (mode === 'auto' && why) {
      d.conn.close();
      this.logger.info({ codec: plan.videoCodec, audio: plan.audioCodec || 'none', why }, 'ingest: using ffmpeg');
      return false;
    }
    if (!plan.video || source.transcode === 'always') {
      d.conn.close();
      const reason = why ?? 'no video';
      this.#fail(`ingest 'packet' cannot relay this camera: ${reason}`);
      throw new GatewayError('E_UNSUPPORTED', `camera ${this.id}: ${reason}, and its ingest is 'packet'`);
    }
    if (audioNeedsFfmpeg) {
      this.logger.warn({ audio: plan.audioCodec }, "camera audio needs transcoding; not relayed with ingest 'packet'");
    }
    // The profile comes from the SDP (or its SPS); a camera that states neither is asked with ffprobe.
    let cameraProfile = plan.video.profileLevelId;
    if (!cameraProfile) {
      const info = await probe(ingest.ffprobePath, source.url, this.opts.rtspTransport, ingest.connectTimeoutSec).catch(
        () => undefined,
      );
      cameraProfile = info?.video?.profile ?? '';
    }
    const profileLevelId = signalledProfileLevelId(cameraProfile);
    // The relay's local sockets are bound here and held for the stream's life (see ports.ts).
    const a = this.opts.audio ? plan.audio : undefined;
    const videoSockets = await reserveUdpPair();
    const audioSockets = a ? await reserveUdpPair() : undefined;
    this.#video = await this.#makeTrack('video', videoProducerCodec(profileLevelId), VIDEO_PT, videoSockets, false);
    let audioCodec: AudioCodec | undefined;
    if (a && audioSockets) {
      audioCodec = a.codec;
      const params = audioProducerCodec(a.codec);
      this.#audio = await this.#makeTrack('audio', params, params.payloadType, audioSockets, false);
    }
    this.logger.info(
      {
        codec: 'h264',
        profile: cameraProfile,
        signalled: profileLevelId,
        mode: 'packet',
        transport: this.opts.rtspTransport,
        audio: audioCodec ?? 'none',
      },
      'camera described; producers ready',
    );
    this.#prepareAttempt = 0;
    const video = this.#video;
    const packet = new RtspPacketSource({
      url: source.url,
      transport: this.opts.rtspTransport,
      timeoutMs: ingest.connectTimeoutSec * 1000,
      video: { target: video.target, codec: 'h264', clockRate: 90000, sockets: videoSockets },
      audio:
        this.#audio && audioCodec
          ? {
              target: this.#audio.target,
              codec: audioCodec,
              clockRate: audioCodec === 'opus' ? 48000 : 8000,
              sockets: audioSockets,
            }
          : undefined,
      secrets: urlSecrets(source.url),
      backoffInitialMs: ingest.backoffInitialMs,
      backoffMaxMs: ingest.backoffMaxMs,
      logger: this.logger,
      described: d,
    });
    this.#packet = packet;
    this.#source = packet;
    packet.on('failed', ({ reason }) => {
      this.#fail(`rtsp session ended (${reason})`);
      this.emit('restart', reason);
    });
    packet.start();
    this.#watchStalls();
    return true;
  }

  async #makeTrack(
    kind: types.MediaKind,
    codec: types.RtpCodecParameters,
    payloadType: number,
    sockets: [dgram.Socket, dgram.Socket],
    ffmpeg: boolean,
  ): Promise<Track> {
    const transport = await this.opts.origin.router.createPlainTransport({
      listenIp: { ip: '127.0.0.1' },
      rtcpMux: false,
      comedia: true,
    });
    const ssrc = ssrcFor(`${this.id}/${kind}`);
    const producer = await transport.produce({
      kind,
      rtpParameters: {
        codecs: [codec],
        encodings: [{ ssrc }],
        // The ingest stamps each video frame's first packet with it (FrameStartStamp).
        ...(kind === 'video' ? { headerExtensions: [{ uri: PLAYOUT_DELAY.uri, id: PLAYOUT_DELAY.preferredId }] } : {}),
      },
      appData: { stream: this.opts.streamId, variant: this.opts.variant },
    });
    const target: RtpTarget = {
      ip: '127.0.0.1',
      rtpPort: transport.tuple.localPort,
      rtcpPort: transport.rtcpTuple?.localPort ?? transport.tuple.localPort,
      localRtpPort: sockets[0].address().port,
      localRtcpPort: sockets[1].address().port,
      ssrc,
      payloadType,
    };
    // The packet relay sends from the sockets itself; FFmpeg's packets go through RtpContinuity.
    const continuity = ffmpeg
      ? await RtpContinuity.open(target, codec.clockRate, kind === 'video', sockets)
      : undefined;
    return { transport, producer, target, ...(continuity ? { continuity } : {}) };
  }

  #plan(): IngestPlan {
    const video = this.#video as Track;
    return {
      url: this.opts.source.url,
      rtspTransport: this.opts.rtspTransport,
      timeoutSec: this.opts.ingest.connectTimeoutSec,
      // Short analysis starts video ~0.8 s sooner; audio, or a camera whose parameters did not
      // arrive in time (FFmpeg said 'bad_stream'), gets the long one.
      analyzeUs: this.#audio || this.#longAnalysis ? 1_000_000 : 200_000,
      video: { ...sendTo(video), mode: this.#videoMode, fps: this.#fps },
      ...(this.#audio && this.#audioMode ? { audio: { ...sendTo(this.#audio), mode: this.#audioMode } } : {}),
    };
  }

  #scheduleRetry(): void {
    if (this.#closed || (this.#viewers === 0 && !this.opts.alwaysOn)) return;
    const { backoffInitialMs, backoffMaxMs } = this.opts.ingest;
    const delay = backoffDelay(this.#prepareAttempt++, backoffInitialMs, backoffMaxMs);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      if (this.#viewers > 0 || this.opts.alwaysOn) this.#ensureStarted().catch(() => {});
    }, delay);
  }

  #watchStalls(): void {
    if (this.#stallTimer || !this.#video) return;
    this.#lastProgressAt = Date.now();
    const producer = this.#video.producer;
    this.#stallTimer = setInterval(async () => {
      const stats = await producer.getStats().catch(() => []);
      const bytes = stats.reduce((n, s) => n + (s.byteCount ?? 0), 0);
      const now = Date.now();
      this.#stats = {
        bitrateBps: stats.reduce((n, s) => n + (s.bitrate ?? 0), 0),
        packetsLost: stats.reduce((n, s) => n + (s.packetsLost ?? 0), 0),
        jitterSec: Math.max(0, ...stats.map((s) => (s.jitter ?? 0) / 90000)), // video: 90 kHz RTP clock
        packetCount: stats.reduce((n, s) => n + (s.packetCount ?? 0), 0),
      };
      if (bytes > this.#lastBytes) {
        this.#lastBytes = bytes;
        this.#lastProgressAt = now;
        if (this.#state !== 'live') {
          this.#liveSince = now;
          this.#lastError = undefined;
          this.#setState('live');
        }
        return;
      }
      // Silence counts from the later of the last packet and this FFmpeg's start.
      const since = Math.max(this.#lastProgressAt, this.#source?.runningSince ?? 0);
      if (this.#source?.state === 'running' && since > 0 && now - since > this.opts.ingest.stallTimeoutSec * 1000) {
        this.logger.warn(
          { silentForMs: now - since },
          `no RTP from camera; restarting ${this.#packet ? 'rtsp session' : 'ffmpeg'}`,
        );
        this.#setState('stalled', 'no video received');
        this.#lastProgressAt = now;
        this.#source.restart('stall');
        this.emit('restart', 'stall');
      }
    }, STALL_POLL_MS);
    this.#stallTimer.unref();
  }

  async stopIngest(why: string): Promise<void> {
    clearInterval(this.#stallTimer);
    this.#stallTimer = undefined;
    clearTimeout(this.#retryTimer);
    if (this.#source && this.#source.state !== 'stopped') {
      await this.#source.stop();
      this.logger.info({ why }, 'ingest stopped');
    }
    this.#liveSince = undefined;
    if (!this.#closed) this.#setState('idle');
  }

  #fail(message: string): void {
    this.#lastError = message;
    this.#liveSince = undefined;
    this.#setState('error', message);
  }

  #setState(s: StreamState, detail?: string): void {
    if (s === this.#state) return;
    this.#state = s;
    this.emit('state', s, detail);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    await this.stopIngest('close');
    await this.#packet?.close();
    for (const t of [this.#video, this.#audio]) {
      t?.continuity?.close();
      t?.transport.close();
    }
    this.#setState('idle');
  }
}
