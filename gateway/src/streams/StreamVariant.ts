// One camera stream variant (`main` or `sub`): its state, on-demand start and stop by viewer count,
// and the wiring of its parts: the ingest plan (ingestPlan.ts, pure), the forwarders and the ingest
// source (packet relay or FFmpeg) under one Supervisor, the Producers (ProducerSet, rebuilt on a
// serving worker when theirs dies) and the health watch (IngestHealth).
//
// The forwarders outlive camera sessions, FFmpeg restarts, idle stops and worker deaths: viewers of
// a restarted camera keep their consumers and the video resumes by itself; after a worker death they
// consume the stream's new Producer while the camera session carries on.
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import type { Config, VariantConfig } from '../../../config/schema.js';
import { GatewayError } from '../../../signaling/src/errors.js';
import type { Supervisor } from '../core/Supervisor.js';
import { FfmpegSource, type FfmpegTargets } from '../ingest/FfmpegSource.js';
import { ffmpegArgs, type IngestPlan, redact, urlSecrets } from '../ingest/ffmpegArgs.js';
import { rawTracks } from '../ingest/ffmpegInput.js';
import { RtpForwarder } from '../ingest/RtpForwarder.js';
import { type PacketPlan, planPacketIngest } from '../ingest/rtsp/plan.js';
import { type Described, describe } from '../ingest/rtsp/RtspConnection.js';
import { RtspPacketSource } from '../ingest/rtsp/RtspPacketSource.js';
import { parseSdp, type Sdp } from '../ingest/rtsp/sdp.js';
import { type IngestSource, type RestartReason, superviseIngest } from '../ingest/source.js';
import type { Logger } from '../log.js';
import {
  type AudioCodec,
  audioProducerCodec,
  signalledProfileLevelId,
  ssrcFor,
  videoProducerCodec,
} from '../media/codecs.js';
import type { WorkerPool } from '../media/WorkerPool.js';
import type { WorkerSlot } from '../media/WorkerSlot.js';
import { IngestHealth, type IngestStats } from './IngestHealth.js';
import {
  cameraMedia,
  decideFfmpeg,
  decidePacket,
  type FfmpegTracks,
  type IngestMode,
  type IngestWish,
} from './ingestPlan.js';
import { ProducerSet, type TrackSpec } from './ProducerSet.js';

export type { IngestMode, IngestStats };
export type VariantName = 'main' | 'sub';
export type StreamState = 'idle' | 'starting' | 'live' | 'stalled' | 'error';

export interface StreamVariantEvents {
  state: [StreamState, string | undefined];
  restart: [RestartReason];
  /** The Producers were rebuilt on another worker (their old one died). */
  rehomed: [{ from: number; to: number; ms: number }];
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
  pool: WorkerPool;
  /** This stream's place in the config: its preferred worker slot, round-robin. */
  placement: number;
  logger: Logger;
}

interface Track {
  kind: types.MediaKind;
  codec: types.RtpCodecParameters;
}

export class StreamVariant extends EventEmitter<StreamVariantEvents> {
  #state: StreamState = 'idle';
  #lastError: string | undefined;
  #viewers = 0;
  #closed = false;
  #liveSince: number | undefined;
  #longAnalysis = false;
  #ffmpegTracks: FfmpegTracks | undefined;
  #forwarders: RtpForwarder[] = [];
  #specs: TrackSpec[] = [];
  #set: ProducerSet | undefined;
  #homing: Promise<ProducerSet> | undefined;
  #source: IngestSource | undefined;
  #packet: RtspPacketSource | undefined;
  #prepareError: GatewayError | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #supervisor: Supervisor<RestartReason>;
  readonly #health: IngestHealth;
  readonly #consumers = new Set<types.Consumer>();
  readonly logger: Logger;

  constructor(readonly opts: StreamVariantOptions) {
    super();
    this.setMaxListeners(0); // one 'state' listener per view: a popular stream has many
    this.logger = opts.logger.child({ stream: opts.streamId, variant: opts.variant });
    this.#supervisor = superviseIngest({ run: () => this.#runOnce(), close: async () => {} }, opts.ingest);
    this.#supervisor.on('failed', (e) => this.#onRunEnded(e));
    this.#health = new IngestHealth({
      producer: () => this.#set?.video,
      runningSince: () => this.#supervisor.runningSince,
      stallTimeoutMs: opts.ingest.stallTimeoutSec * 1000,
      onProgress: () => {
        if (this.#state === 'live') return;
        this.#liveSince = Date.now();
        this.#lastError = undefined;
        this.#setState('live');
      },
      onStall: (silentForMs) => {
        if (this.#supervisor.state !== 'running') return;
        this.logger.warn({ silentForMs }, `no RTP from camera; restarting ${this.#packet ? 'rtsp session' : 'ffmpeg'}`);
        this.#setState('stalled', 'no video received');
        this.#supervisor.restart('stall');
      },
    });
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
  get closed(): boolean {
    return this.#closed;
  }
  /** The slot the Producers live on (where they will be made, before they exist). */
  get origin(): WorkerSlot {
    return (
      this.#set?.slot ?? (this.opts.pool.workers[this.opts.placement % this.opts.pool.workers.length] as WorkerSlot)
    );
  }
  get producers(): types.Producer[] {
    return this.#set?.producers ?? [];
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
    return this.#supervisor.state !== 'stopped';
  }
  get restarts(): number {
    return this.#supervisor.restarts;
  }
  get liveSince(): number | undefined {
    return this.#liveSince;
  }
  /** The video producer's receive stats, refreshed every second while ingest runs. */
  get ingestStats(): IngestStats {
    return this.ingestRunning ? this.#health.stats : { ...this.#health.stats, bitrateBps: 0 };
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
   * A viewer wants this variant: start ingest if needed and resolve with the Producers and their slot
   * once they exist. Concurrent callers share one start. Each successful acquire() is paired with release().
   */
  async acquire(): Promise<ProducerSet> {
    if (this.#closed) throw new GatewayError('E_NOT_FOUND', `stream ${this.id} is closed`);
    this.#viewers++;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    try {
      await this.#ensureStarted();
      return await this.#home();
    } catch (err) {
      this.release();
      throw err;
    }
  }

  release(): void {
    this.#viewers = Math.max(0, this.#viewers - 1);
    if (this.#viewers > 0 || this.opts.alwaysOn || this.#closed) return;
    // A camera that never came up is not retried for nobody (cameras lock accounts); its error stays.
    if (!this.#source) {
      this.#health.stop();
      void this.#supervisor.stop('stopped');
      return;
    }
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#viewers === 0) void this.stopIngest('idle');
    }, this.opts.ingest.idleTimeoutSec * 1000);
  }

  /** Starts ingest without a viewer (alwaysOn cameras); failures are retried in the background. */
  startAlwaysOn(): void {
    this.#ensureStarted().catch(() => {});
  }

  /** Resolves once the ingest is prepared (producers made), or rejects with why its first try failed. */
  #ensureStarted(): Promise<void> {
    if (this.#state === 'idle' || (this.#state === 'error' && !this.ingestRunning)) this.#setState('starting');
    this.#health.start();
    this.#supervisor.start();
    if (this.#source) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onState = () => {
        if (!this.#source) return;
        done();
        resolve();
      };
      const onFailed = () => {
        done();
        reject(this.#prepareError ?? new GatewayError('E_STREAM_OFFLINE', `camera ${this.id} is not reachable`));
      };
      const done = () => {
        this.#supervisor.off('started', onState);
        this.#supervisor.off('failed', onFailed);
      };
      this.#supervisor.on('started', onState);
      this.#supervisor.on('failed', onFailed);
    });
  }

  /** One run of the ingest; the first one decides the path and makes the forwarders and Producers. */
  async #runOnce() {
    if (!this.#source) {
      this.#prepareError = undefined;
      try {
        await this.#prepare();
      } catch (err) {
        this.#prepareError = err instanceof GatewayError ? err : new GatewayError('E_STREAM_OFFLINE', String(err));
        throw err;
      }
    }
    return (this.#source as IngestSource).run();
  }

  get #wish(): IngestWish {
    return { mode: this.opts.ingestMode ?? 'auto', transcode: this.opts.source.transcode, audio: this.opts.audio };
  }

  /**
   * DESCRIBE the camera (the gateway's own RTSP client is the only one that talks to it), decide the
   * path (ingestPlan.ts), make the forwarders and Producers, and the source that continues on the
   * same connection: the packet relay, or FFmpeg fed by the relay.
   */
  async #prepare(): Promise<void> {
    const { source, ingest } = this.opts;
    const d: Described = await describe(source.url, {
      timeoutMs: ingest.connectTimeoutSec * 1000,
      userAgent: 'cctv-gateway',
    }).catch((err: Error) => this.#unreachable(err));
    try {
      if (this.#closed) throw new GatewayError('E_NOT_FOUND', `stream ${this.id} is closed`);
      const sdp = parseSdp(d.sdp);
      const plan = planPacketIngest(sdp);
      if (this.#wish.mode !== 'ffmpeg') {
        const decision = decidePacket(this.#wish, plan);
        if (decision.use === 'none') {
          this.#fail(decision.why);
          throw new GatewayError('E_UNSUPPORTED', `camera ${this.id}: ${decision.why}`, 'bad_stream');
        }
        if (decision.use === 'packet') return await this.#preparePacket(d, plan, decision);
        this.logger.info(
          { codec: plan.videoCodec, audio: plan.audioCodec || 'none', why: decision.why },
          'ingest: using ffmpeg',
        );
      }
      await this.#prepareFfmpeg(d, sdp, plan);
    } catch (err) {
      d.conn.close();
      throw err;
    }
  }

  async #prepareFfmpeg(d: Described, sdp: Sdp, plan: PacketPlan): Promise<void> {
    const { source, ingest } = this.opts;
    const raw = rawTracks(sdp, this.opts.audio);
    const tracks = decideFfmpeg(this.#wish, cameraMedia(plan, raw.video?.media.framerate ?? 0));
    if ('error' in tracks || !raw.video) {
      const why = 'error' in tracks ? tracks.error : 'camera sends no video track';
      this.#fail(why);
      throw new GatewayError('E_UNSUPPORTED', `camera ${this.id}: ${why}`, 'bad_stream');
    }
    this.#ffmpegTracks = tracks;
    const audio = tracks.audio ? audioProducerCodec(tracks.audio.codec) : undefined;
    await this.#makeMedia([
      { kind: 'video', codec: videoProducerCodec(tracks.video.profileLevelId) },
      ...(audio ? [{ kind: 'audio' as const, codec: audio }] : []),
    ]);
    this.logger.info(
      {
        codec: plan.videoCodec,
        signalled: tracks.video.profileLevelId,
        mode: tracks.video.mode,
        fps: tracks.video.fps,
        audio: tracks.audio?.mode ?? 'none',
      },
      'camera described; producers ready (ffmpeg)',
    );
    const [video, audioFwd] = this.#forwarders as [RtpForwarder, RtpForwarder | undefined];
    this.#source = await FfmpegSource.create({
      ffmpegPath: ingest.ffmpegPath,
      args: (targets) => ffmpegArgs(this.#plan(targets)),
      video,
      audio: audioFwd,
      camera: {
        url: source.url,
        transport: this.opts.rtspTransport,
        timeoutMs: ingest.connectTimeoutSec * 1000,
        described: d,
        video: raw.video,
        audio: tracks.audio ? raw.audio : undefined,
      },
      name: this.id,
      secrets: urlSecrets(source.url),
      logger: this.logger,
    });
  }

  /** The packet path: the Producers and an RtspPacketSource that continues on the DESCRIBE's connection. */
  async #preparePacket(d: Described, plan: PacketPlan, decision: { audio: AudioCodec | undefined; warning?: string }) {
    const { source, ingest } = this.opts;
    if (decision.warning) this.logger.warn({ audio: plan.audioCodec }, decision.warning);
    // A camera whose SDP names no profile (nor carries an SPS) is signalled as Main, which Chromium
    // decodes for Baseline streams too.
    const cameraProfile = plan.video?.profileLevelId ?? '';
    const profileLevelId = signalledProfileLevelId(cameraProfile);
    const audioCodec = decision.audio;
    await this.#makeMedia([
      { kind: 'video', codec: videoProducerCodec(profileLevelId) },
      ...(audioCodec ? [{ kind: 'audio' as const, codec: audioProducerCodec(audioCodec) }] : []),
    ]);
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
    const [video, audio] = this.#forwarders as [RtpForwarder, RtpForwarder | undefined];
    const packet = new RtspPacketSource({
      url: source.url,
      transport: this.opts.rtspTransport,
      timeoutMs: ingest.connectTimeoutSec * 1000,
      video: { forwarder: video, codec: 'h264', clockRate: 90000 },
      audio:
        audio && audioCodec
          ? { forwarder: audio, codec: audioCodec, clockRate: audioCodec === 'opus' ? 48000 : 8000 }
          : undefined,
      secrets: urlSecrets(source.url),
      logger: this.logger,
      described: d,
    });
    this.#packet = packet;
    this.#source = packet;
  }

  #unreachable(err: Error): never {
    const msg = redact(err.message, urlSecrets(this.opts.source.url));
    this.#fail(`camera unreachable: ${msg}`);
    throw new GatewayError('E_STREAM_OFFLINE', `camera ${this.id} is not reachable (${msg})`, 'unreachable');
  }

  /** The forwarders (held sockets) and the first Producers; the forwarders are made once. */
  async #makeMedia(tracks: Track[]): Promise<void> {
    for (const t of tracks) {
      const forwarder = await RtpForwarder.open({
        ssrc: ssrcFor(`${this.id}/${t.kind}`),
        payloadType: t.codec.payloadType,
        clockRate: t.codec.clockRate,
        video: t.kind === 'video',
        logger: this.logger,
      });
      this.#forwarders.push(forwarder);
      this.#specs.push({ kind: t.kind, codec: t.codec, forwarder });
    }
    await this.#home();
  }

  /**
   * The current Producers, or new ones (the first time, or after their worker died): on the preferred
   * serving slot, else the others by load; while no slot serves, as soon as one does. Rejects when
   * every serving slot refused (the next acquire tries again).
   */
  #home(): Promise<ProducerSet> {
    const set = this.#set;
    if (set && !set.closed) return Promise.resolve(set);
    this.#homing ??= (async () => {
      const { pool } = this.opts;
      if (pool.serving.length === 0) await pool.whenServing();
      let lastError: Error | undefined;
      for (const slot of pool.placements(this.opts.placement)) {
        if (this.#closed) break;
        try {
          const made = await ProducerSet.create(slot, this.#specs, {
            stream: this.opts.streamId,
            variant: this.opts.variant,
          });
          if (this.#closed) {
            made.close();
            break;
          }
          made.on('lost', () => this.#onLost(made));
          this.#set = made;
          return made;
        } catch (err) {
          lastError = err as Error;
          this.logger.warn({ worker: slot.index, err: lastError.message }, 'producers could not be made there');
        }
      }
      if (this.#closed) throw new GatewayError('E_NOT_FOUND', `stream ${this.id} is closed`);
      throw new GatewayError(
        'E_CAPACITY',
        `no media worker could take ${this.id} (${lastError?.message ?? 'none serving'})`,
      );
    })().finally(() => {
      this.#homing = undefined;
    });
    return this.#homing;
  }

  /** The Producers' worker died: make them again on a serving worker; the camera session carries on. */
  #onLost(set: ProducerSet): void {
    if (this.#closed || this.#set !== set) return;
    this.#set = undefined;
    const t0 = Date.now();
    this.logger.warn({ worker: set.slot.index }, 'worker of the producers died; re-homing the stream');
    this.#home().then(
      (next) => {
        const ms = Date.now() - t0;
        this.logger.info({ from: set.slot.index, to: next.slot.index, ms }, 'stream re-homed');
        this.emit('rehomed', { from: set.slot.index, to: next.slot.index, ms });
      },
      (err: Error) =>
        this.logger.error({ err: err.message }, 'stream could not be re-homed; the next viewer tries again'),
    );
  }

  #plan(targets: FfmpegTargets): IngestPlan {
    const tracks = this.#ffmpegTracks as FfmpegTracks;
    return {
      name: this.id,
      // Short analysis starts video ~0.8 s sooner; audio, or a camera whose parameters did not
      // arrive in time (FFmpeg said 'bad_stream'), gets the long one.
      analyzeUs: tracks.audio || this.#longAnalysis ? 1_000_000 : 200_000,
      video: { ...targets.video, mode: tracks.video.mode, fps: tracks.video.fps },
      ...(tracks.audio && targets.audio ? { audio: { ...targets.audio, mode: tracks.audio.mode } } : {}),
    };
  }

  #onRunEnded(e: {
    reason: RestartReason;
    message: string;
    code?: number | null;
    delayMs: number;
    restarts: number;
  }): void {
    if (!this.#source) return; // preparing failed: #fail has said why
    if (e.reason === 'bad_stream' && !this.#packet) this.#longAnalysis = true;
    this.logger.warn(
      { reason: e.reason, status: e.code ?? null, error: e.message, restartInMs: e.delayMs, restarts: e.restarts },
      `${this.#packet ? 'rtsp session' : 'ffmpeg'} ended; restarting`,
    );
    this.#fail(`${this.#packet ? 'rtsp session' : 'ffmpeg'} ended (${e.reason})`);
    this.emit('restart', e.reason);
  }

  async stopIngest(why: string): Promise<void> {
    this.#health.stop();
    const running = this.#supervisor.state !== 'stopped';
    await this.#supervisor.stop('stopped');
    if (running && this.#source) this.logger.info({ why }, 'ingest stopped');
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
    await this.#source?.close();
    this.#set?.close();
    for (const f of this.#forwarders) f.close();
    this.#setState('idle');
  }
}
