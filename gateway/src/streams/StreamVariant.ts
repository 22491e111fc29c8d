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
import type { OnvifKeyframes } from '../ingest/OnvifKeyframes.js';
import { RtpForwarder } from '../ingest/RtpForwarder.js';
import { type PacketPlan, planPacketIngest } from '../ingest/rtsp/plan.js';
import { type Described, describe } from '../ingest/rtsp/RtspConnection.js';
import { RtspPacketSource } from '../ingest/rtsp/RtspPacketSource.js';
import { parseSdp, type Sdp } from '../ingest/rtsp/sdp.js';
import { type RtspTransportSetting, TransportChoice } from '../ingest/rtsp/transport.js';
import { failureOf, type IngestSource, type RestartReason, superviseIngest } from '../ingest/source.js';
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
import { KeyframeCache } from '../snapshots/KeyframeCache.js';
import { IngestHealth, type IngestStats } from './IngestHealth.js';
import {
  BFRAMES_WHY,
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
export type StreamState = 'idle' | 'starting' | 'live' | 'stalled' | 'error' | 'unauthorized';

/**
 * Whether the camera answers, known with or without viewers: from the ingest while it runs, else
 * from checkHealth() (a DESCRIBE on a schedule). `since` is when `state` last changed.
 */
export interface CameraHealth {
  state: 'unknown' | 'up' | 'down' | 'unauthorized';
  /** Why it is down or unauthorized (free of secrets). */
  reason?: string;
  since: number;
  /** Last time the camera answered as it should (ms since epoch). */
  lastContactAt?: number;
  /** Last time it was contacted at all (ingest or check). */
  checkedAt?: number;
}

export interface StreamVariantEvents {
  state: [StreamState, string | undefined];
  health: [CameraHealth];
  /** The camera refused the gateway's login (401/403). */
  loginRejected: [];
  restart: [RestartReason];
  /** The Producers were rebuilt on another worker (their old one died). */
  rehomed: [{ from: number; to: number; ms: number }];
}

export interface StreamVariantOptions {
  streamId: string;
  variant: VariantName;
  source: VariantConfig;
  rtspTransport: RtspTransportSetting;
  audio: boolean;
  alwaysOn: boolean;
  ingest: Config['ingest'];
  /** auto (default): packet relay for H.264 (+ G.711/Opus audio), FFmpeg when transcoding is needed. */
  ingestMode?: IngestMode;
  pool: WorkerPool;
  /** This stream's place in the config: its preferred worker slot, round-robin. */
  placement: number;
  logger: Logger;
  /** A node of a cluster: the camera is ingested only where its lease is (cluster/ClusterNode.ts). */
  cluster?: VariantCluster | undefined;
  /** Asks the camera for a keyframe over ONVIF when a viewer needs one (cameras that ignore PLI). */
  onvif?: OnvifKeyframes | undefined;
}

/** What a variant asks of the cluster it runs in. */
export interface VariantCluster {
  /** Whether this node ingests the camera now: it holds the camera's lease, or takes it if it is free. */
  ingestsHere(camera: string): Promise<boolean>;
  /** The variant's Producers on a worker here, piped from the node that owns the camera. */
  pipe(v: StreamVariant): Promise<ProducerSet>;
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
  /** The video since its latest keyframe, fed by the video forwarder's tap (snapshots/). */
  #keyframes: KeyframeCache | undefined;
  #specs: TrackSpec[] = [];
  #set: ProducerSet | undefined;
  #homing: Promise<ProducerSet> | undefined;
  /** Piped from the camera's owner node (cluster), while this node does not own it. */
  #remote: ProducerSet | undefined;
  #piping: Promise<ProducerSet> | undefined;
  #source: IngestSource | undefined;
  #packet: RtspPacketSource | undefined;
  #prepareError: GatewayError | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #transport: TransportChoice;
  /** B-frames seen on the relay: later preparations transcode (under transcode: auto). */
  #bframes = false;
  /** The camera rejected the password: no login before this time (ms since epoch); how many times in a row. */
  #authRetryAt = 0;
  #authRejections = 0;
  #health: CameraHealth = { state: 'unknown', since: Date.now() };
  #checking: Promise<void> | undefined;
  #rebuilding: Promise<void> | undefined;
  readonly #supervisor: Supervisor<RestartReason>;
  readonly #watch: IngestHealth;
  readonly #consumers = new Set<types.Consumer>();
  readonly logger: Logger;

  constructor(readonly opts: StreamVariantOptions) {
    super();
    this.setMaxListeners(0); // one 'state' listener per view: a popular stream has many
    this.logger = opts.logger.child({ stream: opts.streamId, variant: opts.variant });
    this.#transport = new TransportChoice(opts.rtspTransport);
    this.#supervisor = superviseIngest({ run: () => this.#runOnce(), close: async () => {} }, opts.ingest, (end) =>
      // A rejected password waits for its own (long) backoff, whatever asked for the run.
      end.reason === 'auth' ? Math.max(0, this.#authRetryAt - Date.now()) : undefined,
    );
    this.#supervisor.on('failed', (e) => this.#onRunEnded(e));
    this.#watch = new IngestHealth({
      producer: () => this.#set?.video,
      runningSince: () => this.#supervisor.runningSince,
      stallTimeoutMs: opts.ingest.stallTimeoutSec * 1000,
      onProgress: () => {
        // Packets counted after their run ended (the camera died) are no sign of life.
        if (this.#supervisor.state !== 'running') return;
        this.#contact();
        if (this.#state === 'live') return;
        this.#liveSince = Date.now();
        this.#lastError = undefined;
        this.#authRejections = 0;
        this.#authRetryAt = 0;
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
  /** Its media comes piped from the node that owns the camera (cluster), not from an ingest here. */
  get piped(): boolean {
    return !!this.#remote && !this.#remote.closed;
  }

  /** Its Producers here: its own ingest's, or (a cluster's edge) the ones piped from the owner. */
  get producers(): types.Producer[] {
    return (this.#set ?? this.#remote)?.producers ?? [];
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
  /** The video producer's receive stats, refreshed every second while video arrives (bitrate 0 otherwise). */
  get ingestStats(): IngestStats {
    const flowing = this.ingestRunning && (this.#state === 'live' || this.#state === 'stalled');
    return flowing ? this.#watch.stats : { ...this.#watch.stats, bitrateBps: 0 };
  }
  /** The camera's health, with or without viewers. */
  get health(): CameraHealth {
    return this.#health;
  }
  /** The transport that carried the camera's video last (auto), or the configured one. */
  get rtspTransport(): 'tcp' | 'udp' | undefined {
    return this.#transport.learned;
  }
  /** When the next login may be tried after the camera rejected the password (0: no wait). */
  get authRetryAt(): number {
    return this.#authRetryAt > Date.now() ? this.#authRetryAt : 0;
  }
  /** The video since the latest keyframe, while this node ingests the camera (none when piped in). */
  get keyframes(): KeyframeCache | undefined {
    return this.#keyframes;
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
    const { cluster } = this.opts;
    if (cluster && !(await cluster.ingestsHere(this.opts.streamId))) return this.#acquireRemote(cluster);
    return this.acquireHere();
  }

  /** acquire() from this node's own ingest (in a cluster: the owner's, e.g. for a pipe to another node). */
  async acquireHere(): Promise<ProducerSet> {
    if (this.#closed) throw new GatewayError('E_NOT_FOUND', `stream ${this.id} is closed`);
    if (this.#authRetryAt > Date.now()) throw this.#unauthorizedError();
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

  /** Another node ingests the camera: one pipe from it, shared by every viewer here. */
  async #acquireRemote(cluster: VariantCluster): Promise<ProducerSet> {
    this.#viewers++;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    try {
      const have = this.#remote;
      if (have && !have.closed) return have;
      this.#piping ??= cluster
        .pipe(this)
        .then((set) => {
          this.#remote = set;
          set.on('lost', () => this.#remoteEnded(set));
          for (const p of set.producers) p.observer.once('close', () => this.#remoteEnded(set));
          this.#setState('live');
          return set;
        })
        .finally(() => {
          this.#piping = undefined;
        });
      return await this.#piping;
    } catch (err) {
      this.release();
      throw err;
    }
  }

  #remoteEnded(set: ProducerSet): void {
    if (this.#remote !== set) return;
    this.#remote = undefined;
    set.close();
    if (!this.#closed && !this.#set) this.#setState('idle');
  }

  /**
   * This node no longer owns the camera (its lease went to another node, or it drains): the ingest
   * stops and the Producers close, so every viewer here consumes again, now from the owner's pipe.
   */
  async handOver(why: string): Promise<void> {
    await this.stopIngest(why);
    const set = this.#set;
    this.#set = undefined;
    set?.close();
  }

  release(): void {
    this.#viewers = Math.max(0, this.#viewers - 1);
    if (this.#viewers === 0 && this.#remote && !this.#closed) {
      // A pipe from another node is kept while viewers here hold it, and closed after the idle timer.
      const piped = this.#remote;
      clearTimeout(this.#idleTimer);
      this.#idleTimer = setTimeout(() => {
        this.#idleTimer = undefined;
        if (this.#viewers === 0) this.#remoteEnded(piped);
      }, this.opts.ingest.idleTimeoutSec * 1000);
      return;
    }
    if (this.#viewers > 0 || this.opts.alwaysOn || this.#closed) return;
    // A camera that never came up is not retried for nobody (cameras lock accounts); its error stays.
    if (!this.#source) {
      this.#watch.stop();
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
    const failed = this.#state === 'error' || this.#state === 'unauthorized';
    if (this.#state === 'idle' || (failed && !this.ingestRunning && this.#authRetryAt <= Date.now()))
      this.#setState('starting');
    this.#watch.start();
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
    // Whoever asks (a viewer, a retry, a health check), a rejected password is not tried again early.
    if (this.#authRetryAt > Date.now()) {
      this.#prepareError = this.#unauthorizedError();
      throw this.#prepareError;
    }
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
    return {
      mode: this.opts.ingestMode ?? 'auto',
      transcode: this.opts.source.transcode,
      audio: this.opts.audio,
      bframes: this.#bframes,
    };
  }

  /**
   * DESCRIBE the camera (the gateway's own RTSP client is the only one that talks to it), decide the
   * path (ingestPlan.ts), make the forwarders and Producers, and the source that continues on the
   * same connection: the packet relay, or FFmpeg fed by the relay.
   */
  async #prepare(): Promise<void> {
    const d: Described = await this.#describeCamera().catch((err: Error) => this.#contactFailed(err));
    this.#contact();
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
        transport: this.#transport,
        timeoutMs: ingest.connectTimeoutSec * 1000,
        described: d,
        video: raw.video,
        audio: tracks.audio ? raw.audio : undefined,
      },
      name: this.id,
      secrets: urlSecrets(source.url),
      logger: this.logger,
      onReordered: () => this.#onReordered(),
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
        transport: this.#transport.current,
        audio: audioCodec ?? 'none',
      },
      'camera described; producers ready',
    );
    const [video, audio] = this.#forwarders as [RtpForwarder, RtpForwarder | undefined];
    const packet = new RtspPacketSource({
      url: source.url,
      transport: this.#transport,
      onReordered: () => this.#onReordered(),
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

  /** One DESCRIBE of the camera (the ingest's first, or a health check). */
  #describeCamera(): Promise<Described> {
    return describe(this.opts.source.url, {
      timeoutMs: this.opts.ingest.connectTimeoutSec * 1000,
      userAgent: 'cctv-gateway',
    });
  }

  /** Records why the camera could not be described: a rejected password, or not reachable / no such stream. */
  #recordContactFailure(err: unknown): { failure: RestartReason; msg: string } {
    const msg = redact((err as Error).message, urlSecrets(this.opts.source.url));
    const failure = failureOf(err);
    if (failure === 'auth') this.#unauthorized(msg);
    else this.#fail(`camera unreachable: ${msg}`);
    return { failure, msg };
  }

  /** The ingest's DESCRIBE failed: recorded, and thrown as what the viewer is told. */
  #contactFailed(err: Error): never {
    const { failure, msg } = this.#recordContactFailure(err);
    if (failure === 'auth') throw this.#unauthorizedError();
    throw Object.assign(
      new GatewayError('E_STREAM_OFFLINE', `camera ${this.id} is not reachable (${msg})`, 'unreachable'),
      { failure },
    );
  }

  #unauthorizedError(): GatewayError {
    const inSec = Math.max(1, Math.round((this.#authRetryAt - Date.now()) / 1000));
    return Object.assign(
      new GatewayError(
        'E_STREAM_OFFLINE',
        `camera ${this.id} rejected the gateway's password; next login attempt in ${inSec} s (fix the camera's credentials in the config)`,
        'unauthorized',
      ),
      { failure: 'auth' as const },
    );
  }

  /**
   * The camera rejected the password: its own state, one warning, and the next login only after a
   * long backoff (minutes, doubling): cameras lock an account after a few failed logins.
   */
  #unauthorized(message: string): void {
    const { authRetryInitialSec, authRetryMaxSec } = this.opts.ingest;
    const waitSec = Math.min(authRetryMaxSec, authRetryInitialSec * 2 ** this.#authRejections);
    this.#authRejections++;
    this.#authRetryAt = Date.now() + waitSec * 1000;
    this.emit('loginRejected');
    const first = this.#state !== 'unauthorized';
    this.logger[first ? 'warn' : 'debug'](
      { camera: this.opts.streamId, error: message, rejections: this.#authRejections, nextLoginInSec: waitSec },
      'camera rejected the password; not trying again before the backoff (cameras lock accounts)',
    );
    this.#lastError = `password rejected: ${message}`;
    this.#liveSince = undefined;
    this.#setHealth('unauthorized', 'password rejected');
    this.#setState('unauthorized', this.#lastError);
  }

  /** The relay sees B-frames: under transcode auto the stream moves to FFmpeg (Baseline, no B-frames). */
  #onReordered(): void {
    if (this.#bframes || this.#closed) return;
    this.#bframes = true;
    if (this.#ffmpegTracks?.video.mode === 'transcode') return; // already re-encoded without them
    const transcode = this.opts.source.transcode === 'auto' && this.opts.ingestMode !== 'packet';
    if (!transcode) {
      this.logger.warn({ why: BFRAMES_WHY }, 'camera sends B-frames; not transcoded (transcode or ingest setting)');
      return;
    }
    this.logger.warn({ why: BFRAMES_WHY }, 'camera sends B-frames: transcoding it to H.264 Baseline without them');
    void this.rebuild('B-frames');
  }

  /**
   * Drops the ingest, Producers and forwarders and prepares them again (a new path or new camera
   * settings). Viewers' consumers close with 'stream_moved' and they consume the new Producers on
   * the same connection.
   */
  rebuild(why: string): Promise<void> {
    this.#rebuilding ??= (async () => {
      this.logger.info({ why }, 'rebuilding the ingest');
      this.#watch.stop();
      await this.#supervisor.stop('stopped');
      await this.#source?.close();
      this.#source = undefined;
      this.#packet = undefined;
      this.#ffmpegTracks = undefined;
      const set = this.#set;
      this.#set = undefined;
      set?.close();
      for (const f of this.#forwarders) f.close();
      this.#forwarders = [];
      this.#keyframes?.close();
      this.#keyframes = undefined;
      this.#specs = [];
      if (this.#closed) return;
      this.#setState('idle');
      if (this.#viewers > 0 || this.opts.alwaysOn) this.#ensureStarted().catch(() => {});
    })().finally(() => {
      this.#rebuilding = undefined;
    });
    return this.#rebuilding;
  }

  /**
   * New settings for this variant (the config changed): a rejected password is tried again at
   * once, and a changed URL or transport rebuilds the ingest.
   */
  async reconfigure(source: VariantConfig, rtspTransport: RtspTransportSetting): Promise<void> {
    const changed = source.url !== this.opts.source.url || source.transcode !== this.opts.source.transcode;
    const transportChanged = rtspTransport !== this.opts.rtspTransport;
    if (!changed && !transportChanged) return;
    this.opts.source = source;
    this.opts.rtspTransport = rtspTransport;
    if (transportChanged) this.#transport = new TransportChoice(rtspTransport);
    this.#authRetryAt = 0;
    this.#authRejections = 0;
    this.#bframes = false;
    this.#setHealth('unknown');
    await this.rebuild('camera settings changed');
    if (this.#viewers === 0 && !this.opts.alwaysOn) await this.checkHealth();
  }

  /**
   * One health check of a camera nobody watches: DESCRIBE and hang up. Nothing when the ingest
   * runs (it knows), while a rejected password waits for its backoff, or while a check runs.
   */
  checkHealth(): Promise<void> {
    if (this.#closed || this.ingestRunning || this.#authRetryAt > Date.now()) return Promise.resolve();
    this.#checking ??= (async () => {
      try {
        const d = await this.#describeCamera();
        d.conn.close();
        if (this.ingestRunning || this.#closed) return;
        this.#authRejections = 0;
        this.#contact();
        if (this.#state === 'error' || this.#state === 'unauthorized') {
          this.#lastError = undefined;
          this.#setState('idle');
        }
      } catch (err) {
        if (this.ingestRunning || this.#closed) return;
        this.#recordContactFailure(err);
      }
    })().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  /** The camera answered as it should. */
  #contact(): void {
    const now = Date.now();
    if (this.#health.state !== 'up') this.#setHealth('up');
    this.#health.lastContactAt = now;
    this.#health.checkedAt = now;
  }

  #setHealth(state: CameraHealth['state'], reason?: string): void {
    const h = this.#health;
    const now = Date.now();
    if (h.state === state && h.reason === reason) {
      h.checkedAt = now;
      return;
    }
    this.#health = {
      state,
      ...(reason ? { reason } : {}),
      since: h.state === state ? h.since : now, // a new reason for the same state keeps its since
      ...(h.lastContactAt ? { lastContactAt: h.lastContactAt } : {}),
      checkedAt: now,
    };
    this.emit('health', this.#health);
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
      if (t.kind === 'video' && this.opts.onvif) {
        const onvif = this.opts.onvif;
        forwarder.onKeyframeRequestOutOfBand = () => onvif.request();
      }
      const cacheBytes = this.opts.ingest.keyframeCacheKiB * 1024;
      if (t.kind === 'video' && t.codec.mimeType.toLowerCase() === 'video/h264' && cacheBytes > 0) {
        const cache = new KeyframeCache(cacheBytes);
        this.#keyframes = cache;
        forwarder.tap = (buf, off, len) => cache.push(buf, off, len);
      }
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

  #analyzeUs(): number {
    return this.#ffmpegTracks?.audio || this.#longAnalysis ? 1_000_000 : 200_000;
  }

  #plan(targets: FfmpegTargets): IngestPlan {
    const tracks = this.#ffmpegTracks as FfmpegTracks;
    return {
      name: this.id,
      // Short analysis starts video ~0.8 s sooner; audio, or a camera whose parameters did not
      // arrive in time (FFmpeg said 'bad_stream'), gets the long one.
      analyzeUs: this.#analyzeUs(),
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
    if (e.reason === 'auth') {
      // A login the camera refused (401/403); a run the backoff refused before any login says nothing.
      if (e.code === 401 || e.code === 403) this.#unauthorized(e.message);
      return;
    }
    if (e.reason === 'bad_stream' && !this.#packet) this.#longAnalysis = true;
    this.logger.warn(
      { reason: e.reason, status: e.code ?? null, error: e.message, restartInMs: e.delayMs, restarts: e.restarts },
      `${this.#packet ? 'rtsp session' : 'ffmpeg'} ended; restarting`,
    );
    this.#fail(e.reason === 'stall' ? 'no video received from the camera' : e.message);
    this.emit('restart', e.reason);
  }

  async stopIngest(why: string): Promise<void> {
    this.#watch.stop();
    const running = this.#supervisor.state !== 'stopped';
    await this.#supervisor.stop('stopped');
    if (running && this.#source) this.logger.info({ why }, 'ingest stopped');
    this.#liveSince = undefined;
    this.#keyframes?.clear(); // what it holds is no longer the camera's picture
    // A camera that failed stays failed (its health check says when it is back).
    if (!this.#closed && this.#state !== 'error' && this.#state !== 'unauthorized') this.#setState('idle');
  }

  #fail(message: string): void {
    this.#lastError = message;
    this.#liveSince = undefined;
    this.#setHealth('down', message);
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
    this.#remote?.close();
    for (const f of this.#forwarders) f.close();
    this.#keyframes?.close();
    this.opts.onvif?.close();
    this.#setState('idle');
  }
}
