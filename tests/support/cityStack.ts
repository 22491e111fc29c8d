import type { Config } from '../../config/schema.js';
import { CameraSimulator, type SimCameraSpec } from '../../gateway/src/sim/CameraSimulator.js';
import { gatewayOnSim, type Stack } from './stack.js';

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
  return gatewayOnSim(sim, [...cameras, ...(opts.extraCameras ?? [])], opts.config);
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
