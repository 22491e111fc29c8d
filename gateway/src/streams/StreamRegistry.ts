// All configured cameras and their variants; where each one's Producer lives.
import type { CameraConfig, Config } from '../../../config/schema.js';
import { GatewayError } from '../../../signaling/src/errors.js';
import type { Logger } from '../log.js';
import type { WorkerPool } from '../media/WorkerPool.js';
import { StreamVariant, type VariantName } from './StreamVariant.js';

export interface StreamInfo {
  id: string;
  name: string;
  kecamatan?: string;
  kelurahan?: string;
  variants: VariantName[];
}

export class StreamRegistry {
  readonly #cameras = new Map<string, CameraConfig>();
  readonly #variants = new Map<string, StreamVariant>();

  constructor(cameras: CameraConfig[], ingest: Config['ingest'], pool: WorkerPool, logger: Logger) {
    cameras.forEach((cam, n) => {
      this.#cameras.set(cam.id, cam);
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
          ingest,
          pool,
          placement: n,
          logger,
        });
        this.#variants.set(sv.id, sv);
      }
    });
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
