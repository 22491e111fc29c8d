/**
 * Starts N simulated cameras and prints their URLs until Ctrl-C.
 *
 *   npx tsx gateway/src/sim/cli.ts --cams 6 --port 8554 [--onvif-port 8080] [--address 127.0.0.1]
 *       [--width 640 --height 360 --fps 25 --bitrate 1000] [--shared-clip] [--verbose]
 *
 * Odd cameras are H.264 baseline, even ones H.264 high. Each camera's id is
 * burnt into its own clip unless --shared-clip (two clips for all cameras). Each camera's ONVIF
 * Media service (no auth) is printed beside its RTSP URL; --onvif-port 0 (default) picks a free port.
 */
import { parseArgs } from 'node:util';
import { CameraSimulator, type SimCameraSpec } from './CameraSimulator.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      cams: { type: 'string', default: '6' },
      port: { type: 'string', default: '8554' },
      'onvif-port': { type: 'string', default: '0' },
      address: { type: 'string', default: '127.0.0.1' },
      width: { type: 'string', default: '640' },
      height: { type: 'string', default: '360' },
      fps: { type: 'string', default: '25' },
      bitrate: { type: 'string', default: '1000' },
      'shared-clip': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
    },
  });
  const count = Number(values.cams);
  if (!Number.isInteger(count) || count < 1) throw new Error(`--cams must be a positive integer`);

  const cameras: SimCameraSpec[] = Array.from({ length: count }, (_, i) => {
    const profile = i % 2 === 0 ? 'baseline' : 'high';
    return {
      id: `cam${i + 1}`,
      profile,
      width: Number(values.width),
      height: Number(values.height),
      fps: Number(values.fps),
      bitrateKbps: Number(values.bitrate),
      ...(values['shared-clip'] ? { label: `sim ${profile}` } : {}),
    };
  });

  const started = Date.now();
  const sim = await CameraSimulator.start({
    cameras,
    port: Number(values.port),
    onvifPort: Number(values['onvif-port']),
    address: values.address,
    onEvent: values.verbose ? (e) => console.error(JSON.stringify(e)) : undefined,
  });
  console.log(`camsim pid ${sim.pid} ready in ${Date.now() - started} ms on port ${sim.port}`);
  for (const camera of sim.cameras) {
    console.log(`${sim.url(camera.id)}  (${camera.codec} ${camera.profile})  ONVIF ${sim.onvifUrl(camera.id)}`);
  }

  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return; // a second Ctrl-C while stopping is ignored
    stopping = true;
    void sim.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  sim.onEvent((e) => {
    if (e.event !== 'exit' || stopping) return;
    console.error(`camsim exited unexpectedly (code ${String(e.code)}, signal ${String(e.signal)})`);
    process.exit(1);
  });
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
