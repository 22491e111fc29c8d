// Instant picture: what a viewer sees after a click, on cameras with a 1 s and a 4 s GOP that ignore
// RTCP PLI (as many CCTV cameras do), side by side in one run:
//   gateway+onvif  poster (snapshot) fetched beside the join; the join asks the camera for a keyframe
//                  through ONVIF SetSynchronizationPoint
//   gateway        the same camera without ONVIF: live video waits for the camera's next IDR
//   janus          Janus' streaming plugin on the same kind of camera (no poster, no ONVIF)
// Every camera is warm (its ingest runs), live clock cameras (x264 640x360 25 fps), each on its own
// encoder. First picture = the poster decoded in the page (or the first frame when there is none);
// first live frame = the first decoded video frame; both from the click. Then, in Node: snapshot
// latency on a cache miss and on a hit, and the CPU one snapshot costs (the decoder's + the
// gateway's share). The cache's cost for 107 cameras is in `npm run bench:ingest` (packet vs
// packet-nocache).
// Run: npm run bench:picture   (BENCH_PICTURE_JOINS=15 BENCH_PICTURE_SNAPSHOTS=30)
import type { Browser } from 'playwright-core';
import { CameraSimulator } from '../gateway/src/sim/CameraSimulator.js';
import { gatewayOnSim, type Stack, waitFor } from '../tests/support/stack.js';
import { launchChromium, ViewerPage } from './lib/browserViewer.js';
import { JanusServer } from './lib/JanusServer.js';
import { cpuSeconds, machineBusy } from './lib/proc.js';
import {
  envNumber,
  isMain,
  progress,
  type Row,
  round,
  type Summary,
  sleep,
  summarize,
  textTable,
  writeResult,
} from './lib/report.js';

export interface PictureOptions {
  joins: number;
  snapshots: number;
  gops: number[];
}

type Mode = 'gateway+onvif' | 'gateway' | 'janus';
const MODES: Mode[] = ['gateway+onvif', 'gateway', 'janus'];

export interface PictureRow {
  gopSec: number;
  mode: Mode;
  joins: number;
  failures: number;
  /** Click to the poster decoded (janus, and joins whose poster failed: the first frame). */
  firstPicture: Summary;
  firstLive: Summary;
}

export interface SnapshotCost {
  gopSec: number;
  /** Request to the whole JPEG received (ms): a decode, and the short cache. */
  miss: Summary;
  hit: Summary;
  /** CPU per decoded snapshot, ms of one core: the decoder's (libavcodec) and the gateway process's (HTTP, auth, copy). */
  decoderCpuMs: number;
  gatewayCpuMs: number;
  framesPerDecode: number;
}

export interface PictureResult {
  benchmark: 'picture';
  date: string;
  camera: string;
  options: PictureOptions;
  rows: PictureRow[];
  snapshots: SnapshotCost[];
  machineBusyPct: number;
  targets: Record<string, string>;
}

export function pictureOptionsFromEnv(): PictureOptions {
  return {
    joins: envNumber('BENCH_PICTURE_JOINS', 15),
    snapshots: envNumber('BENCH_PICTURE_SNAPSHOTS', 30),
    gops: (process.env['BENCH_PICTURE_GOPS'] ?? '1,4').split(',').map(Number),
  };
}

const FPS = 25;
// Each camera its own bitrate, so each has its own encoder: an ONVIF keyframe forces only its camera.
const clockCamera = (gopSec: number, n: number) => ({
  clock: true as const,
  width: 640,
  height: 360,
  fps: FPS,
  gop: gopSec * FPS,
  bitrateKbps: 1000 + n,
  keyframeOnRequest: false as const,
});
const camId = (gopSec: number, m: Mode) => `g${gopSec}-${m === 'gateway+onvif' ? 'onvif' : m}`;

export async function runPicture(opts: PictureOptions): Promise<PictureResult> {
  let stack: Stack | undefined;
  let sim: CameraSimulator | undefined;
  let janus: JanusServer | undefined;
  let browser: Browser | undefined;
  const pages: ViewerPage[] = [];
  try {
    progress('picture: starting simulator (clock cameras), gateway and Janus');
    const specs = opts.gops.flatMap((g, gi) =>
      MODES.map((m, mi) => ({ id: camId(g, m), ...clockCamera(g, gi * 10 + mi), onvif: m === 'gateway+onvif' })),
    );
    sim = await CameraSimulator.start({ cameras: specs });
    const simulator = sim;
    const cameras = specs
      .filter((c) => !c.id.endsWith('janus'))
      .map((c) => ({
        id: c.id,
        name: `Kantor ${c.id}`,
        main: { url: simulator.url(c.id) },
        alwaysOn: true,
        ingest: 'packet',
        ...(c.onvif ? { onvif: { url: simulator.onvifUrl(c.id) } } : {}),
      }));
    stack = await gatewayOnSim(sim, cameras, { log: { level: 'warn' } });
    const s = stack;
    janus = await JanusServer.start({
      mountpoints: opts.gops.map((g, i) => ({ id: i + 1, name: `g${g}`, url: simulator.url(camId(g, 'janus')) })),
    });
    await janus.waitLive();
    for (const c of cameras)
      await waitFor(`${c.id} live`, () => s.gateway.streams.get(c.id, 'main').keyframes?.gop(), 30_000);
    browser = await launchChromium();
    const gw = await ViewerPage.open(browser, s.base);
    const jp = await ViewerPage.open(browser, janus.origin);
    pages.push(gw, jp);
    const token = s.token();
    const busy = machineBusy(1000);
    const acc = new Map<string, { picture: number[]; live: number[]; failures: number }>();
    const key = (g: number, m: Mode) => `${g}/${m}`;
    for (const g of opts.gops) for (const m of MODES) acc.set(key(g, m), { picture: [], live: [], failures: 0 });
    for (let i = 0; i < opts.joins; i++) {
      for (const g of opts.gops) {
        for (const m of MODES) {
          const a = acc.get(key(g, m))!;
          const page = m === 'janus' ? jp : gw;
          try {
            const r = await page.join(
              m === 'janus'
                ? { mode: 'janus', stream: String(opts.gops.indexOf(g) + 1), clock: false, timeoutMs: 15_000 }
                : {
                    mode: 'gateway',
                    stream: camId(g, m),
                    token,
                    clock: false,
                    timeoutMs: 15_000,
                    snapshot: `/api/streams/${camId(g, m)}/snapshot.jpg`,
                  },
            );
            a.live.push(round(r.liveMs, 0));
            a.picture.push(round(Math.min(r.pictureMs ?? r.liveMs, r.liveMs), 0));
          } catch (err) {
            a.failures++;
            progress(`picture ${m} gop ${g} s join ${i + 1} failed: ${(err as Error).message}`);
          }
          await page.leave();
          // Joins land at random phases of the GOP; ONVIF's forced IDRs are at most one per 500 ms.
          await sleep(600 + Math.floor(Math.random() * 900));
        }
      }
      progress(`picture: round ${i + 1}/${opts.joins}`);
    }
    const rows: PictureRow[] = [];
    for (const g of opts.gops)
      for (const m of MODES) {
        const a = acc.get(key(g, m))!;
        rows.push({
          gopSec: g,
          mode: m,
          joins: a.live.length,
          failures: a.failures,
          firstPicture: summarize(a.picture, 0),
          firstLive: summarize(a.live, 0),
        });
      }
    const snapshots: SnapshotCost[] = [];
    for (const g of opts.gops) snapshots.push(await snapshotCost(s, camId(g, 'gateway'), g, opts.snapshots, token));
    return {
      benchmark: 'picture',
      date: new Date().toISOString(),
      camera: '640x360 25 fps H.264 Constrained Baseline ~1 Mbps, live clock (x264), ignores RTCP PLI; packet relay',
      options: opts,
      rows,
      snapshots,
      machineBusyPct: await busy,
      targets: { firstPictureP50: '≤ 300 ms', firstLiveP50AtGop4WithOnvif: '≤ 500 ms' },
    };
  } finally {
    for (const p of pages) await p.close().catch(() => {});
    await browser?.close().catch(() => {});
    await janus?.stop().catch(() => {});
    await stack?.gateway.close().catch(() => {});
    await sim?.stop().catch(() => {});
  }
}

async function snapshotCost(s: Stack, id: string, gopSec: number, n: number, token: string): Promise<SnapshotCost> {
  progress(`picture: ${n} snapshots of ${id} (cache misses), then ${n} hits`);
  const url = `${s.base}/api/streams/${id}/snapshot.jpg`;
  const get = async () => {
    const t0 = performance.now();
    const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    const body = await r.arrayBuffer();
    if (r.status !== 200 || body.byteLength === 0) throw new Error(`snapshot: ${r.status}`);
    return performance.now() - t0;
  };
  const cacheMs = s.config.snapshots.cacheMs;
  const v = s.gateway.streams.get(id, 'main');
  const miss: number[] = [];
  const hit: number[] = [];
  let frames = 0;
  const decoders = () => s.gateway.snapshots.decoderPids.reduce((n, pid) => n + cpuSeconds(pid), 0);
  await get(); // the decoders run before the window
  const dec0 = decoders();
  const self0 = cpuSeconds(process.pid);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await sleep(cacheMs + 50 + Math.floor(Math.random() * 200)); // past the short cache, at a random GOP phase
    frames += v.keyframes?.gop()?.frames ?? 0;
    miss.push(await get());
  }
  const decoderCpu = decoders() - dec0;
  const selfCpu = cpuSeconds(process.pid) - self0;
  // The same window without snapshots: the gateway's relay of every camera, to subtract.
  const windowMs = performance.now() - t0;
  const idle0 = cpuSeconds(process.pid);
  await sleep(windowMs);
  const idleCpu = cpuSeconds(process.pid) - idle0;
  for (let i = 0; i < n; i++) hit.push(await get());
  return {
    gopSec,
    miss: summarize(miss, 1),
    hit: summarize(hit, 1),
    decoderCpuMs: round((decoderCpu * 1000) / n, 1),
    // The gateway process (and this client) beyond the same window without snapshots.
    gatewayCpuMs: round((Math.max(0, selfCpu - idleCpu) * 1000) / n, 1),
    framesPerDecode: round(frames / n, 0),
  };
}

export function pictureRows(r: PictureResult): Row[] {
  return r.rows.map((x) => ({
    GOP: `${x.gopSec} s`,
    mode: x.mode,
    joins: x.joins,
    failures: x.failures,
    'first picture p50 ms': x.firstPicture.p50,
    'first picture p95 ms': x.firstPicture.p95,
    'first live p50 ms': x.firstLive.p50,
    'first live p95 ms': x.firstLive.p95,
  }));
}

export function snapshotRows(r: PictureResult): Row[] {
  return r.snapshots.map((x) => ({
    GOP: `${x.gopSec} s`,
    'miss p50 ms': x.miss.p50,
    'miss p95 ms': x.miss.p95,
    'hit p50 ms': x.hit.p50,
    'hit p95 ms': x.hit.p95,
    'frames decoded (mean)': x.framesPerDecode,
    'decoder CPU ms/snapshot': x.decoderCpuMs,
    'gateway CPU ms/snapshot': x.gatewayCpuMs,
  }));
}

if (isMain(import.meta.url)) {
  const result = await runPicture(pictureOptionsFromEnv());
  process.stdout.write(textTable(pictureRows(result)));
  process.stdout.write(textTable(snapshotRows(result)));
  writeResult('picture', result);
  process.exit(0);
}
