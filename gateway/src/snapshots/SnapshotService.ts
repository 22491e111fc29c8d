// Snapshots: a JPEG of a stream variant's newest frame, decoded from its keyframe cache by a pool of
// long-lived decoder processes (SnapshotDecoder, libavcodec). Requests for one variant and width share
// one decode and, for `cacheMs`, its result; `maxConcurrent` decoders with a short queue behind them,
// beyond which E_CAPACITY. A variant nobody watches is started for the snapshot (like a short viewer)
// and its first frame awaited.
import { EventEmitter } from 'node:events';
import { GatewayError } from '../../../signaling/src/errors.js';
import type { Logger } from '../log.js';
import type { StreamVariant } from '../streams/StreamVariant.js';
import type { CachedGop } from './KeyframeCache.js';
import { SnapshotDecoder } from './SnapshotDecoder.js';

export interface SnapshotSettings {
  /** The decoder program (snapshotter.c, built by scripts/setup.sh). */
  decoderPath: string;
  maxConcurrent: number;
  maxQueued: number;
  /** A JPEG taken this recently is served again (ms). */
  cacheMs: number;
  /** How long a snapshot of a starting stream waits for its first frame (ms). */
  waitMs: number;
  /** The newest frame must be at most this old, or the camera is not sending (ms). */
  maxFrameAgeMs: number;
  quality: number;
  decodeTimeoutMs: number;
}

export interface Snapshot {
  jpeg: Buffer;
  /** When the pictured frame arrived (ms since epoch). */
  frameAt: number;
  width: number | undefined;
}

export interface SnapshotObserverEvents {
  /** A snapshot answered; `cached`: from the short cache or a decode already under way. */
  served: [stream: string, variant: string, cached: boolean];
  refused: [stream: string, variant: string, code: string];
  /** One decode: how long, how many frames it decoded. */
  decoded: [stream: string, variant: string, seconds: number, frames: number];
}

export class SnapshotService {
  readonly observer = new EventEmitter<SnapshotObserverEvents>();
  readonly #done = new Map<string, Snapshot & { takenAt: number }>();
  readonly #inflight = new Map<string, Promise<Snapshot>>();
  readonly #idle: SnapshotDecoder[] = [];
  readonly #all: SnapshotDecoder[] = [];
  #running = 0;
  readonly #queue: ((d: SnapshotDecoder) => void)[] = [];
  #closed = false;

  constructor(
    private readonly settings: SnapshotSettings,
    private readonly logger: Logger,
    /** A cluster: the snapshot from the node that ingests the camera, or undefined when it is this one. */
    private readonly elsewhere?: (v: StreamVariant, width: number | undefined) => Promise<Snapshot | undefined>,
  ) {}

  get decoding(): number {
    return this.#running;
  }

  /** The decoder processes running now. */
  get decoderPids(): number[] {
    return this.#all.map((d) => d.pid).filter((p): p is number => p !== undefined);
  }

  /**
   * The newest picture of `v`, scaled to `width` when given. `here`: from this node's own ingest
   * (another node asked: never passed on again).
   */
  async take(v: StreamVariant, width?: number, here = false): Promise<Snapshot> {
    const { streamId, variant } = v.opts;
    const key = `${streamId}/${variant}/${width ?? 0}${here ? '/here' : ''}`;
    try {
      const done = this.#done.get(key);
      if (done && Date.now() - done.takenAt <= this.settings.cacheMs) {
        this.observer.emit('served', streamId, variant, true);
        return done;
      }
      const pending = this.#inflight.get(key);
      if (pending) {
        const s = await pending;
        this.observer.emit('served', streamId, variant, true);
        return s;
      }
      const p = this.#take(v, key, width, here).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
      const s = await p;
      this.observer.emit('served', streamId, variant, false);
      return s;
    } catch (err) {
      this.observer.emit('refused', streamId, variant, err instanceof GatewayError ? err.code : 'E_INTERNAL');
      throw err;
    }
  }

  async #take(v: StreamVariant, key: string, width: number | undefined, here: boolean): Promise<Snapshot> {
    const { streamId } = v.opts;
    const requestedAt = Date.now();
    const remote = here ? undefined : await this.elsewhere?.(v, width);
    if (remote) return this.#keep(key, { ...remote, takenAt: Date.now() });
    await v.acquire(); // a watched stream: at once; an idle one starts (and stops later, when idle)
    try {
      const cache = v.keyframes;
      if (!cache)
        throw new GatewayError(
          'E_NO_PICTURE',
          v.piped
            ? `camera ${streamId} is ingested by another node; its snapshot is served there`
            : `camera ${streamId} has no picture yet`,
        );
      const fresh = requestedAt - this.settings.maxFrameAgeMs;
      if (!(await cache.whenFrame(fresh, this.settings.waitMs)))
        throw new GatewayError(
          'E_NO_PICTURE',
          `no picture from camera ${streamId} in the last ${Math.round((this.settings.maxFrameAgeMs + this.settings.waitMs) / 1000)} s`,
        );
      const gop = cache.gop() as CachedGop;
      const jpeg = await this.#slot((d) => this.#decode(d, v, gop, width));
      return this.#keep(key, { jpeg, frameAt: gop.frameAt, width, takenAt: Date.now() });
    } finally {
      v.release();
    }
  }

  /** Keeps `snap` for the short cache. */
  #keep(key: string, snap: Snapshot & { takenAt: number }): Snapshot {
    if (this.#closed) return snap;
    this.#done.set(key, snap);
    setTimeout(() => {
      if (this.#done.get(key) === snap) this.#done.delete(key);
    }, this.settings.cacheMs).unref();
    return snap;
  }

  /** Runs `fn` with a free decoder; E_CAPACITY when every one is busy and the queue is full too. */
  async #slot<T>(fn: (d: SnapshotDecoder) => Promise<T>): Promise<T> {
    const { maxConcurrent, maxQueued } = this.settings;
    let d = this.#idle.pop();
    if (!d && this.#all.length < maxConcurrent) {
      d = new SnapshotDecoder(this.settings.decoderPath, this.settings.decodeTimeoutMs, this.logger);
      this.#all.push(d);
    }
    if (!d) {
      if (this.#queue.length >= maxQueued)
        throw new GatewayError(
          'E_CAPACITY',
          `${this.#running} snapshots are being decoded and ${this.#queue.length} wait; try again in a second`,
        );
      d = await new Promise<SnapshotDecoder>((resolve) => this.#queue.push(resolve));
    }
    this.#running++;
    try {
      return await fn(d);
    } finally {
      this.#running--;
      const next = this.#queue.shift();
      if (next) next(d);
      else if (this.#closed) d.close();
      else this.#idle.push(d);
    }
  }

  async #decode(d: SnapshotDecoder, v: StreamVariant, gop: CachedGop, width: number | undefined): Promise<Buffer> {
    const t0 = performance.now();
    let out: Awaited<ReturnType<SnapshotDecoder['decode']>>;
    try {
      out = await d.decode(gop.annexB, width ?? 0, this.settings.quality);
    } catch (err) {
      throw new GatewayError('E_UNAVAILABLE', `snapshots cannot be decoded now: ${(err as Error).message}`);
    }
    this.observer.emit('decoded', v.opts.streamId, v.opts.variant, (performance.now() - t0) / 1000, out.frames);
    if (out.jpeg.length === 0) {
      v.logger.warn(
        { frames: gop.frames, decoded: out.frames, bytes: gop.annexB.length },
        'snapshot: no picture decoded',
      );
      throw new GatewayError('E_NO_PICTURE', `the picture of camera ${v.opts.streamId} could not be decoded`);
    }
    return out.jpeg;
  }

  close(): void {
    this.#closed = true;
    this.#done.clear();
    this.#idle.length = 0;
    for (const d of this.#all) d.close();
  }
}
