// CPU and memory of N always-on cameras (default 107, one per kelurahan) fed through the packet-level
// RTSP relay (`ingest: packet`, in the gateway's Node thread) and through FFmpeg `-c copy` (one
// process per camera), measured one after the other with /proc accounting, no viewers.
// Run: bash scripts/env.sh bash scripts/netns.sh npx tsx load-tests/packet-vs-ffmpeg-cpu.ts
// Env: BENCH_CAMERAS (107), BENCH_SECONDS (30), BENCH_KBPS (1000), BENCH_SIZE (640x360), BENCH_PATHS (packet,ffmpeg),
// BENCH_BATCH (0 = all cameras always-on, started at once as the gateway does; N = start them N at
// a time, 2 s apart, through acquire(), when the machine cannot take the start-up storm).
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startStack, waitFor } from '../tests/support/stack.js';
import { measureCpu, printTable, rssMiB } from './cpu.js';

const CAMERAS = Number(process.env['BENCH_CAMERAS'] ?? 107);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 30);
const KBPS = Number(process.env['BENCH_KBPS'] ?? 1000);
const [WIDTH, HEIGHT] = (process.env['BENCH_SIZE'] ?? '640x360').split('x').map(Number) as [number, number];
const PATHS = (process.env['BENCH_PATHS'] ?? 'packet,ffmpeg').split(',') as ('packet' | 'ffmpeg')[];
const BATCH = Number(process.env['BENCH_BATCH'] ?? 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Proportional set size: shared pages (libraries) split among the processes that map them. */
function pssMiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

// gateway/src/ingest/probe.ts parses ffprobe's JSON inside execFile's callback: an empty answer
// (seen when 107 ffprobes start at once on 2 cores) throws there, uncaught. Count it, keep measuring.
let uncaught = 0;
process.on('uncaughtException', (err) => {
  uncaught++;
  console.error(`[bench] uncaught (a probe crash would end a real gateway): ${err.message}`);
});

const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const rows: Record<string, string | number>[] = [];

for (const ingest of PATHS) {
  const startedAt = Date.now();
  const stack = await startStack({
    cameras: Array.from({ length: CAMERAS }, (_, i) => ({
      id: `kel-${String(i + 1).padStart(3, '0')}`,
      profile: 'main' as const,
      width: WIDTH,
      height: HEIGHT,
      fps: 25,
      gop: 25,
      bitrateKbps: KBPS,
      label: 'bench-cpu', // one clip for all
      alwaysOn: BATCH === 0,
      ingest,
    })),
    config: { log: { level: 'warn' } },
  });
  const variants = stack.gateway.streams.variants();
  const states = () => {
    const n: Record<string, number> = {};
    for (const v of variants) n[v.state] = (n[v.state] ?? 0) + 1;
    return JSON.stringify(n);
  };
  if (BATCH > 0) {
    for (let i = 0; i < variants.length; i += BATCH) {
      // Held, never released: as good as always-on. A hung probe must not hang the batch.
      const batch = variants.slice(i, i + BATCH).map((v) => v.acquire().catch(() => undefined));
      await Promise.race([Promise.all(batch), sleep(20_000)]);
      await sleep(2000);
    }
  }
  const progress = setInterval(() => console.error(`[${ingest}] ${states()}`), 10_000);
  let problems = '';
  try {
    await waitFor(`${CAMERAS} cameras live (${ingest})`, () => variants.every((v) => v.state === 'live'), 180_000, 500);
  } catch {
    // Measure what runs, and say what does not.
    problems = [...new Set(variants.map((v) => v.lastError).filter(Boolean))].slice(0, 3).join(' | ');
    console.error(`[${ingest}] not all live: ${states()}; ${problems}`);
  } finally {
    clearInterval(progress);
  }
  const liveAfterMs = Date.now() - startedAt;
  await sleep(5000); // settle
  const ffmpegPids = () => variants.map((v) => v.ffmpegPid).filter((p): p is number => p !== undefined);
  const workerPids = () => stack.gateway.pool.workers.map((w) => w.worker.pid);
  const packets0 = variants.reduce((n, v) => n + v.ingestStats.packetCount, 0);
  const elu0 = performance.eventLoopUtilization();
  const cpu = await measureCpu(
    {
      gateway_node: () => [process.pid],
      mediasoup_workers: workerPids,
      ffmpeg: ffmpegPids,
      simulator: () => (stack.sim.pid ? [stack.sim.pid] : []),
    },
    SECONDS * 1000,
  );
  const elu = performance.eventLoopUtilization(elu0);
  // Producer packet counters refresh every second: this is close to, not exactly, the window.
  const packets = variants.reduce((n, v) => n + v.ingestStats.packetCount, 0) - packets0;
  const restarts = variants.reduce((n, v) => n + v.restarts, 0);
  const node = cpu['gateway_node'] ?? 0;
  const workers = cpu['mediasoup_workers'] ?? 0;
  const ff = cpu['ffmpeg'] ?? 0;
  rows.push({
    ingest,
    cameras: CAMERAS,
    live: variants.filter((v) => v.state === 'live').length,
    'packets/s': Math.round(packets / SECONDS),
    'ingest total %core': Math.round((node + workers + ff) * 10) / 10,
    'node %': node,
    'node ELU %': Math.round(elu.utilization * 1000) / 10,
    'workers %': workers,
    'ffmpeg %': ff,
    'simulator %': cpu['simulator'] ?? 0,
    'node RSS MiB': Math.round(rssMiB(process.pid)),
    'workers RSS MiB': Math.round(workerPids().reduce((n, p) => n + rssMiB(p), 0)),
    'ffmpeg RSS MiB': Math.round(ffmpegPids().reduce((n, p) => n + rssMiB(p), 0)),
    'ffmpeg PSS MiB': Math.round(ffmpegPids().reduce((n, p) => n + pssMiB(p), 0)),
    processes: 1 + workerPids().length + ffmpegPids().length,
    restarts,
    'all live after s': Math.round(liveAfterMs / 100) / 10,
    start: BATCH ? `${BATCH} at a time` : 'all at once',
    loadavg: loadavg(),
    ...(problems ? { problems } : {}),
    ...(uncaught ? { uncaughtExceptions: uncaught } : {}),
  });
  printTable(rows.slice(-1));
  await stack.close();
  await sleep(3000);
}

printTable(rows);
const out = {
  benchmark: 'packet-vs-ffmpeg-cpu',
  date: new Date().toISOString(),
  camera: `${WIDTH}x${HEIGHT} 25 fps H.264 Main, ${KBPS} kbps, GOP 25, RTSP/TCP, always on, no viewers`,
  start: BATCH ? `${BATCH} cameras at a time, 2 s apart` : 'all at once (alwaysOn)',
  seconds: SECONDS,
  cores: (await import('node:os')).cpus().length,
  note: 'node = the gateway process (the packet relay runs on its main thread); ELU = that thread busy share',
  rows,
};
console.log(JSON.stringify(out));
const dir = path.join(import.meta.dirname, 'out');
fs.mkdirSync(dir, { recursive: true });
fs.writeFileSync(path.join(dir, 'packet-vs-ffmpeg-cpu.json'), `${JSON.stringify(out, null, 2)}\n`);
