// Fan-out: N werift viewers (real ICE + DTLS + SRTP receivers, in separate load-generator processes)
// on one stream, then spread over several streams, at growing N until loss passes 1 % or a core
// saturates; the same for Janus' streaming plugin on one stream. Gateway CPU (mediasoup workers +
// the gateway's Node process + FFmpeg) comes from /proc; loss from the viewers' sequence numbers and
// from mediasoup's consumer stats (receiver reports); scores from consumer.score.
// Run: npm run bench:fanout   (BENCH_FANOUT_LEVELS=50,100,200,300 BENCH_FANOUT_SECONDS=10
//                              BENCH_FANOUT_SCENARIOS=single,spread,janus BENCH_FANOUT_PROCS=2)
import type { types } from 'mediasoup';
import { type Stack, startStack, waitFor } from '../tests/support/stack.js';
import { benchCamera } from './lib/camera.js';
import { JanusServer } from './lib/JanusServer.js';
import { type CpuWindow, startCpuWindow, udpCounters } from './lib/proc.js';
import {
  envNumber,
  isMain,
  progress,
  type Row,
  round,
  sleep,
  summarize,
  textTable,
  writeResult,
} from './lib/report.js';
import { ViewerFleet } from './lib/ViewerFleet.js';
import type { ViewerTarget } from './lib/viewerProcess.js';

export type FanoutScenario = 'single' | 'spread' | 'janus';

export interface FanoutOptions {
  levels: number[];
  seconds: number;
  scenarios: FanoutScenario[];
  processes: number;
  spreadStreams: number;
  /** Stop climbing once loss passes this fraction. */
  maxLoss: number;
  /** ... or one process group or the whole machine passes this share of a core (of all cores). */
  saturation: number;
}

export interface FanoutLevel {
  scenario: FanoutScenario;
  viewers: number;
  connected: number;
  streams: number;
  /** Server under test (gateway: workers + node + ffmpeg; janus: janus), percent of one core. */
  serverPct: number;
  cpu: CpuWindow;
  egressMbps: number;
  /** (serverPct − serverPct at 0 viewers) / viewers. */
  pctPerViewer: number | null;
  pctPerMbps: number | null;
  /** Loss seen by the viewers (sequence gaps), percent. */
  viewerLossPct: number;
  /** Loss the receivers reported to mediasoup (RTCP RR), percent; gateway only. */
  rrLossPct: number | null;
  scoreMin: number | null;
  scoreMean: number | null;
  /**
   * UDP datagrams the kernel dropped in this network namespace because a receiving socket's buffer
   * was full (a reader fell behind: with werift viewers, the load generator) or a send buffer was.
   */
  udpRcvbufDrops: number;
  udpSndbufDrops: number;
  silentViewers: number;
  joinErrors: string[];
  firstRtpMs: { p50: number | null; p95: number | null };
}

export interface FanoutResult {
  benchmark: 'fanout';
  date: string;
  camera: string;
  options: FanoutOptions;
  levels: FanoutLevel[];
  /** Per scenario: why the climb stopped. */
  stoppedBy: Record<string, string>;
  /** Median-free summary: cost per viewer at the highest clean level of each scenario. */
  summary: Record<string, { viewers: number; pctPerViewer: number | null; pctPerMbps: number | null }>;
  /** Ours / Janus CPU per viewer on one stream, at the largest N both reached without loss. */
  janusRatio: number | null;
  janusRatioAt?: number | null;
  targets: Record<string, string>;
}

export function fanoutOptionsFromEnv(): FanoutOptions {
  const levels = (process.env['BENCH_FANOUT_LEVELS'] ?? '50,100,200,300')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const scenarios = (process.env['BENCH_FANOUT_SCENARIOS'] ?? 'single,spread,janus')
    .split(',')
    .filter((s): s is FanoutScenario => s === 'single' || s === 'spread' || s === 'janus');
  return {
    levels,
    seconds: envNumber('BENCH_FANOUT_SECONDS', 10),
    scenarios,
    processes: envNumber('BENCH_FANOUT_PROCS', 2),
    spreadStreams: envNumber('BENCH_FANOUT_STREAMS', 10),
    maxLoss: 0.01,
    saturation: envNumber('BENCH_FANOUT_SATURATION', 90),
  };
}

const CAMERA = benchCamera('fanout');

/** Every consumer (not pipe consumers) the gateway creates from now on, on any worker. */
function trackConsumers(stack: Stack): Set<types.Consumer> {
  const set = new Set<types.Consumer>();
  for (const w of stack.gateway.pool.workers) {
    w.router.observer.on('newtransport', (t: types.Transport) => {
      t.observer.on('newconsumer', (c: types.Consumer) => {
        if (c.type === 'pipe') return;
        set.add(c);
        c.observer.once('close', () => set.delete(c));
      });
    });
  }
  return set;
}

async function consumerTotals(
  consumers: Set<types.Consumer>,
): Promise<{ bytes: number; packets: number; lost: number; scores: number[] }> {
  let bytes = 0;
  let packets = 0;
  let lost = 0;
  const scores: number[] = [];
  await Promise.all(
    [...consumers].map(async (c) => {
      const stats = await c.getStats().catch(() => []);
      for (const s of stats) {
        if (s.type !== 'outbound-rtp') continue;
        bytes += s.byteCount ?? 0;
        packets += s.packetCount ?? 0;
        lost += s.packetsLost ?? 0;
      }
      scores.push(c.score.score);
    }),
  );
  return { bytes, packets, lost, scores };
}

export async function runFanout(opts: FanoutOptions): Promise<FanoutResult> {
  let stack: Stack | undefined;
  let janus: JanusServer | undefined;
  const fleet = ViewerFleet.start(opts.processes);
  const levels: FanoutLevel[] = [];
  const stoppedBy: Record<string, string> = {};
  try {
    const streams = Array.from({ length: opts.spreadStreams }, (_, i) => `fan-${i + 1}`);
    progress(`fanout: starting simulator and gateway (${streams.length} always-on cameras)`);
    stack = await startStack({
      cameras: [
        ...streams.map((id) => ({ id, ...CAMERA, alwaysOn: true })),
        ...(opts.scenarios.includes('janus') ? [{ id: 'fan-janus', ...CAMERA }] : []),
      ],
      config: { log: { level: 'warn' } },
    });
    const s = stack;
    const consumers = trackConsumers(s);
    await waitFor(
      'all fan-out cameras live',
      () => streams.every((id) => s.gateway.streams.get(id, 'main').state === 'live'),
      60_000,
    );
    if (opts.scenarios.includes('janus')) {
      janus = await JanusServer.start({ mountpoints: [{ id: 1, name: 'fan', url: s.sim.url('fan-janus') }] });
      await janus.waitLive();
    }
    const j = janus;
    // One group per process that can saturate a core on its own; summed per kind for the tables.
    const gatewayGroups: Record<string, () => number[]> = {
      node: () => [process.pid],
      ffmpeg: () => streams.map((id) => s.gateway.streams.get(id, 'main').ffmpegPid).filter((p): p is number => !!p),
      simulator: () => (s.sim.pid ? [s.sim.pid] : []),
      ...(j ? { janus: () => (j.pid ? [j.pid] : []) } : {}),
    };
    s.gateway.pool.workers.forEach((w, i) => {
      gatewayGroups[`worker${i}`] = () => [w.worker.pid];
    });
    fleet.pids.forEach((pid, i) => {
      gatewayGroups[`loadgen${i}`] = () => [pid];
    });
    const wsUrl = `ws://127.0.0.1:${s.gateway.port}/ws`;

    for (const scenario of opts.scenarios) {
      const target: ViewerTarget =
        scenario === 'janus'
          ? { kind: 'janus', base: `${j?.origin}/janus` }
          : { kind: 'gateway', wsUrl, token: s.token() };
      const streamOf = (i: number) =>
        scenario === 'janus' ? '1' : scenario === 'single' ? 'fan-1' : (streams[i % streams.length] as string);
      const serverPct = (cpu: CpuWindow) =>
        scenario === 'janus'
          ? (cpu.groups['janus'] ?? 0)
          : round((cpu.groups['node'] ?? 0) + sumOf(cpu, 'worker') + (cpu.groups['ffmpeg'] ?? 0));
      let base: number | null = null;
      let have = 0;
      for (const n of [0, ...opts.levels]) {
        let joinErrors: string[] = [];
        if (n > have) {
          progress(`fanout ${scenario}: adding ${n - have} viewers (to ${n})`);
          const added = await fleet.add(
            target,
            Array.from({ length: n - have }, (_, k) => streamOf(have + k)),
          );
          joinErrors = added.errors;
          have = n;
        }
        await sleep(3000); // joins settle: first keyframe, jitter buffers, RR
        await fleet.reset();
        const before = await consumerTotals(consumers);
        const udp0 = udpCounters();
        const win = startCpuWindow(gatewayGroups);
        await sleep(opts.seconds * 1000);
        const cpu = win.stop();
        const udp1 = udpCounters();
        const after = await consumerTotals(consumers);
        const vs = await fleet.stats();
        const srv = serverPct(cpu);
        if (n === 0) base = srv;
        const egressMbps =
          scenario === 'janus'
            ? round((vs.bytes * 8) / cpu.seconds / 1e6, 1) // payload bytes seen by the viewers
            : round(((after.bytes - before.bytes) * 8) / cpu.seconds / 1e6, 1);
        const dPackets = after.packets - before.packets;
        const level: FanoutLevel = {
          scenario,
          viewers: n,
          connected: vs.connected,
          streams: scenario === 'spread' ? Math.min(n, streams.length) : 1,
          serverPct: srv,
          cpu,
          egressMbps,
          pctPerViewer: n && base !== null ? round((srv - base) / n, 3) : null,
          pctPerMbps: n && base !== null && egressMbps > 0 ? round((srv - base) / egressMbps, 3) : null,
          viewerLossPct: vs.expected ? round((100 * vs.lost) / vs.expected, 2) : 0,
          rrLossPct:
            scenario === 'janus' || !dPackets
              ? null
              : round((100 * Math.max(0, after.lost - before.lost)) / dPackets, 2),
          scoreMin: scenario === 'janus' || !after.scores.length ? null : Math.min(...after.scores),
          scoreMean:
            scenario === 'janus' || !after.scores.length
              ? null
              : round(after.scores.reduce((a, b) => a + b, 0) / after.scores.length, 2),
          udpRcvbufDrops: udp1.rcvbufErrors - udp0.rcvbufErrors,
          udpSndbufDrops: udp1.sndbufErrors - udp0.sndbufErrors,
          silentViewers: n ? vs.silent : 0,
          joinErrors,
          firstRtpMs: (() => {
            const f = summarize(vs.firstRtpMs, 0);
            return { p50: f.p50, p95: f.p95 };
          })(),
        };
        levels.push(level);
        progress(
          `fanout ${scenario} N=${n}: server ${srv}% (${JSON.stringify(cpu.groups)}), egress ${egressMbps} Mbps, ` +
            `loss ${level.viewerLossPct}% / rr ${level.rrLossPct}% (rcvbuf drops ${level.udpRcvbufDrops}), ` +
            `score min ${level.scoreMin}, machine ${cpu.machinePct}%`,
        );
        // ffmpeg sums one process per camera; every other group is a single process.
        const hot = Object.entries(cpu.groups).find(([k, pct]) => k !== 'ffmpeg' && pct >= opts.saturation);
        const lossWhere =
          level.udpRcvbufDrops > 0 ? ` (load generator behind: ${level.udpRcvbufDrops} rcvbuf drops)` : '';
        const why =
          level.viewerLossPct > opts.maxLoss * 100
            ? `loss ${level.viewerLossPct}% at N=${n}${lossWhere}`
            : ours(cpu) >= opts.saturation * cpu.cores
              ? `our processes at ${ours(cpu)}% (of ${cpu.cores * 100}) at N=${n}`
              : hot
                ? `${hot[0]} at ${hot[1]}% at N=${n}`
                : level.silentViewers > 0 && n > 0
                  ? `${level.silentViewers} viewers received nothing at N=${n}`
                  : null;
        if (why) {
          stoppedBy[scenario] = why;
          break;
        }
      }
      stoppedBy[scenario] ??= `reached the last level (${have})`;
      await fleet.closeAll();
      await sleep(2000);
    }
  } finally {
    await fleet.stop().catch(() => {});
    await janus?.stop().catch(() => {});
    await stack?.close().catch(() => {});
  }
  return summarizeFanout(opts, levels, stoppedBy);
}

/** Everything the benchmark runs (servers, FFmpeg, simulator, load generators), percent of one core. */
function ours(cpu: CpuWindow): number {
  return round(Object.values(cpu.groups).reduce((a, b) => a + b, 0));
}

/** Sum of the groups named `<prefix><n>` (worker0, worker1, ...). */
export function sumOf(cpu: CpuWindow, prefix: string): number {
  return round(
    Object.entries(cpu.groups)
      .filter(([k]) => k.startsWith(prefix) && /^\d+$/.test(k.slice(prefix.length)))
      .reduce((n, [, v]) => n + v, 0),
  );
}

/** Ours / Janus CPU per viewer on one stream, at the largest N where both ran without loss. */
export function janusRatio(levels: FanoutLevel[], maxLoss = 0.01): { ratio: number | null; viewers: number | null } {
  const clean = (sc: FanoutScenario) =>
    levels.filter((l) => l.scenario === sc && l.viewers > 0 && l.viewerLossPct <= maxLoss * 100);
  const gs = clean('single');
  const js = clean('janus');
  const at = gs
    .map((l) => l.viewers)
    .filter((n) => js.some((x) => x.viewers === n))
    .pop();
  const g = gs.find((l) => l.viewers === at)?.pctPerViewer;
  const j = js.find((l) => l.viewers === at)?.pctPerViewer;
  return { ratio: g != null && j ? round(g / j, 2) : null, viewers: at ?? null };
}

function summarizeFanout(
  options: FanoutOptions,
  levels: FanoutLevel[],
  stoppedBy: Record<string, string>,
): FanoutResult {
  const summary: FanoutResult['summary'] = {};
  for (const sc of options.scenarios) {
    const mine = levels.filter((l) => l.scenario === sc && l.viewers > 0);
    const clean = mine.filter((l) => l.viewerLossPct <= options.maxLoss * 100);
    const top = clean[clean.length - 1] ?? mine[mine.length - 1];
    if (top) summary[sc] = { viewers: top.viewers, pctPerViewer: top.pctPerViewer, pctPerMbps: top.pctPerMbps };
  }
  const ratio = janusRatio(levels, options.maxLoss);
  return {
    benchmark: 'fanout',
    date: new Date().toISOString(),
    camera: '640x360 25 fps H.264 Constrained Baseline, ~1 Mbps, GOP 25; viewers: werift 0.24.4, no transport-cc',
    options,
    levels,
    stoppedBy,
    summary,
    janusRatio: ratio.ratio,
    janusRatioAt: ratio.viewers,
    targets: { gatewayPctPerMbpsViewer: '≤ 0.2 % of a core', oursOverJanus: '≤ 1.0' },
  };
}

export function fanoutRows(r: FanoutResult): Row[] {
  return r.levels.map((l) => ({
    scenario: l.scenario,
    viewers: l.viewers,
    streams: l.streams,
    'server %core': l.serverPct,
    workers: sumOf(l.cpu, 'worker'),
    node: l.cpu.groups['node'],
    ffmpeg: l.cpu.groups['ffmpeg'],
    janus: l.cpu.groups['janus'],
    'loadgen %': sumOf(l.cpu, 'loadgen'),
    'egress Mbps': l.egressMbps,
    '%/viewer': l.pctPerViewer,
    '%/Mbps': l.pctPerMbps,
    'loss %': l.viewerLossPct,
    'rr loss %': l.rrLossPct,
    'rcvbuf drops': l.udpRcvbufDrops,
    'score min': l.scoreMin,
    'others %': l.cpu.otherPct,
  }));
}

if (isMain(import.meta.url)) {
  const result = await runFanout(fanoutOptionsFromEnv());
  process.stdout.write(textTable(fanoutRows(result)));
  for (const [k, v] of Object.entries(result.stoppedBy)) console.log(`${k}: stopped by ${v}`);
  console.log(`ours/Janus CPU per viewer (one stream): ${result.janusRatio ?? '–'}`);
  writeResult('fanout', result);
  process.exit(0);
}
