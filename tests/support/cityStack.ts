// A stack shaped like the real deployment: named kelurahan/kecamatan offices grouped by kecamatan,
// each with a `main` and (optionally) a low-resolution `sub` RTSP stream from the simulator. The same
// Stack interface as startStack (support/stack.ts), which names cameras `Kantor <id>` and has no
// kecamatan or sub streams.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { parseConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { Gateway } from '../../gateway/src/Gateway.js';
import { createLogger } from '../../gateway/src/log.js';
import { CameraSimulator, type SimCameraSpec } from '../../gateway/src/sim/CameraSimulator.js';
import { TokenVerifier } from '../../signaling/src/auth.js';
import { type LogRecord, type Stack, TEST_SECRET } from './stack.js';

export interface Office {
  id: string;
  name: string;
  kecamatan: string;
  /** Encoding of the main stream (defaults: 640x360, baseline, 1 s GOP, 600 kbit/s). */
  main?: Omit<SimCameraSpec, 'id'>;
  /** Encoding of the sub stream, or false for a camera without one (defaults: 320x180, 150 kbit/s). */
  sub?: Omit<SimCameraSpec, 'id'> | false;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** Sub-stream mount of an office on the simulator. */
export const subMount = (id: string) => `${id}--sub`;

export async function startCityStack(opts: {
  offices: Office[];
  /** Extra gateway camera entries (e.g. an office whose camera nothing serves). */
  extraCameras?: Record<string, unknown>[];
  config?: DeepPartial<Config>;
}): Promise<Stack> {
  const specs: SimCameraSpec[] = [];
  for (const o of opts.offices) {
    const common = { profile: 'baseline' as const, gop: 25, fps: 25, label: o.id };
    specs.push({ id: o.id, ...common, width: 640, height: 360, bitrateKbps: 600, ...o.main });
    if (o.sub !== false)
      specs.push({ id: subMount(o.id), ...common, width: 320, height: 180, bitrateKbps: 150, ...o.sub });
  }
  const sim = await CameraSimulator.start({ cameras: specs });
  const cameras = opts.offices.map((o) => ({
    id: o.id,
    name: o.name,
    kecamatan: o.kecamatan,
    main: { url: sim.url(o.id) },
    ...(o.sub !== false ? { sub: { url: sim.url(subMount(o.id)) } } : {}),
  }));
  const base = {
    server: { host: '127.0.0.1', port: 0 },
    media: { workers: 2, listenIp: '127.0.0.1', rtcPort: 0 },
    ingest: { idleTimeoutSec: 30, backoffInitialMs: 200, backoffMaxMs: 2000 },
    log: { level: 'info' },
    audit: { file: path.join(os.tmpdir(), `cctv-audit-city-${process.pid}-${Date.now()}.jsonl`) },
  };
  const merged = deepMerge(base, (opts.config ?? {}) as Record<string, unknown>);
  const { config, cameras: valid } = parseConfig(
    { ...merged, cameras: [...cameras, ...(opts.extraCameras ?? [])] },
    'test',
    {},
  );
  const logs: LogRecord[] = [];
  const logFile = process.env['CCTV_TEST_LOG'];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as LogRecord);
      if (logFile) fs.appendFileSync(logFile, String(chunk));
      cb();
    },
  });
  const logger = createLogger(config.log.level, sink);
  const verifier = TokenVerifier.fromConfig({ ...config.auth, jwtSecret: config.auth.jwtSecret ?? TEST_SECRET });
  const gateway = await Gateway.start({ config, cameras: valid, verifier, logger });
  const stack: Stack = {
    sim,
    gateway,
    logs,
    config,
    base: `http://127.0.0.1:${gateway.port}`,
    token: (streams = ['*'], ttlSec = 3600, role = 'viewer', sub = 'test-viewer') =>
      verifier.sign({ sub, role, streams }, ttlSec),
    restartGateway: async () => {
      await stack.gateway.close();
      stack.gateway = await Gateway.start({
        config: { ...config, server: { ...config.server, port: stack.gateway.port } },
        cameras: valid,
        verifier,
        logger,
      });
      stack.base = `http://127.0.0.1:${stack.gateway.port}`;
    },
    close: async () => {
      await stack.gateway.close();
      await sim.stop();
    },
  };
  return stack;
}

function deepMerge<T extends Record<string, unknown>>(a: T, b: Record<string, unknown>): T {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object'
        ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out as T;
}

/** Viewer consumers the gateway holds right now, over all workers. */
export function gatewayConsumers(stack: Stack): number {
  return stack.gateway.pool.workers.reduce((n, w) => n + w.consumers, 0);
}

/**
 * 24 offices of Palembang in six kecamatan: each kecamatan office and some kelurahan offices.
 * Names and districts are real; the cameras are simulated.
 */
export const PALEMBANG_OFFICES: Office[] = [
  ['kec-ilir-barat-i', 'Kantor Kecamatan Ilir Barat I', 'Ilir Barat I'],
  ['kel-bukit-lama', 'Kantor Kelurahan Bukit Lama', 'Ilir Barat I'],
  ['kel-siring-agung', 'Kantor Kelurahan Siring Agung', 'Ilir Barat I'],
  ['kel-demang-lebar-daun', 'Kantor Kelurahan Demang Lebar Daun', 'Ilir Barat I'],
  ['kel-lorok-pakjo', 'Kantor Kelurahan Lorok Pakjo', 'Ilir Barat I'],
  ['kec-ilir-timur-i', 'Kantor Kecamatan Ilir Timur I', 'Ilir Timur I'],
  ['kel-20-ilir-d-i', 'Kantor Kelurahan 20 Ilir D I', 'Ilir Timur I'],
  ['kel-sungai-pangeran', 'Kantor Kelurahan Sungai Pangeran', 'Ilir Timur I'],
  ['kel-17-ilir', 'Kantor Kelurahan 17 Ilir', 'Ilir Timur I'],
  ['kel-kepandean-baru', 'Kantor Kelurahan Kepandean Baru', 'Ilir Timur I'],
  ['kec-kemuning', 'Kantor Kecamatan Kemuning', 'Kemuning'],
  ['kel-sekip-jaya', 'Kantor Kelurahan Sekip Jaya', 'Kemuning'],
  ['kel-talang-aman', 'Kantor Kelurahan Talang Aman', 'Kemuning'],
  ['kel-pahlawan', 'Kantor Kelurahan Pahlawan', 'Kemuning'],
  ['kec-plaju', 'Kantor Kecamatan Plaju', 'Plaju'],
  ['kel-plaju-ulu', 'Kantor Kelurahan Plaju Ulu', 'Plaju'],
  ['kel-bagus-kuning', 'Kantor Kelurahan Bagus Kuning', 'Plaju'],
  ['kel-talang-putri', 'Kantor Kelurahan Talang Putri', 'Plaju'],
  ['kec-seberang-ulu-i', 'Kantor Kecamatan Seberang Ulu I', 'Seberang Ulu I'],
  ['kel-7-ulu', 'Kantor Kelurahan 7 Ulu', 'Seberang Ulu I'],
  ['kel-tuan-kentang', 'Kantor Kelurahan Tuan Kentang', 'Seberang Ulu I'],
  ['kec-sukarami', 'Kantor Kecamatan Sukarami', 'Sukarami'],
  ['kel-talang-betutu', 'Kantor Kelurahan Talang Betutu', 'Sukarami'],
  ['kel-kebun-bunga', 'Kantor Kelurahan Kebun Bunga', 'Sukarami'],
].map(([id, name, kecamatan]) => ({ id: id as string, name: name as string, kecamatan: kecamatan as string }));
