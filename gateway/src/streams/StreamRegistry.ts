// All configured cameras and their variants; where each one's Producer lives.
import { EventEmitter } from 'node:events';
import type { CameraConfig, Config } from '../../../config/schema.js';
import { GatewayError } from '../../../signaling/src/errors.js';
import { OnvifKeyframes } from '../ingest/OnvifKeyframes.js';
import type { Logger } from '../log.js';
import type { WorkerPool } from '../media/WorkerPool.js';
import { StreamVariant, type VariantCluster, type VariantName } from './StreamVariant.js';

export interface StreamInfo {
  id: string;
  name: string;
  kecamatan?: string;
  kelurahan?: string;
  variants: VariantName[];
}

export interface Reconfigured {
  changed: string[];
  added: string[];
  removed: string[];
}

export class StreamRegistry {
  /** Variants made after start (a camera added by reconfigure()), for whoever counts their events. */
  readonly observer = new EventEmitter<{ variantAdded: [StreamVariant] }>();
  readonly #cameras = new Map<string, CameraConfig>();
  readonly #variants = new Map<string, StreamVariant>();
  #placed = 0;

  constructor(
    cameras: CameraConfig[],
    private readonly ingest: Config['ingest'],
    private readonly pool: WorkerPool,
    private readonly logger: Logger,
    /** A node of a cluster: each camera is ingested where its lease is. */
    private readonly cluster?: VariantCluster,
  ) {
    for (const cam of cameras) this.#add(cam);
  }

  #add(cam: CameraConfig): StreamVariant[] {
    const n = this.#placed++;
    this.#cameras.set(cam.id, cam);
    const made: StreamVariant[] = [];
    for (const variant of ['main', 'sub'] as const) {
      const source = cam[variant];
      if (!source) continue;
      const sv = new StreamVariant({
        streamId: cam.id,
        variant,
        source,
        rtspTransport: cam.rtspTransport,
        audio: cam.audio,
        ingestMode: cam.ingest ?? 'auto',
        alwaysOn: cam.alwaysOn && variant === 'main',
        ingest: this.ingest,
        pool: this.pool,
        placement: n,
        logger: this.logger,
        cluster: this.cluster,
        onvif: OnvifKeyframes.fromCamera(cam, variant, this.logger.child({ stream: cam.id, variant })),
      });
      this.#variants.set(sv.id, sv);
      made.push(sv);
      this.observer.emit('variantAdded', sv);
    }
    return made;
  }

  async #remove(id: string): Promise<void> {
    this.#cameras.delete(id);
    const gone = [...this.#variants.values()].filter((v) => v.opts.streamId === id);
    for (const v of gone) this.#variants.delete(v.id);
    await Promise.all(gone.map((v) => v.close()));
  }

  /**
   * The config changed: cameras whose URL or transport changed get it (a rejected password is
   * tried again at once), new ones are added, removed ones closed (their viewers' consumers end
   * with 'stream_closed'). Other changes of a camera (name, audio, ingest, alwaysOn) rebuild it.
   */
  async reconfigure(cameras: CameraConfig[]): Promise<Reconfigured> {
    const out: Reconfigured = { changed: [], added: [], removed: [] };
    const next = new Map(cameras.map((c) => [c.id, c]));
    for (const id of [...this.#cameras.keys()]) {
      if (next.has(id)) continue;
      out.removed.push(id);
      await this.#remove(id);
    }
    for (const cam of cameras) {
      const old = this.#cameras.get(cam.id);
      if (!old) {
        out.added.push(cam.id);
        for (const v of this.#add(cam)) if (v.opts.alwaysOn) v.startAlwaysOn();
        continue;
      }
      if (JSON.stringify(old) === JSON.stringify(cam)) continue;
      out.changed.push(cam.id);
      const sameShape =
        !!old.sub === !!cam.sub &&
        old.audio === cam.audio &&
        old.ingest === cam.ingest &&
        old.alwaysOn === cam.alwaysOn &&
        JSON.stringify(old.onvif) === JSON.stringify(cam.onvif);
      if (!sameShape) {
        await this.#remove(cam.id);
        for (const v of this.#add(cam)) if (v.opts.alwaysOn) v.startAlwaysOn();
        continue;
      }
      this.#cameras.set(cam.id, cam);
      await Promise.all(
        (['main', 'sub'] as const).map((name) => {
          const v = this.#variants.get(`${cam.id}/${name}`);
          const source = cam[name];
          return v && source ? v.reconfigure(source, cam.rtspTransport) : undefined;
        }),
      );
    }
    if (out.changed.length + out.added.length + out.removed.length > 0) this.logger.info(out, 'cameras reconfigured');
    return out;
  }

  startAlwaysOn(): void {
    for (const v of this.#variants.values()) if (v.opts.alwaysOn) v.startAlwaysOn();
  }

  list(): StreamInfo[] {
    return [...this.#cameras.values()].map((c) => ({
      id: c.id,
      name: c.name,
      ...(c.kecamatan ? { kecamatan: c.kecamatan } : {}),
      ...(c.kelurahan ? { kelurahan: c.kelurahan } : {}),
      variants: c.sub ? ['main', 'sub'] : ['main'],
    }));
  }

  camera(id: string): CameraConfig | undefined {
    return this.#cameras.get(id);
  }

  /** The variant asked for; `sub` falls back to `main` for cameras without one. */
  get(streamId: string, variant: VariantName): StreamVariant {
    const v = this.#variants.get(`${streamId}/${variant}`) ?? this.#variants.get(`${streamId}/main`);
    if (!v) throw new GatewayError('E_NOT_FOUND', `no stream named "${streamId}"`);
    return v;
  }

  variants(): StreamVariant[] {
    return [...this.#variants.values()];
  }

  async close(): Promise<void> {
    await Promise.all([...this.#variants.values()].map((v) => v.close()));
  }
}
