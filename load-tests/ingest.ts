// Ingest at city scale: 107 always-on simulated cameras (one per kelurahan; H.264 High 1280x720 25 fps
// 2 Mbps, GOP 25; one shared clip so the simulator encodes once), no viewers, pulled once through each
// ingest path in the same run: the packet-level RTSP relay (`ingest: packet`, inside the gateway's Node
// process) and FFmpeg `-c copy` (`ingest: ffmpeg`, a process per camera). CPU and memory of the gateway
// (Node + mediasoup workers) and of the FFmpeg processes, in total and per camera. Then the cost of one
// H.265 → H.264 transcode (same size and rate), next to one passthrough camera in the same window.
// Run: npm run bench:ingest
// `packet-nocache` is the packet relay with the keyframe cache (snapshots) off: beside `packet`, the
// cache's cost in CPU and memory.
//   (BENCH_INGEST_CAMERAS=107 BENCH_INGEST_SECONDS=20 BENCH_INGEST_PARTS=city,transcode
//    BENCH_INGEST_PATHS=packet,packet-nocache,ffmpeg)
import { performance } from 'node:perf_hooks';
import { type Stack, startStack, waitFor } from '../tests/support/stack.js';
import { type CpuWindow, cpuOver, pssMiB, round1, rssMiB } from './lib/proc.js';
import { envNumber, isMain, progress, type Row, round, textTable, writeResult } from './lib/report.js';

export type IngestPath = 'packet' | 'packet-nocache' | 'ffmpeg';

export interface IngestOptions {
  cameras: number;
  seconds: number;
  parts: ('city' | 'transcode')[];
  paths: IngestPath[];
}

export interface MemoryTotals {
  /** Sum of resident set sizes (shared pages counted once per process). */
  rssMiB: number;
  /** Sum of proportional set sizes (shared pages split): the honest total. */
  pssMiB: number;
}

export interface CityResult {
  ingest: IngestPath;
  cameras: number;
  live: number;
  startupSeconds: number;
  cpu: CpuWindow;
  /** Node + workers + FFmpeg, percent of one core. */
  gatewayPct: number;
  gatewayPctPerCamera: number;
  ffmpegPctPerCamera: number;
  memory: {
    node: MemoryTotals;
    workers: MemoryTotals;
    ffmpeg: MemoryTotals;
    totalPssMiB: number;
    perCameraPssMiB: number;
  };
  ingestMbps: number;
  simulatorPct: number;
  /** Share of time the gateway's Node event loop was busy (the packet relay runs on it), percent. */
  nodeEventLoopPct: number;
  restarts: number;
  /** The keyframe caches' memory at the end (MiB, all cameras), and per camera (KiB). */
  keyframeCacheMiB: number;
  keyframeCacheKiBPerCamera: number;
}

export interface TranscodeResult {
  /** One H.265 camera transcoded to H.264 Baseline (libx264 veryfast zerolatency), percent of one core. */
  transcodeFfmpegPct: number;
  /** One H.264 camera of the same size and rate passed through (-c copy), same window. */
  copyFfmpegPct: number;
  transcodeRssMiB: number;
  copyRssMiB: number;
  cpu: CpuWindow;
}

export interface IngestResult {
  benchmark: 'ingest';
  date: string;
  camera: string;
  options: IngestOptions;
  /** One entry per ingest path, measured one after the other. */
  cities?: CityResult[];
  transcode?: TranscodeResult;
  targets: Record<string, string>;
}

export function ingestOptionsFromEnv(): IngestOptions {
  return {
    cameras: envNumber('BENCH_INGEST_CAMERAS', 107),
    seconds: envNumber('BENCH_INGEST_SECONDS', 20),
    parts: (process.env['BENCH_INGEST_PARTS'] ?? 'city,transcode')
      .split(',')
      .filter((p): p is 'city' | 'transcode' => p === 'city' || p === 'transcode'),
    paths: (process.env['BENCH_INGEST_PATHS'] ?? 'packet,packet-nocache,ffmpeg')
      .split(',')
      .filter((p): p is IngestPath => p === 'packet' || p === 'packet-nocache' || p === 'ffmpeg'),
  };
}

const CAMERA = { width: 1280, height: 720, fps: 25, gop: 25, bitrateKbps: 2000 } as const;

const mem = (pids: number[]): MemoryTotals => ({
  rssMiB: Math.round(pids.reduce((n, p) => n + rssMiB(p), 0)),
  pssMiB: Math.round(pids.reduce((n, p) => n + pssMiB(p), 0)),
});

async function runCity(opts: IngestOptions, ingest: IngestPath): Promise<CityResult> {
  let stack: Stack | undefined;
  try {
    const ids = Array.from({ length: opts.cameras }, (_, i) => `kel-${String(i + 1).padStart(3, '0')}`);
    progress(`ingest: starting ${ids.length} always-on cameras (${ingest})`);
    const t0 = performance.now();
    // All at once, as the gateway starts always-on cameras.
    stack = await startStack({
      cameras: ids.map((id) => ({
        id,
        ...CAMERA,
        profile: 'high' as const,
        label: 'city',
        alwaysOn: true,
        ingest: ingest === 'ffmpeg' ? ('ffmpeg' as const) : ('packet' as const),
      })),
      config: {
        log: { level: 'warn' },
        ingest: { connectTimeoutSec: 30, ...(ingest === 'packet-nocache' ? { keyframeCacheKiB: 0 } : {}) },
      },
    });
    const s = stack;
    const variants = ids.map((id) => s.gateway.streams.get(id, 'main'));
    const liveCount = () => variants.filter((v) => v.state === 'live').length;
    await waitFor(`${ids.length} cameras live`, () => liveCount() === ids.length, 180_000, 250).catch(() => {
      progress(`ingest: only ${liveCount()}/${ids.length} live after 180 s; measuring what runs`);
    });
    const startupSeconds = round((performance.now() - t0) / 1000);
    progress(`ingest (${ingest}): ${liveCount()}/${ids.length} live after ${startupSeconds} s; settling 5 s`);
    await new Promise((r) => setTimeout(r, 5000));
    const ffmpegPids = () => variants.map((v) => v.ffmpegPid).filter((p): p is number => !!p);
    const workerPids = () => s.gateway.pool.workers.map((w) => w.worker.pid);
    const bytes0 = await producerBytes(s, ids);
    const elu0 = performance.eventLoopUtilization();
    const cpu = await cpuOver(
      {
        node: () => [process.pid],
        workers: workerPids,
        ffmpeg: ffmpegPids,
        simulator: () => (s.sim.pid ? [s.sim.pid] : []),
      },
      opts.seconds * 1000,
    );
    const elu = performance.eventLoopUtilization(elu0);
    const bytes1 = await producerBytes(s, ids);
    const node = mem([process.pid]);
    const workers = mem(workerPids());
    const ffmpeg = mem(ffmpegPids());
    const gatewayPct = round1((cpu.groups['node'] ?? 0) + (cpu.groups['workers'] ?? 0) + (cpu.groups['ffmpeg'] ?? 0));
    const n = ids.length;
    const cacheBytes = variants.reduce((sum, v) => sum + (v.keyframes?.capacity ?? 0), 0);
    const totalPss = node.pssMiB + workers.pssMiB + ffmpeg.pssMiB;
    return {
      ingest,
      cameras: n,
      live: liveCount(),
      startupSeconds,
      cpu,
      gatewayPct,
      gatewayPctPerCamera: round(gatewayPct / n, 3),
      ffmpegPctPerCamera: round((cpu.groups['ffmpeg'] ?? 0) / n, 3),
      memory: { node, workers, ffmpeg, totalPssMiB: totalPss, perCameraPssMiB: round(totalPss / n, 1) },
      ingestMbps: round(((bytes1 - bytes0) * 8) / cpu.seconds / 1e6, 1),
      simulatorPct: cpu.groups['simulator'] ?? 0,
      nodeEventLoopPct: round(elu.utilization * 100),
      restarts: variants.reduce((sum, v) => sum + v.restarts, 0),
      keyframeCacheMiB: round1(cacheBytes / 2 ** 20),
      keyframeCacheKiBPerCamera: Math.round(cacheBytes / 1024 / n),
    };
  } finally {
    await stack?.close().catch(() => {});
  }
}

async function producerBytes(s: Stack, ids: string[]): Promise<number> {
  let total = 0;
  for (const id of ids) {
    for (const p of s.gateway.streams.get(id, 'main').producers) {
      for (const st of await p.getStats().catch(() => [])) total += st.byteCount ?? 0;
    }
  }
  return total;
}

async function runTranscode(opts: IngestOptions): Promise<TranscodeResult> {
  let stack: Stack | undefined;
  try {
    progress('ingest: one H.265 camera (transcoded) and one H.264 camera (copied)');
    stack = await startStack({
      cameras: [
        { id: 'hevc', ...CAMERA, codec: 'h265', profile: 'main', label: 'transcode', alwaysOn: true },
        { id: 'avc', ...CAMERA, profile: 'high', label: 'transcode', alwaysOn: true },
      ],
      config: { log: { level: 'warn' } },
    });
    const s = stack;
    const hevc = s.gateway.streams.get('hevc', 'main');
    const avc = s.gateway.streams.get('avc', 'main');
    await waitFor('both cameras live', () => hevc.state === 'live' && avc.state === 'live', 60_000);
    await new Promise((r) => setTimeout(r, 3000));
    const cpu = await cpuOver(
      {
        transcode: () => (hevc.ffmpegPid ? [hevc.ffmpegPid] : []),
        copy: () => (avc.ffmpegPid ? [avc.ffmpegPid] : []),
      },
      opts.seconds * 1000,
    );
    return {
      transcodeFfmpegPct: cpu.groups['transcode'] ?? 0,
      copyFfmpegPct: cpu.groups['copy'] ?? 0,
      transcodeRssMiB: Math.round(rssMiB(hevc.ffmpegPid ?? 0)),
      copyRssMiB: Math.round(rssMiB(avc.ffmpegPid ?? 0)),
      cpu,
    };
  } finally {
    await stack?.close().catch(() => {});
  }
}

export async function runIngest(opts: IngestOptions): Promise<IngestResult> {
  const result: IngestResult = {
    benchmark: 'ingest',
    date: new Date().toISOString(),
    camera:
      '1280x720 25 fps, 2 Mbps, GOP 25; H.264 High passthrough (packet relay, FFmpeg -c copy); H.265 Main transcoded',
    options: opts,
    targets: { city: '≤ 50 % of one core and ≤ 4 GiB for 107 passthrough cameras' },
  };
  if (opts.parts.includes('city')) {
    result.cities = [];
    for (const path of opts.paths) result.cities.push(await runCity(opts, path));
  }
  if (opts.parts.includes('transcode')) result.transcode = await runTranscode(opts);
  return result;
}

const PATH_NAMES: Record<IngestPath, string> = {
  packet: 'packet relay',
  'packet-nocache': 'packet relay, no keyframe cache',
  ffmpeg: 'FFmpeg copy',
};

export function ingestRows(r: IngestResult): Row[] {
  const rows: Row[] = [];
  for (const c of r.cities ?? []) {
    rows.push({
      what: `${c.cameras} cameras, ${PATH_NAMES[c.ingest]} (${c.live} live)`,
      'gateway %core': c.gatewayPct,
      'node %': c.cpu.groups['node'],
      'workers %': c.cpu.groups['workers'],
      'ffmpeg %': c.cpu.groups['ffmpeg'],
      'node loop busy %': c.nodeEventLoopPct,
      '%/camera': c.gatewayPctPerCamera,
      'PSS MiB': c.memory.totalPssMiB,
      'RSS MiB': c.memory.node.rssMiB + c.memory.workers.rssMiB + c.memory.ffmpeg.rssMiB,
      'MiB/camera (PSS)': c.memory.perCameraPssMiB,
      'ingest Mbps': c.ingestMbps,
      'live after s': c.startupSeconds,
      restarts: c.restarts,
      'keyframe cache MiB': c.keyframeCacheMiB,
      'simulator %': c.simulatorPct,
      'others %': c.cpu.otherPct,
    });
  }
  const t = r.transcode;
  if (t) {
    rows.push({
      what: '1 camera H.265→H.264 transcode',
      'ffmpeg %': t.transcodeFfmpegPct,
      'RSS MiB': t.transcodeRssMiB,
      'others %': t.cpu.otherPct,
    });
    rows.push({ what: '1 camera H.264 copy (same window)', 'ffmpeg %': t.copyFfmpegPct, 'RSS MiB': t.copyRssMiB });
  }
  return rows;
}

if (isMain(import.meta.url)) {
  const result = await runIngest(ingestOptionsFromEnv());
  process.stdout.write(textTable(ingestRows(result)));
  writeResult('ingest', result);
  process.exit(0);
}
