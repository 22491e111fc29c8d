// Cold (on-demand) start on a long GOP, in headless Chromium: from the consume request to the first
// decoded frame handed to the compositor (requestVideoFrameCallback), as ttff.ts measures "cold".
// The camera is a live clock camera (x264, 640x360 25 fps, GOP 100 frames = 4 s); every join starts
// its ingest from idle (idle timeout 1 s, waited for). Modes:
//   relay           ingest: packet; the camera honours keyframe requests (PLI → IDR at the next frame)
//   ffmpeg          ingest: ffmpeg; the camera honours keyframe requests
//   ffmpeg-ignored  ingest: ffmpeg; the camera ignores them (keyframeOnRequest: false): what every
//                   FFmpeg cold start cost before the gateway asked for a keyframe, and what a camera
//                   that ignores PLI still costs
//   relay-ignored   ingest: packet; the camera ignores them
// Joins are placed at fixed phases of the camera's GOP (spread evenly over the 4 s, in a shuffled
// order), measured from the last IDR its encoder sent: an always-on relay of each of the two encoders
// (honouring, ignoring) watches their keyframes (mediasoup's producer trace). Modes run round-robin.
// Run: npm run bench:coldstart   (BENCH_COLDSTART_JOINS=12 BENCH_COLDSTART_MODES=relay,ffmpeg,...)
import type { Browser } from 'playwright-core';
import type { Stack } from '../tests/support/stack.js';
import { startStack, waitFor } from '../tests/support/stack.js';
import { launchChromium, ViewerPage } from './lib/browserViewer.js';
import { machineBusy, startCpuWindow } from './lib/proc.js';
import {
  envNumber,
  isMain,
  LOAD_TESTS_DIR,
  median,
  progress,
  type Row,
  round,
  type Summary,
  sleep,
  summarize,
  textTable,
  writeResult,
} from './lib/report.js';
import { type ColdMarks as TtffColdMarks, watchColdStart } from './ttff.js';

export type ColdstartMode = 'relay' | 'ffmpeg' | 'ffmpeg-ignored' | 'relay-ignored';
const ALL_MODES: ColdstartMode[] = ['relay', 'ffmpeg', 'ffmpeg-ignored', 'relay-ignored'];

const MODE: Record<ColdstartMode, { ingest: 'packet' | 'ffmpeg'; keyframeOnRequest: boolean }> = {
  relay: { ingest: 'packet', keyframeOnRequest: true },
  ffmpeg: { ingest: 'ffmpeg', keyframeOnRequest: true },
  'ffmpeg-ignored': { ingest: 'ffmpeg', keyframeOnRequest: false },
  'relay-ignored': { ingest: 'packet', keyframeOnRequest: false },
};

const FPS = 25;
const GOP = 100;
const GOP_MS = (GOP / FPS) * 1000;
const CAMERA = { clock: true, width: 640, height: 360, fps: FPS, gop: GOP } as const;
/** The always-on camera on each encoder whose keyframes give the GOP phase (not measured). */
const phaseCamera = (honours: boolean) => (honours ? 'cs-phase' : 'cs-phase-ignored');
/**
 * A join's request comes at least this long after an IDR another camera of its encoder forced: the
 * simulated encoder forces at most one IDR per 500 ms, so an earlier join of another mode would
 * otherwise swallow this join's first keyframe request.
 */
const FORCED_GAP_MS = 700;

export interface ColdstartOptions {
  joins: number;
  modes: ColdstartMode[];
  idleTimeoutSec: number;
}

/** What one join saw, in ms after its consume request (null: not seen). */
export interface ColdstartJoin {
  /** Time from the encoder's last IDR (seen at the gateway) to the consume request. */
  phaseMs: number | null;
  /** Time from the last IDR any camera of the encoder forced (null: none yet) to the consume request. */
  sinceForcedMs: number | null;
  /** Consume request to the first frame at requestVideoFrameCallback: the headline. */
  ttffMs: number;
  /** Same, to the frame's presentationTime. */
  presentedMs: number;
  /** Connect + auth + transport before the request (not in ttffMs). */
  setupMs: number;
  ffmpegSpawned: number | null;
  /** The camera built its media for the session (its DESCRIBE). */
  rtspDescribe: number | null;
  /** The first keyframe request (RTCP PLI) the camera got. */
  firstKeyframeRequest: number | null;
  /** The first one the camera's encoder honoured with an IDR. */
  firstForcedKeyframe: number | null;
  /** Keyframe requests the camera got during the join, and how many forced an IDR. */
  keyframeRequests: number;
  forced: number;
  /** Each keyframe request the camera got (ms after the consume request), and the honoured ones. */
  requestsMs: number[];
  forcedMs: number[];
  /** The stream's producer counted its first bytes. */
  firstRtpAtGateway: number | null;
  /** The producer's first keyframe (mediasoup saw SPS/IDR). */
  firstKeyframeAtGateway: number | null;
}

type StepKey =
  | 'ffmpegSpawned'
  | 'rtspDescribe'
  | 'firstKeyframeRequest'
  | 'firstForcedKeyframe'
  | 'firstRtpAtGateway'
  | 'firstKeyframeAtGateway'
  | 'ttffMs';
const STEP_KEYS: StepKey[] = [
  'ffmpegSpawned',
  'rtspDescribe',
  'firstKeyframeRequest',
  'firstForcedKeyframe',
  'firstRtpAtGateway',
  'firstKeyframeAtGateway',
  'ttffMs',
];

export interface ColdstartModeResult {
  mode: ColdstartMode;
  ingest: 'packet' | 'ffmpeg';
  keyframeOnRequest: boolean;
  joins: number;
  failures: number;
  /** Consume request to first frame (ms); p50 is nearest-rank, medianMs the usual median. */
  ttff: Summary;
  medianMs: number | null;
  ttffPresented: Summary;
  /** From the start of the join (connect, auth, transport included) to first frame. */
  fromJoin: Summary;
  /** The first join of the mode: it also described the camera and made the producers (not in ttff). */
  firstJoinMs: number | null;
  firstJoin: ColdstartJoin | null;
  /** Medians of each step, ms after the consume request. */
  steps: Record<StepKey, number | null>;
  keyframeRequestsPerJoin: number | null;
  forcedPerJoin: number | null;
  samples: ColdstartJoin[];
}

export interface ColdstartResult {
  benchmark: 'coldstart';
  date: string;
  camera: string;
  options: ColdstartOptions;
  modes: ColdstartModeResult[];
  /** Ratios of medians (null when a mode was not run). */
  ratios: { ffmpegIgnoredOverFfmpeg: number | null; relayIgnoredOverRelay: number | null };
  /** Whole machine, % of one core: for 2 s before the stack started; the first second of joins (as ttff); all joins. */
  machineBusyBeforePct: number;
  machineBusyPct: number;
  machineBusyDuringPct: number;
}

export function coldstartOptionsFromEnv(): ColdstartOptions {
  const modes = (process.env['BENCH_COLDSTART_MODES'] ?? ALL_MODES.join(','))
    .split(',')
    .filter((m): m is ColdstartMode => (ALL_MODES as string[]).includes(m));
  return {
    joins: envNumber('BENCH_COLDSTART_JOINS', 12),
    modes: modes.length ? modes : ALL_MODES,
    idleTimeoutSec: envNumber('BENCH_COLDSTART_IDLE_SEC', 1),
  };
}

type Variant = ReturnType<Stack['gateway']['streams']['get']>;

/** Keyframes (IDRs) a variant's video producer receives, in Node's performance.now(); one per frame. */
class KeyframeLog {
  readonly times: number[] = [];
  #traced = new WeakSet<object>();

  /** Starts tracing the variant's current video producer (again after it was remade). */
  async follow(sv: Variant): Promise<void> {
    const p = sv.producers.find((x) => x.kind === 'video');
    if (!p || this.#traced.has(p)) return;
    this.#traced.add(p);
    // One trace per keyframe packet: packets less than a frame apart are the same keyframe.
    p.on('trace', (t) => {
      if (t.type !== 'keyframe') return;
      const now = performance.now();
      const last = this.times.at(-1);
      if (last === undefined || now - last > 1000 / FPS / 2) this.times.push(now);
    });
    await p.enableTraceEvent(['keyframe']);
  }

  /** The last keyframe at or before `t`. */
  lastBefore(t: number): number | undefined {
    for (let i = this.times.length - 1; i >= 0; i--) if ((this.times[i] as number) <= t) return this.times[i];
    return undefined;
  }

  firstAfter(t: number): number | undefined {
    return this.times.find((x) => x >= t);
  }
}

/** Seeded shuffle (xorshift), so every run places the same phases in the same order. */
function shuffled<T>(v: readonly T[], seed: number): T[] {
  let s = seed | 0 || 1;
  const rand = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const out = [...v];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export async function runColdstart(opts: ColdstartOptions): Promise<ColdstartResult> {
  let stack: Stack | undefined;
  let browser: Browser | undefined;
  let page: ViewerPage | undefined;
  try {
    const machineBusyBeforePct = await machineBusy(2000);
    progress('coldstart: starting simulator and gateway');
    stack = await startStack({
      cameras: [
        ...opts.modes.map((m) => ({
          id: `cs-${m}`,
          ...CAMERA,
          keyframeOnRequest: MODE[m].keyframeOnRequest,
          ingest: MODE[m].ingest,
        })),
        // Same settings, so the same encoder as the measured cameras of each kind.
        { id: phaseCamera(true), ...CAMERA, keyframeOnRequest: true, alwaysOn: true, ingest: 'packet' as const },
        { id: phaseCamera(false), ...CAMERA, keyframeOnRequest: false, alwaysOn: true, ingest: 'packet' as const },
      ],
      config: {
        log: { level: 'warn' },
        ingest: { idleTimeoutSec: opts.idleTimeoutSec },
        // No health check's DESCRIBE in the middle of a join.
        health: { checkIntervalSec: 3600 },
      },
    });
    const s = stack;
    const variant = (id: string) => s.gateway.streams.get(id, 'main');
    // BENCH_DEBUG=1: every keyframe request any camera gets, as it comes.
    if (process.env['BENCH_DEBUG']) {
      s.sim.onEvent((e) => {
        if (e.event === 'keyframe-request') progress(`keyframe request ${e.id} forced ${String(e['forced'])}`);
      });
    }
    // When each encoder (honouring, ignoring) last forced an IDR, whichever of its cameras asked.
    const honoursOf = new Map<string, boolean>([
      ...opts.modes.map((m) => [`cs-${m}`, MODE[m].keyframeOnRequest] as const),
      [phaseCamera(true), true],
      [phaseCamera(false), false],
    ]);
    const lastForced = new Map<boolean, number>();
    s.sim.onEvent((e) => {
      const honours = honoursOf.get(String(e.id));
      if (e.event === 'keyframe-request' && e['forced'] === true && honours !== undefined) {
        lastForced.set(honours, performance.now());
      }
    });
    const phaseLogs = new Map<boolean, KeyframeLog>();
    for (const honours of [true, false]) {
      const sv = variant(phaseCamera(honours));
      await waitFor(`${phaseCamera(honours)} live`, () => sv.state === 'live' && sv.producers.length > 0, 30_000);
      const log = new KeyframeLog();
      await log.follow(sv);
      phaseLogs.set(honours, log);
    }
    // A keyframe of each encoder, so every join has a phase to aim at.
    await waitFor('a keyframe of each encoder', () => [...phaseLogs.values()].every((l) => l.times.length > 0), 15_000);
    browser = await launchChromium();
    page = await ViewerPage.open(browser, s.base);
    const p = page;
    const token = s.token();

    const acc = new Map<ColdstartMode, { joins: ColdstartJoin[]; failures: number; first: ColdstartJoin | null }>();
    const gatewayLogs = new Map<ColdstartMode, KeyframeLog>();
    for (const m of opts.modes) {
      acc.set(m, { joins: [], failures: 0, first: null });
      gatewayLogs.set(m, new KeyframeLog());
    }
    // Phases spread evenly over the GOP, each mode in its own shuffled order.
    const phases = new Map<ColdstartMode, number[]>(
      opts.modes.map((m, k) => [
        m,
        shuffled(
          Array.from({ length: opts.joins }, (_, i) => ((i + 0.5) * GOP_MS) / opts.joins),
          0x9e3779b9 + k,
        ),
      ]),
    );

    const cold = async (mode: ColdstartMode, targetPhase: number | undefined): Promise<ColdstartJoin> => {
      const id = `cs-${mode}`;
      const sv = variant(id);
      // On-demand start from idle: no ingest left from the previous join.
      await waitFor(`${id} idle`, () => !sv.ingestRunning && sv.state === 'idle', 20_000, 50);
      const honours = MODE[mode].keyframeOnRequest;
      const phaseLog = phaseLogs.get(honours) as KeyframeLog;
      const setupGuess = median(acc.get(mode)?.joins.map((j) => j.setupMs) ?? []) ?? 40;
      const now = performance.now();
      const forcedBy = (lastForced.get(honours) ?? Number.NEGATIVE_INFINITY) + FORCED_GAP_MS;
      if (targetPhase !== undefined) {
        // The next request time at that phase of the encoder's GOP (from its last IDR, GOP_MS apart).
        const last = phaseLog.lastBefore(now) ?? now;
        let at = last + targetPhase;
        while (at - setupGuess < now + 20 || at < forcedBy) at += GOP_MS;
        await sleep(at - setupGuess - now);
      } else if (forcedBy - setupGuess > now) {
        await sleep(forcedBy - setupGuess - now);
      }
      const gwLog = gatewayLogs.get(mode) as KeyframeLog;
      const probe = watchColdSteps(s, sv, id, gwLog);
      const forcedBefore = lastForced.get(honours);
      const t0 = performance.now();
      try {
        const r = await p.join({ mode: 'gateway', stream: id, token, clock: false, timeoutMs: 20_000 });
        // Node's clock and the page's differ by an offset: align on the page's request time.
        const requestAt = t0 + r.setupMs;
        const marks = probe.stop();
        const since = (t: number | undefined) => (t === undefined ? null : round(t - requestAt, 0));
        const lastIdr = phaseLog.lastBefore(requestAt);
        const forced = marks.requests.filter((q) => q.forced);
        return {
          phaseMs: lastIdr === undefined ? null : round(requestAt - lastIdr, 0),
          sinceForcedMs: forcedBefore === undefined ? null : round(requestAt - forcedBefore, 0),
          ttffMs: round(r.ttffMs, 0),
          presentedMs: round(r.ttffPresentedMs, 0),
          setupMs: round(r.setupMs, 0),
          ffmpegSpawned: since(marks.ffmpeg),
          rtspDescribe: since(marks.mediaUp),
          firstKeyframeRequest: since(marks.requests[0]?.at),
          firstForcedKeyframe: since(forced[0]?.at),
          keyframeRequests: marks.requests.length,
          forced: forced.length,
          requestsMs: marks.requests.map((q) => round(q.at - requestAt, 0)),
          forcedMs: forced.map((q) => round(q.at - requestAt, 0)),
          firstRtpAtGateway: since(marks.firstRtp),
          firstKeyframeAtGateway: since(gwLog.firstAfter(requestAt)),
        };
      } catch (err) {
        probe.stop();
        throw err;
      } finally {
        await p.leave();
      }
    };

    // The first join of each mode also describes the camera and makes the producers: apart.
    for (const mode of opts.modes) {
      const a = acc.get(mode)!;
      try {
        const j = await cold(mode, undefined);
        a.first = j;
        progress(`coldstart: first join ${mode}: ${j.ttffMs} ms`);
      } catch (err) {
        progress(`coldstart: first join ${mode} failed: ${(err as Error).message}`);
      }
    }
    const busy = machineBusy(1000);
    const cpuWindow = startCpuWindow({});
    // Round-robin, so machine load falls on every mode alike.
    for (let i = 0; i < opts.joins; i++) {
      for (const mode of opts.modes) {
        const a = acc.get(mode)!;
        try {
          a.joins.push(await cold(mode, phases.get(mode)?.[i]));
        } catch (err) {
          a.failures++;
          progress(`coldstart ${mode} join ${i + 1} failed: ${(err as Error).message}`);
        }
      }
      progress(
        `coldstart: round ${i + 1}/${opts.joins}: ${opts.modes
          .map((m) => {
            const j = acc.get(m)?.joins.at(-1);
            return `${m} ${j ? `${j.ttffMs} ms (phase ${j.phaseMs ?? '–'})` : '–'}`;
          })
          .join(', ')}`,
      );
    }
    const machineBusyDuringPct = cpuWindow.stop().machinePct;

    const modes: ColdstartModeResult[] = opts.modes.map((mode) => {
      const a = acc.get(mode)!;
      const ttff = a.joins.map((j) => j.ttffMs);
      const steps = Object.fromEntries(STEP_KEYS.map((k) => [k, median(a.joins.map((j) => j[k]))])) as Record<
        StepKey,
        number | null
      >;
      return {
        mode,
        ingest: MODE[mode].ingest,
        keyframeOnRequest: MODE[mode].keyframeOnRequest,
        joins: a.joins.length,
        failures: a.failures,
        ttff: summarize(ttff, 0),
        medianMs: median(ttff),
        ttffPresented: summarize(
          a.joins.map((j) => j.presentedMs),
          0,
        ),
        fromJoin: summarize(
          a.joins.map((j) => j.setupMs + j.ttffMs),
          0,
        ),
        firstJoinMs: a.first?.ttffMs ?? null,
        firstJoin: a.first,
        steps,
        keyframeRequestsPerJoin: median(a.joins.map((j) => j.keyframeRequests)),
        forcedPerJoin: median(a.joins.map((j) => j.forced)),
        samples: a.joins,
      };
    });
    const med = (m: ColdstartMode) => modes.find((x) => x.mode === m)?.medianMs ?? null;
    const ratio = (a: ColdstartMode, b: ColdstartMode) => {
      const x = med(a);
      const y = med(b);
      return x === null || y === null || y === 0 ? null : round(x / y, 2);
    };
    return {
      benchmark: 'coldstart',
      date: new Date().toISOString(),
      camera:
        'clock camera (live x264 ultrafast zerolatency) 640x360 25 fps H.264 Constrained Baseline, 1 Mbps, GOP 100 frames (4 s)',
      options: opts,
      modes,
      ratios: {
        ffmpegIgnoredOverFfmpeg: ratio('ffmpeg-ignored', 'ffmpeg'),
        relayIgnoredOverRelay: ratio('relay-ignored', 'relay'),
      },
      machineBusyBeforePct,
      machineBusyPct: await busy,
      machineBusyDuringPct,
    };
  } finally {
    await page?.close();
    await browser?.close().catch(() => {});
    await stack?.close().catch(() => {});
  }
}

interface ColdMarks extends TtffColdMarks {
  requests: { at: number; forced: boolean }[];
}

/** ttff's step marks, plus the keyframe requests the camera got and the producers' keyframes. */
function watchColdSteps(s: Stack, sv: Variant, camera: string, keyframes: KeyframeLog): { stop: () => ColdMarks } {
  const marks: ColdMarks = { requests: [] };
  return watchColdStart(s, sv, camera, marks, {
    onEvent: (e) => {
      if (e.event === 'keyframe-request') marks.requests.push({ at: performance.now(), forced: e['forced'] === true });
    },
    // The producers stay over idle: trace them from the first join on.
    poll: () => keyframes.follow(sv),
  });
}

export function coldstartRows(r: ColdstartResult): Row[] {
  return r.modes.map((m) => ({
    mode: m.mode,
    ingest: m.ingest,
    'camera keyframe on PLI': m.keyframeOnRequest ? 'yes' : 'ignored',
    joins: m.joins,
    failures: m.failures,
    'p50 ms': m.ttff.p50,
    'p95 ms': m.ttff.p95,
    'min ms': m.ttff.min,
    'max ms': m.ttff.max,
    'median ms': m.medianMs,
    'first join ms': m.firstJoinMs,
  }));
}

export function coldstartStepsText(m: ColdstartModeResult): string {
  const v = (k: StepKey) => m.steps[k] ?? '–';
  return (
    `${m.mode}: FFmpeg spawned ${v('ffmpegSpawned')}, DESCRIBE at the camera ${v('rtspDescribe')}, ` +
    `first PLI at the camera ${v('firstKeyframeRequest')} (honoured ${v('firstForcedKeyframe')}), ` +
    `first RTP at the gateway ${v('firstRtpAtGateway')}, first keyframe at the gateway ${v('firstKeyframeAtGateway')}, ` +
    `first frame ${v('ttffMs')}; PLIs per join ${m.keyframeRequestsPerJoin ?? '–'}, honoured ${m.forcedPerJoin ?? '–'}`
  );
}

if (isMain(import.meta.url)) {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const result = await runColdstart(coldstartOptionsFromEnv());
  process.stdout.write(textTable(coldstartRows(result)));
  console.log(
    `medians (ms, consume request to first frame): ${result.modes.map((m) => `${m.mode} ${m.medianMs ?? '–'}`).join(', ')}`,
  );
  console.log(
    `ratio of medians: ffmpeg-ignored/ffmpeg ${result.ratios.ffmpegIgnoredOverFfmpeg ?? '–'}, ` +
      `relay-ignored/relay ${result.ratios.relayIgnoredOverRelay ?? '–'}`,
  );
  console.log('steps, medians in ms after the consume request:');
  for (const m of result.modes) console.log(`  ${coldstartStepsText(m)}`);
  console.log(
    `machine busy (% of one core): ${result.machineBusyBeforePct} before, ${result.machineBusyPct} first second, ` +
      `${result.machineBusyDuringPct} over the joins`,
  );
  writeResult('coldstart', result);
  // Also kept with the committed results, as heal and soak are: results/<date>-coldstart.json.
  const dir = path.join(LOAD_TESTS_DIR, 'results');
  const file = path.join(dir, `${result.date.slice(0, 10)}-coldstart.json`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`results: ${path.relative(process.cwd(), file)}`);
  process.exit(0);
}
