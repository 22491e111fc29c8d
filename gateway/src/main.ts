// Entry point: `node --import tsx gateway/src/main.ts [--config FILE] [--demo]` (npm start / npm run demo).
// Loads the config, starts the embedded camera simulator when the config has one, starts the
// gateway, prints where to look, and shuts down cleanly on SIGINT/SIGTERM.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../../config/load.js';
import type { CameraConfig } from '../../config/schema.js';
import { devSecretRefusal, productionReason, verifierFor } from './auth/setup.js';
import { watchConfig } from './configWatch.js';
import { Gateway } from './Gateway.js';
import { createLogger } from './log.js';
import { CameraSimulator } from './sim/CameraSimulator.js';
import { simulatedCameras } from './sim/fromConfig.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { values: args } = parseArgs({
  options: { config: { type: 'string' }, demo: { type: 'boolean', default: false } },
});
const file = args.config ?? process.env['CCTV_CONFIG'] ?? path.join(root, 'config', 'default.yaml');

let loaded: ReturnType<typeof loadConfig>;
try {
  loaded = loadConfig(file);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`cctv-gateway: invalid config: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
const { config, cameraProblems } = loaded;
// Before any worker or simulator starts: production never falls back to the development secret.
const refusal = devSecretRefusal(config, process.env);
if (refusal) {
  process.stderr.write(`${refusal}\n`);
  process.exit(2);
}
const logger = createLogger(config.log.level);
for (const p of cameraProblems)
  logger.error({ camera: p.id ?? `#${p.index}`, field: p.field, reason: p.reason }, 'camera skipped: bad config entry');

let simulator: CameraSimulator | undefined;
let simCameras: CameraConfig[] = [];
if (config.simulator && config.simulator.cameras.length > 0) {
  const sim = simulatedCameras(config.simulator.cameras);
  simulator = await CameraSimulator.start({ port: config.simulator.port, cameras: sim.specs });
  simCameras = sim.cameras(simulator);
  logger.info({ cameras: sim.specs.length, port: simulator.port }, 'camera simulator started');
}

const { verifier, devSecret } = verifierFor(config.auth);
if (devSecret) logger.warn('no CCTV_JWT_SECRET set: using the development secret in .cache/dev-jwt-secret');

const cameras = [...loaded.cameras, ...simCameras];
// The demo keeps /metrics open on its port (`npm run demo` prints the link); production guards it.
const production = args.demo ? undefined : productionReason(config, process.env);
const gateway = await Gateway.start({
  config,
  cameras,
  verifier,
  logger,
  rejectedCameras: cameraProblems.length,
  production,
});
// Camera changes in the file apply without a restart (also at once on SIGHUP).
const configWatch = watchConfig({
  file,
  config,
  extraCameras: simCameras,
  apply: (next) => gateway.streams.reconfigure(next),
  logger,
});
process.on('SIGHUP', () => void configWatch.reload('SIGHUP'));
const base = config.server.publicUrl ?? `http://127.0.0.1:${gateway.port}`;
if (args.demo) {
  const token = gateway.verifier.sign({ sub: 'demo-viewer', role: 'viewer', streams: ['*'] }, 12 * 3600);
  process.stdout.write(
    `\n  cctv-gateway is running with ${cameras.length} simulated cameras.\n` +
      `  Open:  ${base}/?token=${token}\n` +
      `  Token (viewer, all streams, 12 h): ${token}\n` +
      `  Sign in: ${base}/login  (make an account: npm run users -- add <name> --role operator)\n` +
      `  Health: ${base}/healthz   Metrics: ${base}/metrics\n  Stop with Ctrl-C.\n\n`,
  );
}

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  configWatch.close();
  await gateway.close();
  await simulator?.stop();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
