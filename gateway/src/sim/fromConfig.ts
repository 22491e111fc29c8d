// Turns the config's `simulator.cameras` into simulator specs and the gateway's camera entries.
import type { CameraConfig, SimulatedCameraConfig } from '../../../config/schema.js';
import type { CameraSimulator, SimCameraSpec } from './CameraSimulator.js';

const SUB = { width: 320, height: 180, bitrateKbps: 300 } as const;

export function simulatedCameras(list: SimulatedCameraConfig[]): {
  specs: SimCameraSpec[];
  cameras: (sim: CameraSimulator) => CameraConfig[];
} {
  const specs: SimCameraSpec[] = [];
  for (const c of list) {
    const base = { codec: c.codec, profile: c.profile, fps: c.fps, gop: c.gop, label: c.name };
    // ONVIF as configured; the sub stream is the main camera's profile 'sub', not a device of its own.
    const onvif = c.onvif === true;
    specs.push({ id: c.id, ...base, width: c.width, height: c.height, bitrateKbps: c.bitrateKbps, onvif });
    if (c.sub) specs.push({ id: `${c.id}--sub`, ...base, ...SUB, profile: 'baseline', onvif: false });
  }
  const cameras = (sim: CameraSimulator): CameraConfig[] =>
    list.map((c) => ({
      id: c.id,
      name: c.name,
      ...(c.kecamatan ? { kecamatan: c.kecamatan } : {}),
      main: { url: sim.url(c.id), transcode: 'auto' },
      ...(c.sub ? { sub: { url: sim.url(`${c.id}--sub`), transcode: 'auto' } } : {}),
      alwaysOn: c.alwaysOn,
      rtspTransport: 'tcp',
      audio: false,
      ...(c.onvif ? { onvif: { url: sim.onvifUrl(c.id) } } : {}),
    }));
  return { specs, cameras };
}
