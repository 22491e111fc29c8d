// Glass-to-glass delay: a live clock camera (the simulator draws Date.now() into each frame and
// encodes it at once: x264 zerolatency, Constrained Baseline, no B-frames, GOP 25, 25 fps, 1 Mbps)
// watched by headless Chromium, which reads the time back from every frame and compares it with its
// own clock (same machine, same clock). The paths, alternated run by run (order rotated each round):
//   floor    clock frames → RTP → mediasoup PlainTransport → WebRTC → Chromium (no RTSP, no relay)
//   gateway  clock frames → RTSP (TCP) → FFmpeg -c copy → mediasoup → WebRTC → Chromium
//   janus    clock frames → RTSP (UDP) → Janus streaming plugin → WebRTC → Chromium
//   relay    as gateway, with the camera's `ingest: packet` (the packet-level RTSP relay, RTSP over TCP)
//   relay-udp  the same relay pulling RTP over UDP, as Janus does (opt-in)
//   relay-low  the relay, watched with `latency: 'low'` (playout-delay 0: no smoothing delay)
// Run: npm run bench:delay   (BENCH_DELAY_ROUNDS=5 BENCH_DELAY_SECONDS=8 BENCH_DELAY_PATHS=floor,gateway,janus,relay)
import type { Browser } from 'playwright-core';
import { type Stack, startStack, waitFor } from '../tests/support/stack.js';
import { launchChromium, ViewerPage } from './lib/browserViewer.js';
import { FloorServer } from './lib/FloorServer.js';
import { JanusServer } from './lib/JanusServer.js';
import { machineBusy } from './lib/proc.js';
import {
  envNumber,
  isMain,
  median,
  medianDifference,
  progress,
  type Row,
  round,
  type Summary,
  sleep,
  summarize,
  textTable,
  writeResult,
} from './lib/report.js';
import type { ReceiverStats } from './web/clockViewer.js';

export type DelayPath = 'floor' | 'gateway' | 'janus' | 'relay' | 'relay-udp' | 'relay-low';
const ALL_PATHS: DelayPath[] = ['floor', 'gateway', 'janus', 'relay', 'relay-udp', 'relay-low'];

export interface DelayOptions {
  rounds: number;
  seconds: number;
  paths: DelayPath[];
  /** Seconds of each run dropped before sampling (jitter buffer settling). */
  warmupSeconds: number;
}

export interface DelayRun {
  round: number;
  path: DelayPath;
  /** Capture → presentation (requestVideoFrameCallback presentationTime): the headline number. */
  present: Summary;
  /** Capture → last packet of the frame received by the browser: the network and relay part. */
  receive: Summary;
  /** Capture → expected display time (next vsync of the headless compositor). */
  display: Summary;
  /** Capture → the page's requestVideoFrameCallback running for the frame (Date.now() in it). */
  callback?: Summary;
  frames: number;
  badDecodes: number;
  receiver: ReceiverStats | null;
  /** Whole machine CPU while sampling, percent of one core (2 cores = 200). */
  machineBusyPct: number;
}

export interface DelayPathResult {
  path: DelayPath;
  runs: number;
  /** Medians across runs of each run's percentiles. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  receiveP50: number | null;
  displayP50: number | null;
  callbackP50?: number | null;
  /** Receiver's average jitter buffer delay (median across runs). */
  /** RTP inter-arrival jitter seen by the browser (median across runs), ms. */
  jitterMs: number | null;
  jitterBufferMs: number | null;
  decodeMs: number | null;
  /** All samples of all runs together. */
  pooled: Summary;
}

export interface DelayResult {
  benchmark: 'delay';
  date: string;
  camera: string;
  options: DelayOptions;
  paths: DelayPathResult[];
  gatewayOverFloorP50Ms: number | null;
  /** The same at the browser's receive time: free of the compositor's vsync phase. */
  gatewayOverFloorReceiveP50Ms: number | null;
  gatewayOverJanusP50Ratio: number | null;
  /** Packet relay p50 minus the floor's (medians across runs). */
  relayOverFloorP50Ms: number | null;
  /** Packet relay p50 minus Janus' p50, with a 95 % bootstrap interval over the runs. */
  relayVsJanusP50: { diff: number; ci95: [number, number] } | null;
  /** The same two for the relay watched with latency 'low'. */
  relayLowOverFloorP50Ms?: number | null;
  relayLowVsJanusP50?: { diff: number; ci95: [number, number] } | null;
  runs: DelayRun[];
  targets: Record<string, string>;
}

export const CLOCK_CAMERA = { clock: true, width: 640, height: 360, fps: 25, gop: 25, bitrateKbps: 1000 } as const;

export function delayOptionsFromEnv(): DelayOptions {
  const paths = (process.env['BENCH_DELAY_PATHS'] ?? 'floor,gateway,janus,relay,relay-low')
    .split(',')
    .map((p) => p.trim())
    .filter((p): p is DelayPath => (ALL_PATHS as string[]).includes(p));
  return {
    // Each browser session has its own presentation offset (σ ≈ 3 ms here: render-time estimate and
    // compositor phase), far more than sampling noise within a run: many short runs beat a few long ones.
    rounds: envNumber('BENCH_DELAY_ROUNDS', 15),
    seconds: envNumber('BENCH_DELAY_SECONDS', 4),
    warmupSeconds: envNumber('BENCH_DELAY_WARMUP', 3),
    paths,
  };
}

/** What each path's viewer plays: the gateway's stream id (Janus: its mountpoint) and how it asks. */
const VIEW: Record<DelayPath, { stream: string; latency?: 'low' }> = {
  floor: { stream: 'clock' },
  gateway: { stream: 'clock' },
  janus: { stream: '1' },
  relay: { stream: 'clock-relay' },
  'relay-udp': { stream: 'clock-relay-udp' },
  'relay-low': { stream: 'clock-relay', latency: 'low' },
};

export async function runDelay(opts: DelayOptions): Promise<DelayResult> {
  let stack: Stack | undefined;
  let floor: FloorServer | undefined;
  let janus: JanusServer | undefined;
  let browser: Browser | undefined;
  try {
    progress('delay: starting simulator (clock camera) and gateway');
    // The packet relay is chosen per camera (`ingest: packet`); only asked for when measured.
    const relayCamera = { id: 'clock-relay', ...CLOCK_CAMERA, alwaysOn: true, ingest: 'packet' as const };
    const relayUdpCamera = { ...relayCamera, id: 'clock-relay-udp', rtspTransport: 'udp' as const };
    const relayCameras = [relayCamera, relayUdpCamera].filter((c) => opts.paths.some((p) => VIEW[p].stream === c.id));
    stack = await startStack({
      cameras: [
        { id: 'clock', ...CLOCK_CAMERA, alwaysOn: true },
        { id: 'clock-janus', ...CLOCK_CAMERA },
        ...relayCameras,
      ],
      config: { log: { level: 'warn' } },
    });
    const s = stack;
    const sv = s.gateway.streams.get('clock', 'main');
    if (opts.paths.includes('floor')) {
      floor = await FloorServer.create();
      await s.sim.startRtpPush('clock', floor.input);
    }
    if (opts.paths.includes('janus')) {
      progress('delay: starting Janus');
      janus = await JanusServer.start({ mountpoints: [{ id: 1, name: 'clock', url: s.sim.url('clock-janus') }] });
      await janus.waitLive();
    }
    await waitFor('gateway ingest of the clock camera', () => sv.state === 'live', 30_000);
    for (const { id } of relayCameras) {
      const relay = s.gateway.streams.get(id, 'main');
      await waitFor(`packet relay of ${id}`, () => relay.state === 'live', 30_000);
    }
    browser = await launchChromium();
    const token = s.token();

    const runs: DelayRun[] = [];
    const pooled = new Map<DelayPath, number[]>();
    for (let round = 1; round <= opts.rounds; round++) {
      // Rotate the order every round so that no path always follows the same one.
      const k = (round - 1) % opts.paths.length;
      for (const path of [...opts.paths.slice(k), ...opts.paths.slice(0, k)]) {
        const origin = path === 'floor' ? floor!.origin : path === 'janus' ? janus!.origin : s.base;
        const page = await ViewerPage.open(browser, origin);
        try {
          const mode = path === 'floor' || path === 'janus' ? path : 'gateway';
          await page.join({ mode, token, clock: true, ...VIEW[path] });
          await sleep(opts.warmupSeconds * 1000);
          await page.reset();
          const busy = machineBusy(opts.seconds * 1000);
          await sleep(opts.seconds * 1000);
          const samples = await page.take();
          const receiver = await page.receiverStats();
          const run: DelayRun = {
            round,
            path,
            present: summarize(samples.present),
            receive: summarize(samples.receive),
            display: summarize(samples.display),
            callback: summarize(samples.callback),
            frames: samples.frames,
            badDecodes: samples.badDecodes,
            receiver,
            machineBusyPct: await busy,
          };
          runs.push(run);
          pooled.set(path, [...(pooled.get(path) ?? []), ...samples.present]);
          progress(
            `delay: round ${round} ${path}: p50 ${run.present.p50} p95 ${run.present.p95} p99 ${run.present.p99} ms ` +
              `(receive p50 ${run.receive.p50}, n ${run.present.n}, bad ${run.badDecodes}, machine ${run.machineBusyPct}%)`,
          );
        } finally {
          await page.close();
        }
      }
    }
    return summarizeDelay(opts, runs, pooled);
  } finally {
    await browser?.close().catch(() => {});
    await janus?.stop().catch(() => {});
    if (floor) await stack?.sim.stopRtpPush('clock').catch(() => {});
    await floor?.close().catch(() => {});
    await stack?.close().catch(() => {});
  }
}

function summarizeDelay(options: DelayOptions, runs: DelayRun[], pooled: Map<DelayPath, number[]>): DelayResult {
  const paths: DelayPathResult[] = options.paths.map((path) => {
    const mine = runs.filter((r) => r.path === path);
    return {
      path,
      runs: mine.length,
      p50: median(mine.map((r) => r.present.p50)),
      p95: median(mine.map((r) => r.present.p95)),
      p99: median(mine.map((r) => r.present.p99)),
      receiveP50: median(mine.map((r) => r.receive.p50)),
      displayP50: median(mine.map((r) => r.display.p50)),
      callbackP50: median(mine.map((r) => r.callback?.p50)),
      jitterMs: median(mine.map((r) => r.receiver?.jitterMs)),
      jitterBufferMs: median(mine.map((r) => r.receiver?.jitterBufferMs)),
      decodeMs: median(mine.map((r) => r.receiver?.decodeMs)),
      pooled: summarize(pooled.get(path) ?? []),
    };
  });
  const p50 = (p: DelayPath) => paths.find((x) => x.path === p)?.p50 ?? null;
  const g = p50('gateway');
  const f = p50('floor');
  const j = p50('janus');
  const r = p50('relay');
  const rl = p50('relay-low');
  const runP50s = (path: DelayPath) =>
    runs.filter((x) => x.path === path && x.present.p50 !== null).map((x) => x.present.p50 as number);
  return {
    benchmark: 'delay',
    date: new Date().toISOString(),
    camera: '640x360 25 fps H.264 Constrained Baseline, 1 Mbps, GOP 25 (1 s), x264 ultrafast zerolatency, live clock',
    options,
    paths,
    gatewayOverFloorP50Ms: g !== null && f !== null ? round(g - f) : null,
    gatewayOverFloorReceiveP50Ms: (() => {
      const gr = paths.find((x) => x.path === 'gateway')?.receiveP50;
      const fr = paths.find((x) => x.path === 'floor')?.receiveP50;
      return gr != null && fr != null ? round(gr - fr) : null;
    })(),
    gatewayOverJanusP50Ratio: g !== null && j ? round(g / j, 2) : null,
    relayOverFloorP50Ms: r !== null && f !== null ? round(r - f) : null,
    relayVsJanusP50: medianDifference(runP50s('relay'), runP50s('janus')),
    relayLowOverFloorP50Ms: rl !== null && f !== null ? round(rl - f) : null,
    relayLowVsJanusP50: medianDifference(runP50s('relay-low'), runP50s('janus')),
    runs,
    targets: {
      p50: '≤ 60 ms',
      p95: '≤ 100 ms',
      gatewayOverFloorP50: '≤ 15 ms',
      oursOverJanus: '≤ 1.0',
      relayOverFloorP50: '≤ 10 ms',
      relayMinusJanusP50: '≤ 0 ms',
    },
  };
}

export function delayRows(r: DelayResult): Row[] {
  return r.paths.map((p) => ({
    path: p.path,
    runs: p.runs,
    'p50 ms': p.p50,
    'p95 ms': p.p95,
    'p99 ms': p.p99,
    'to receive p50': p.receiveP50,
    'to display p50': p.displayP50,
    'to callback p50': p.callbackP50 ?? null,
    'rx jitter ms': p.jitterMs,
    'jitter buf ms': p.jitterBufferMs,
    'decode ms': p.decodeMs,
    'machine busy %': median(r.runs.filter((x) => x.path === p.path).map((x) => x.machineBusyPct)),
  }));
}

if (isMain(import.meta.url)) {
  const result = await runDelay(delayOptionsFromEnv());
  process.stdout.write(textTable(delayRows(result)));
  console.log(
    `gateway − floor at p50: ${result.gatewayOverFloorP50Ms ?? '–'} ms (at receive: ${result.gatewayOverFloorReceiveP50Ms ?? '–'} ms); ` +
      `gateway / janus at p50: ${result.gatewayOverJanusP50Ratio ?? '–'}`,
  );
  const bars = (name: string, overFloor: number | null | undefined, vsJanus: DelayResult['relayVsJanusP50'] = null) =>
    console.log(
      `${name} − floor at p50: ${overFloor ?? '–'} ms; ${name} − janus at p50: ` +
        (vsJanus ? `${vsJanus.diff} ms (95% CI ${vsJanus.ci95[0]} … ${vsJanus.ci95[1]})` : '–'),
    );
  bars('relay', result.relayOverFloorP50Ms, result.relayVsJanusP50);
  bars('relay-low', result.relayLowOverFloorP50Ms, result.relayLowVsJanusP50);
  writeResult('delay', result);
  process.exit(0);
}
