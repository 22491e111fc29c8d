// Gateway + FFmpeg CPU for one 2 Mbps camera (720p25, 1 s GOP) with 0 and with 5 browser viewers.
// Run: npm run bench:pipeline   (inside a private network namespace, real Chromium viewers)
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { launchBrowser } from '../tests/support/browser.js';
import { startStack, waitFor } from '../tests/support/stack.js';
import { measureCpu, printTable, rssMiB } from './cpu.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 20);
const stack = await startStack({
  cameras: [
    { id: 'cam-2mbps', profile: 'high', width: 1280, height: 720, fps: 25, gop: 25, bitrateKbps: 2000, alwaysOn: true },
  ],
  config: { log: { level: 'warn' } },
});
const sv = stack.gateway.streams.get('cam-2mbps', 'main');
await waitFor('ingest live', () => sv.state === 'live', 20_000);

const groups = {
  gateway_node: () => [process.pid],
  mediasoup_workers: () => stack.gateway.pool.workers.map((w) => w.worker.pid),
  ffmpeg: () => (sv.ffmpegPid ? [sv.ffmpegPid] : []),
  simulator: () => (stack.sim.pid ? [stack.sim.pid] : []),
};
const rows: Record<string, string | number>[] = [];
const measure = async (viewers: number) => {
  const cpu = await measureCpu(groups, SECONDS * 1000);
  const total =
    Math.round(((cpu['gateway_node'] ?? 0) + (cpu['mediasoup_workers'] ?? 0) + (cpu['ffmpeg'] ?? 0)) * 10) / 10;
  rows.push({
    viewers,
    'gateway+ffmpeg %core': total,
    'node %': cpu['gateway_node'] ?? 0,
    'workers %': cpu['mediasoup_workers'] ?? 0,
    'ffmpeg %': cpu['ffmpeg'] ?? 0,
    'simulator %': cpu['simulator'] ?? 0,
    'ffmpeg RSS MiB': Math.round(rssMiB(sv.ffmpegPid ?? 0)),
  });
};

await measure(0);
const browser = await launchBrowser();
const pages: Page[] = [];
for (let i = 0; i < 5; i++) {
  const page = await browser.newPage();
  await page.goto(`${stack.base}/?token=${stack.token()}&stream=cam-2mbps`);
  pages.push(page);
}
for (const page of pages) {
  await waitFor(
    'viewer playing',
    () =>
      page.evaluate(
        () => (window as unknown as { cctvPlayer: { framesDecoded: number } }).cctvPlayer.framesDecoded > 10,
      ),
    20_000,
  );
}
await measure(5);
await browser.close();
await stack.close();

printTable(rows);
const out = {
  benchmark: 'pipeline-cpu',
  date: new Date().toISOString(),
  camera: '1280x720 25 fps H.264 High, 2 Mbps, GOP 25',
  seconds: SECONDS,
  rows,
};
console.log(JSON.stringify(out));
const dir = path.join(import.meta.dirname, 'out');
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'pipeline-cpu.json'), `${JSON.stringify(out, null, 2)}\n`);
