// Soak: always-on cameras (packet relay and FFmpeg) and churning viewers (headless Chromium phone views
// and werift peers, opened and closed every few seconds in a load-generator process of their own) for
// BENCH_SOAK_MINUTES. Every BENCH_SOAK_SAMPLE_SEC it samples the gateway's Node process (RSS, heap,
// external memory, fds, event-loop lag), each mediasoup worker (RSS, fds), the child processes and the
// gateway's transports and consumers. The churn runs in rounds; after each one every viewer is closed
// and the gateway must return to its baseline (no viewer transport or consumer, in its counters and in
// the workers' own dumps). The report is the slope of each memory series after the warm-up.
// Run: npm run bench:soak   (BENCH_SOAK_MINUTES=60 BENCH_SOAK_CAMERAS=8 BENCH_SOAK_PAGES=3
//   BENCH_SOAK_WERIFT=6 BENCH_SOAK_HOLD_SEC=5 BENCH_SOAK_ROUND_SEC=60 BENCH_SOAK_SAMPLE_SEC=10
//   BENCH_SOAK_WARMUP_PCT=10 BENCH_SOAK_HEAP_SNAPSHOTS=1 to write two heap snapshots for a diff)
import { type ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { type Stack, startStack, waitFor } from '../tests/support/stack.js';
import { census } from '../tests/support/workerCensus.js';
import { benchCamera } from './lib/camera.js';
import type { ChurnCommand, KindStats, RoundStats } from './lib/churnProcess.js';
import { type CpuWindow, descendants, startCpuWindow } from './lib/proc.js';
import {
  envNumber,
  isMain,
  LOAD_TESTS_DIR,
  OUT_DIR,
  percentile,
  progress,
  type Row,
  round,
  sleep,
  textTable,
  withTimeout,
  writeResult,
} from './lib/report.js';

export interface SoakOptions {
  minutes: number;
  cameras: number;
  /** Concurrent Chromium pages and werift peers while churning. */
  pages: number;
  werift: number;
  holdSec: number;
  roundSec: number;
  sampleSec: number;
  /** Share of the run left out of the slopes (start-up, first allocations, JIT). */
  warmupPct: number;
  heapSnapshots: boolean;
}

export interface SoakSample {
  /** Seconds since the cameras were live. */
  t: number;
  node: { rssKiB: number; heapUsedKiB: number; heapTotalKiB: number; externalKiB: number; fds: number };
  workers: { index: number; pid: number | null; rssKiB: number; fds: number }[];
  /** Descendants of the gateway's process by kind (the load generator's Chromium under `load`). */
  children: Record<ChildKind, number>;
  /** Event-loop delay over the interval, ms. */
  lag: { p50: number; p99: number; max: number };
  /** Percent of one core over the interval, per group, and the machine's other work; null for the first. */
  cpu: Record<string, number> | null;
  gateway: { transports: number; consumers: number; connections: number; routerTransports: number };
}

type ChildKind = 'workers' | 'ffmpeg' | 'simulator' | 'load' | 'other';

export interface QuietPoint {
  round: number;
  t: number;
  atBaseline: boolean;
  /** All viewers closed → counters at baseline (or the timeout, 15 s). */
  ms: number;
  transports: number;
  consumers: number;
  connections: number;
  webRtcTransports: number;
  viewerConsumers: number;
  /** Streams piped to another worker's router (kept for the next viewer; at most cameras × (workers − 1)). */
  pipeProducers: number;
}

export interface Fit {
  /** Per minute, in the series' unit (KiB for memory). */
  slope: number;
  /** Half-width of a 95 % interval (samples are autocorrelated: take it as optimistic). */
  ci95: number;
  r2: number;
  n: number;
}

export interface SoakSeries {
  what: string;
  unit: 'KiB' | 'count' | 'ms';
  first: number;
  last: number;
  max: number;
  /** Over the samples after the warm-up. */
  fit: Fit | null;
}

export type ChurnSummary = Omit<KindStats, 'playMs'> & { playP50Ms: number | null; playMaxMs: number | null };

export interface SoakResult {
  benchmark: 'soak';
  date: string;
  camera: string;
  options: SoakOptions;
  durationMinutes: number;
  warmupEndSec: number;
  samples: SoakSample[];
  series: SoakSeries[];
  eventLoop: { p99Ms: number; maxMs: number; worstIntervalP99Ms: number; worstIntervalAtSec: number };
  maxFds: { node: number; workers: number };
  maxChildren: Record<ChildKind | 'total', number>;
  /** Names of the children that are no worker, FFmpeg, simulator or load generator. */
  otherChildren: string[];
  workerRestarts: number;
  streamRestarts: number;
  baseline: Omit<QuietPoint, 'round' | 't' | 'atBaseline' | 'ms'>;
  quietPoints: QuietPoint[];
  /** Quiet points where everything was back to baseline, of all. */
  backToBaseline: string;
  churn: Record<'browser' | 'werift', ChurnSummary>;
  /** Warnings and errors the gateway logged, by message. */
  logs: Record<string, number>;
  /** Mean over the run, percent of one core. */
  cpu: { groups: Record<string, number>; otherPct: number; cores: number };
  heapSnapshots: string[];
}

/** A count from the environment that may be 0 (envNumber only takes positive numbers). */
const envCount = (name: string, def: number) => {
  const v = Number(process.env[name] ?? def);
  return Number.isInteger(v) && v >= 0 ? v : def;
};

export function soakOptionsFromEnv(): SoakOptions {
  return {
    minutes: envNumber('BENCH_SOAK_MINUTES', 60),
    cameras: envNumber('BENCH_SOAK_CAMERAS', 8),
    pages: envCount('BENCH_SOAK_PAGES', 3),
    werift: envCount('BENCH_SOAK_WERIFT', 6),
    holdSec: envNumber('BENCH_SOAK_HOLD_SEC', 5),
    roundSec: envNumber('BENCH_SOAK_ROUND_SEC', 60),
    sampleSec: envNumber('BENCH_SOAK_SAMPLE_SEC', 10),
    warmupPct: envCount('BENCH_SOAK_WARMUP_PCT', 10),
    heapSnapshots: process.env['BENCH_SOAK_HEAP_SNAPSHOTS'] === '1',
  };
}

const CAMERA = benchCamera('soak');
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const LAG_RESOLUTION_MS = 10;
/** A delay histogram's value (ns) as lag in ms: Node records the whole timer period, resolution included. */
const lagMs = (ns: number) => round(Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS), 1);

/** A line of /proc/<pid>/status in kB (VmRSS, ...); 0 when the process is gone. */
function statusKiB(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function fdCount(pid: number): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** Parent pid from /proc/<pid>/stat; 0 when the process is gone. */
function parentOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Least-squares line through (x, y); slope in y per unit of x. */
export function linearFit(xs: readonly number[], ys: readonly number[]): Fit | null {
  const n = xs.length;
  if (n < 3) return null;
  const mx = sum([...xs]) / n;
  const my = sum([...ys]) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] as number) - mx;
    const dy = (ys[i] as number) - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  if (sxx === 0) return null;
  const slope = sxy / sxx;
  const ssRes = Math.max(0, syy - slope * sxy);
  return {
    slope: round(slope, 1),
    ci95: round(1.96 * Math.sqrt(ssRes / (n - 2) / sxx), 1),
    r2: syy === 0 ? 1 : round(1 - ssRes / syy, 3),
    n,
  };
}

/** Time-weighted mean of CPU windows. */
function meanCpu(ws: readonly CpuWindow[]): SoakResult['cpu'] {
  const secs = sum(ws.map((w) => w.seconds)) || 1;
  const mean = (get: (w: CpuWindow) => number) => round(sum(ws.map((w) => get(w) * w.seconds)) / secs, 1);
  const names = Object.keys(ws[0]?.groups ?? {});
  return {
    groups: Object.fromEntries(names.map((k) => [k, mean((w) => w.groups[k] ?? 0)])),
    otherPct: mean((w) => w.otherPct),
    cores: ws[0]?.cores ?? 0,
  };
}

/** Sends one command to the churn process and waits for its reply. */
function call<T>(child: ChildProcess, msg: ChurnCommand): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = () => {
      child.off('message', onMessage);
      reject(new Error('the churn process exited'));
    };
    const onMessage = (m: { ok: boolean; data?: unknown; error?: string }) => {
      child.off('exit', onExit);
      if (m.ok) resolve(m.data as T);
      else reject(new Error(m.error));
    };
    child.once('message', onMessage);
    child.once('exit', onExit);
    child.send(msg);
  });
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  let stack: Stack | undefined;
  let churn: ChildProcess | undefined;
  let timer: NodeJS.Timeout | undefined;
  const lagInterval = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  const lagAll = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  try {
    const cams = Array.from({ length: opts.cameras }, (_, i) => ({
      id: `soak-${i + 1}`,
      ingest: i % 2 === 0 ? ('packet' as const) : ('ffmpeg' as const),
    }));
    progress(`soak: starting ${cams.length} always-on cameras (half packet relay, half FFmpeg) and the gateway`);
    stack = await startStack({
      cameras: cams.map((c) => ({ id: c.id, ...CAMERA, ingest: c.ingest, alwaysOn: true })),
      config: { log: { level: 'warn' } },
    });
    const s = stack;
    const slots = s.gateway.pool.workers;
    const variants = cams.map((c) => s.gateway.streams.get(c.id, 'main'));
    await waitFor('cameras live', () => variants.every((v) => v.state === 'live'), 60_000);
    const simPid = s.sim.pid;

    const logs: Record<string, number> = {};
    // The harness keeps every log record in memory: tally and drop them, or they would be the leak.
    const drainLogs = () => {
      for (const r of s.logs.splice(0)) {
        const key = typeof r['err'] === 'string' ? `${r.msg}: ${r['err']}` : r.msg;
        if (r.level >= 40) logs[key] = (logs[key] ?? 0) + 1;
      }
    };
    const counters = () => ({
      transports: sum(slots.map((w) => w.transports)),
      consumers: sum(slots.map((w) => w.consumers)),
      connections: s.gateway.signaling.connections,
    });
    const workerTruth = async () => {
      const c = await census(slots);
      return {
        webRtcTransports: sum(c.map((x) => x.webRtcTransports)),
        viewerConsumers: sum(c.map((x) => x.viewerConsumers)),
        pipeProducers: sum(c.map((x) => x.pipeProducers.length)),
      };
    };
    const baseline = { ...counters(), ...(await workerTruth()) };

    const otherNames = new Set<string>();
    /** The simulator or load generator `pid` descends from (walking up its parents), if either. */
    const subtree = (pid: number): 'simulator' | 'load' | undefined => {
      for (let p = pid; p > 1 && p !== process.pid; p = parentOf(p)) {
        if (p === simPid) return 'simulator';
        if (p === churn?.pid) return 'load';
      }
      return undefined;
    };
    const children = (): Record<ChildKind, number> => {
      const out: Record<ChildKind, number> = { workers: 0, ffmpeg: 0, simulator: 0, load: 0, other: 0 };
      for (const pid of descendants(process.pid)) {
        const name = comm(pid);
        const tree = subtree(pid);
        if (!name) continue; // gone meanwhile
        if (tree) out[tree]++;
        else if (name.startsWith('mediasoup-worke')) out.workers++;
        else if (name === 'ffmpeg') out.ffmpeg++;
        else {
          out.other++;
          otherNames.add(name);
        }
      }
      return out;
    };

    const cpuGroups = {
      node: () => [process.pid],
      workers: () => slots.flatMap((w) => (w.pid ? [w.pid] : [])),
      ffmpeg: () => variants.flatMap((v) => (v.ffmpegPid ? [v.ffmpegPid] : [])),
      simulator: () => (simPid ? [simPid, ...descendants(simPid)] : []),
      load: () => (churn?.pid ? [churn.pid, ...descendants(churn.pid)] : []),
    };
    // A window per interval: a window only sees the processes alive at its start or its end.
    let cpuWindow = startCpuWindow(cpuGroups);
    const cpuWindows: CpuWindow[] = [];
    const samples: SoakSample[] = [];
    const t0 = performance.now();
    const endAt = t0 + opts.minutes * 60_000;
    const elapsed = () => (performance.now() - t0) / 1000;
    const sample = () => {
      drainLogs();
      const m = process.memoryUsage();
      const cpu = cpuWindow.stop();
      cpuWindow = startCpuWindow(cpuGroups);
      if (samples.length > 0) cpuWindows.push(cpu);
      samples.push({
        t: round(elapsed(), 1),
        node: {
          rssKiB: Math.round(m.rss / 1024),
          heapUsedKiB: Math.round(m.heapUsed / 1024),
          heapTotalKiB: Math.round(m.heapTotal / 1024),
          externalKiB: Math.round(m.external / 1024),
          fds: fdCount(process.pid),
        },
        workers: slots.map((w) => ({
          index: w.index,
          pid: w.pid ?? null,
          rssKiB: w.pid ? statusKiB(w.pid, 'VmRSS') : 0,
          fds: w.pid ? fdCount(w.pid) : 0,
        })),
        children: children(),
        lag: {
          p50: lagMs(lagInterval.percentile(50)),
          p99: lagMs(lagInterval.percentile(99)),
          max: lagMs(lagInterval.max),
        },
        cpu: samples.length > 0 ? { ...cpu.groups, others: cpu.otherPct } : null,
        gateway: {
          ...counters(),
          routerTransports: sum(slots.map((w) => (w.serving ? w.router.transportsForTesting.size : 0))),
        },
      });
      lagInterval.reset();
    };

    lagInterval.enable();
    lagAll.enable();
    sample();
    timer = setInterval(sample, opts.sampleSec * 1000);

    churn = fork(path.join(LOAD_TESTS_DIR, 'lib', 'churnProcess.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const child = churn;
    const warmupEndSec = (opts.minutes * 60 * opts.warmupPct) / 100;
    const totals: Record<'browser' | 'werift', KindStats> = {
      browser: { opened: 0, played: 0, failed: 0, playMs: [], errors: [] },
      werift: { opened: 0, played: 0, failed: 0, playMs: [], errors: [] },
    };
    const quietPoints: QuietPoint[] = [];
    const snapshots: string[] = [];
    const snapshot = (name: string) => {
      fs.mkdirSync(OUT_DIR, { recursive: true });
      const file = path.join(OUT_DIR, `soak-${name}.heapsnapshot`);
      progress(`soak: writing ${path.relative(process.cwd(), file)}`);
      snapshots.push(v8.writeHeapSnapshot(file));
    };
    // 20 s per round are kept for the quiet point, so the run ends on time.
    for (let n = 1; endAt - performance.now() > 25_000; n++) {
      const seconds = Math.min(opts.roundSec, Math.round((endAt - performance.now()) / 1000) - 20);
      const stats = await withTimeout(
        call<RoundStats>(child, {
          cmd: 'round',
          base: s.base,
          token: s.token(['*'], 3600),
          streams: cams.map((c) => c.id),
          seconds,
          pages: opts.pages,
          werift: opts.werift,
          holdSec: opts.holdSec,
        }),
        (seconds + 90) * 1000,
        `churn round ${n}`,
      );
      for (const k of ['browser', 'werift'] as const) {
        const a = totals[k];
        const b = stats[k];
        a.opened += b.opened;
        a.played += b.played;
        a.failed += b.failed;
        a.playMs.push(...b.playMs);
        for (const e of b.errors) if (a.errors.length < 10) a.errors.push(e);
      }
      const q0 = performance.now();
      let q: QuietPoint;
      for (;;) {
        const ms = Math.round(performance.now() - q0);
        const now = { ...counters(), ...(await workerTruth()) };
        const atBaseline =
          now.transports === baseline.transports &&
          now.consumers === baseline.consumers &&
          now.connections === baseline.connections &&
          now.webRtcTransports === baseline.webRtcTransports &&
          now.viewerConsumers === baseline.viewerConsumers;
        q = { round: n, t: round(elapsed(), 1), atBaseline, ms, ...now };
        if (atBaseline || ms > 15_000) break;
        await sleep(200);
      }
      quietPoints.push(q);
      progress(
        `soak: round ${n} (${Math.round(elapsed())}/${opts.minutes * 60} s): pages ${stats.browser.played}/${stats.browser.opened}, ` +
          `werift ${stats.werift.played}/${stats.werift.opened} played; ` +
          `${q.atBaseline ? `back to baseline in ${q.ms} ms` : `NOT at baseline: ${JSON.stringify(q)}`}; ` +
          `node RSS ${Math.round((samples.at(-1)?.node.rssKiB ?? 0) / 1024)} MiB`,
      );
      const warmSnapshot = opts.heapSnapshots && snapshots.length === 0 && elapsed() >= warmupEndSec;
      if (warmSnapshot) snapshot('warm');
    }
    clearInterval(timer);
    timer = undefined;
    sample();
    if (opts.heapSnapshots) snapshot('end');
    await withTimeout(call(child, { cmd: 'stop' }), 15_000, 'stopping the churn process').catch(() => {});

    const after = samples.filter((x) => x.t >= warmupEndSec);
    const minutes = after.map((x) => x.t / 60);
    const series = (what: string, unit: SoakSeries['unit'], get: (x: SoakSample) => number): SoakSeries => {
      const ys = samples.map(get);
      return {
        what,
        unit,
        first: ys[0] ?? 0,
        last: ys.at(-1) ?? 0,
        max: Math.max(...ys),
        fit: linearFit(minutes, after.map(get)),
      };
    };
    const worst = samples.reduce((a, b) => (b.lag.p99 > a.lag.p99 ? b : a));
    const kids = samples.map((x) => x.children);
    const summary = (k: KindStats): ChurnSummary => ({
      opened: k.opened,
      played: k.played,
      failed: k.failed,
      errors: k.errors,
      playP50Ms: percentile(k.playMs, 50),
      playMaxMs: k.playMs.length ? Math.max(...k.playMs) : null,
    });
    return {
      benchmark: 'soak',
      date: new Date().toISOString(),
      camera: `${opts.cameras} always-on cameras, 640x360 25 fps H.264 Constrained Baseline 1 Mbps, half packet relay, half FFmpeg copy`,
      options: opts,
      durationMinutes: round(elapsed() / 60, 1),
      warmupEndSec,
      samples,
      series: [
        series('node RSS', 'KiB', (x) => x.node.rssKiB),
        series('node heap used', 'KiB', (x) => x.node.heapUsedKiB),
        series('node heap total', 'KiB', (x) => x.node.heapTotalKiB),
        series('node external', 'KiB', (x) => x.node.externalKiB),
        ...slots.map((w) => series(`worker ${w.index} RSS`, 'KiB', (x) => x.workers[w.index]?.rssKiB ?? 0)),
        series('node fds', 'count', (x) => x.node.fds),
        ...slots.map((w) => series(`worker ${w.index} fds`, 'count', (x) => x.workers[w.index]?.fds ?? 0)),
        series('gateway child processes', 'count', (x) => x.children.workers + x.children.ffmpeg + x.children.other),
        series('event-loop lag p99 per interval', 'ms', (x) => x.lag.p99),
      ],
      eventLoop: {
        p99Ms: lagMs(lagAll.percentile(99)),
        maxMs: lagMs(lagAll.max),
        worstIntervalP99Ms: worst.lag.p99,
        worstIntervalAtSec: worst.t,
      },
      maxFds: {
        node: Math.max(...samples.map((x) => x.node.fds)),
        workers: Math.max(...samples.flatMap((x) => x.workers.map((w) => w.fds))),
      },
      maxChildren: {
        workers: Math.max(...kids.map((c) => c.workers)),
        ffmpeg: Math.max(...kids.map((c) => c.ffmpeg)),
        simulator: Math.max(...kids.map((c) => c.simulator)),
        load: Math.max(...kids.map((c) => c.load)),
        other: Math.max(...kids.map((c) => c.other)),
        total: Math.max(...kids.map((c) => sum(Object.values(c)))),
      },
      otherChildren: [...otherNames],
      workerRestarts: sum(slots.map((w) => w.restarts)),
      streamRestarts: sum(variants.map((v) => v.restarts)),
      baseline,
      quietPoints,
      backToBaseline: `${quietPoints.filter((q) => q.atBaseline).length}/${quietPoints.length}`,
      churn: { browser: summary(totals.browser), werift: summary(totals.werift) },
      logs,
      cpu: meanCpu(cpuWindows),
      heapSnapshots: snapshots.map((f) => path.relative(process.cwd(), f)),
    };
  } finally {
    if (timer) clearInterval(timer);
    lagInterval.disable();
    lagAll.disable();
    // Wait for the load generator (and so its Chromium) to be gone before the gateway goes.
    const c = churn;
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      if (c.connected) c.disconnect();
      await withTimeout(exited, 10_000, 'the churn process to exit').catch(() => c.kill('SIGKILL'));
    }
    await stack?.close().catch(() => {});
  }
}

export function soakRows(r: SoakResult): Row[] {
  return r.series.map((x) => {
    // Memory in MiB, its slope in KiB/min (a leak shows at that scale); counts and ms as they are.
    const v = (n: number) => (x.unit === 'KiB' ? round(n / 1024, 1) : n);
    return {
      series: x.what,
      unit: x.unit === 'KiB' ? 'MiB, slope KiB/min' : x.unit === 'ms' ? 'ms, slope ms/min' : 'count, slope /min',
      first: v(x.first),
      last: v(x.last),
      max: v(x.max),
      'slope after warm-up': x.fit?.slope,
      '±95 %': x.fit?.ci95,
      'r²': x.fit?.r2,
      n: x.fit?.n,
    };
  });
}

if (isMain(import.meta.url)) {
  const result = await runSoak(soakOptionsFromEnv());
  process.stdout.write(textTable(soakRows(result)));
  const c = result.churn;
  const e = result.eventLoop;
  console.log(
    `${result.durationMinutes} min, slopes over t ≥ ${result.warmupEndSec} s; ` +
      `event-loop lag p99 ${e.p99Ms} ms, max ${e.maxMs} ms, worst interval p99 ${e.worstIntervalP99Ms} ms (t=${e.worstIntervalAtSec} s); ` +
      `max fds node ${result.maxFds.node}, worker ${result.maxFds.workers}; max children ${JSON.stringify(result.maxChildren)} (other: ${result.otherChildren.join(', ') || '–'})\n` +
      `churn: pages ${c.browser.played}/${c.browser.opened} played (p50 ${c.browser.playP50Ms} ms to playing), ` +
      `werift ${c.werift.played}/${c.werift.opened} (p50 ${c.werift.playP50Ms} ms to first RTP); ` +
      `back to baseline after ${result.backToBaseline} rounds; worker restarts ${result.workerRestarts}, ` +
      `stream restarts ${result.streamRestarts}; gateway warnings ${JSON.stringify(result.logs)}\n` +
      `CPU, % of one core: ${JSON.stringify(result.cpu.groups)}, others on the machine ${result.cpu.otherPct}`,
  );
  writeResult('soak', result);
  process.exit(0);
}
