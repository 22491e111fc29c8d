// Time to first frame in headless Chromium: from the consume request (gateway) or the watch request
// (Janus) to the first decoded frame handed to the compositor (requestVideoFrameCallback). Each join
// is a fresh viewer: new signalling connection, new WebRTC transport (ICE + DTLS inside the time).
//   warm  the camera's ingest is running (alwaysOn)
//   cold  on-demand: the ingest is stopped (idle timeout 1 s, waited for) and the join starts it
//   janus Janus' streaming plugin, whose RTSP pull always runs (a warm start)
//   cold-relay (opt-in) as cold, with the camera's `ingest: packet` (the packet-level RTSP relay)
// Cameras: 640x360 25 fps H.264 Baseline 1 Mbps, GOP 25 frames = 1 s; no keyframe on demand (FFmpeg's
// -c copy and the simulated camera ignore PLI), so a join waits for the camera's next IDR.
// Run: npm run bench:ttff   (BENCH_TTFF_JOINS=20 BENCH_TTFF_MODES=warm,cold,janus,cold-relay)
import type { Browser } from 'playwright-core';
import type { SimEvent } from '../gateway/src/sim/CameraSimulator.js';
import { type Stack, startStack, waitFor } from '../tests/support/stack.js';
import { launchChromium, ViewerPage } from './lib/browserViewer.js';
import { benchCamera } from './lib/camera.js';
import { JanusServer } from './lib/JanusServer.js';
import { machineBusy } from './lib/proc.js';
import {
  envNumber,
  isMain,
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

export type TtffMode = 'warm' | 'cold' | 'janus' | 'cold-relay';
const isCold = (m: TtffMode) => m === 'cold' || m === 'cold-relay';

export interface TtffOptions {
  joins: number;
  modes: TtffMode[];
  idleTimeoutSec: number;
}

export interface TtffModeResult {
  mode: TtffMode;
  joins: number;
  failures: number;
  /** Request to first frame at the callback (ms). */
  ttff: Summary;
  /** Same, to the frame's presentationTime. */
  ttffPresented: Summary;
  /** Connect + auth + transport before the request (not in ttff). */
  setup: Summary;
  /** cold only: the first join also described the camera and made the producer. */
  firstJoinMs?: number | null;
  /** cold only: medians (ms after the consume request) of each step of an on-demand start. */
  steps?: Record<keyof ColdSteps, number | null>;
  samples: number[];
}

export interface TtffResult {
  benchmark: 'ttff';
  date: string;
  camera: string;
  options: TtffOptions;
  modes: TtffModeResult[];
  machineBusyPct: number;
  targets: Record<string, string>;
}

export function ttffOptionsFromEnv(): TtffOptions {
  return {
    joins: envNumber('BENCH_TTFF_JOINS', 20),
    modes: (process.env['BENCH_TTFF_MODES'] ?? 'warm,cold,janus,cold-relay')
      .split(',')
      .filter((m): m is TtffMode => ['warm', 'cold', 'janus', 'cold-relay'].includes(m)),
    idleTimeoutSec: envNumber('BENCH_TTFF_IDLE_SEC', 1),
  };
}

const CAMERA = benchCamera('ttff');

export async function runTtff(opts: TtffOptions): Promise<TtffResult> {
  let stack: Stack | undefined;
  let janus: JanusServer | undefined;
  let browser: Browser | undefined;
  const pages = new Map<string, ViewerPage>();
  try {
    progress('ttff: starting simulator and gateway');
    stack = await startStack({
      cameras: [
        { id: 'ttff-warm', ...CAMERA, alwaysOn: true },
        { id: 'ttff-cold', ...CAMERA },
        // The packet relay is chosen per camera; only asked for when measured.
        ...(opts.modes.includes('cold-relay') ? [{ id: 'ttff-cold-relay', ...CAMERA, ingest: 'packet' as const }] : []),
        { id: 'ttff-janus', ...CAMERA },
      ],
      config: { log: { level: 'warn' }, ingest: { idleTimeoutSec: opts.idleTimeoutSec } },
    });
    const s = stack;
    const warm = s.gateway.streams.get('ttff-warm', 'main');
    const coldStream = (m: TtffMode) => s.gateway.streams.get(`ttff-${m}`, 'main');
    if (opts.modes.includes('janus')) {
      janus = await JanusServer.start({ mountpoints: [{ id: 1, name: 'ttff', url: s.sim.url('ttff-janus') }] });
      await janus.waitLive();
    }
    await waitFor('warm camera live', () => warm.state === 'live', 30_000);
    browser = await launchChromium();
    const token = s.token();
    const page = async (origin: string) => {
      let p = pages.get(origin);
      if (!p) {
        p = await ViewerPage.open(browser as Browser, origin);
        pages.set(origin, p);
      }
      return p;
    };
    const samples = new Map<TtffMode, { ttff: number[]; presented: number[]; setup: number[]; failures: number }>();
    for (const m of opts.modes) samples.set(m, { ttff: [], presented: [], setup: [], failures: 0 });
    const coldSteps = new Map<TtffMode, ColdSteps[]>(opts.modes.filter(isCold).map((m) => [m, []]));
    const busy = machineBusy(1000);
    // Interleaved, so the three see the same machine load over time.
    for (let i = 0; i < opts.joins; i++) {
      for (const mode of opts.modes) {
        const acc = samples.get(mode)!;
        if (isCold(mode)) {
          // On-demand start from idle: no ingest left from the previous join.
          const sv = coldStream(mode);
          await waitFor('cold camera idle', () => !sv.ingestRunning && sv.state === 'idle', 20_000, 50);
        }
        const p = await page(mode === 'janus' ? (janus as JanusServer).origin : s.base);
        const probe =
          isCold(mode) && i > 0 ? watchColdStart<ColdMarks>(s, coldStream(mode), `ttff-${mode}`, {}) : undefined;
        try {
          const t0 = performance.now();
          const r = await p.join({
            mode: mode === 'janus' ? 'janus' : 'gateway',
            stream: mode === 'janus' ? '1' : `ttff-${mode}`,
            token,
            clock: false,
            timeoutMs: 15_000,
          });
          acc.ttff.push(round(r.ttffMs));
          acc.presented.push(round(r.ttffPresentedMs));
          acc.setup.push(round(r.setupMs));
          if (probe) {
            // Node's clock and the page's differ by an offset: align on the page's request time.
            const requestAt = t0 + r.setupMs;
            const marks = probe.stop();
            const since = (t: number | undefined) => (t === undefined ? null : round(t - requestAt, 0));
            coldSteps.get(mode)?.push({
              ffmpegSpawned: since(marks.ffmpeg),
              rtspDescribe: since(marks.mediaUp),
              firstRtpAtGateway: since(marks.firstRtp),
              firstFrame: round(r.ttffMs, 0),
            });
          }
        } catch (err) {
          probe?.stop();
          acc.failures++;
          progress(`ttff ${mode} join ${i + 1} failed: ${(err as Error).message}`);
        }
        await p.leave();
        // Joins land at random phases of the 1 s GOP.
        await sleep(150 + Math.floor(Math.random() * 400));
      }
      progress(
        `ttff: join ${i + 1}/${opts.joins}: ${opts.modes.map((m) => `${m} ${samples.get(m)?.ttff.at(-1) ?? '–'} ms`).join(', ')}`,
      );
    }
    const modes: TtffModeResult[] = opts.modes.map((mode) => {
      const acc = samples.get(mode)!;
      // The first cold join also described the camera and created the producer; report it apart.
      const measured = isCold(mode) ? acc.ttff.slice(1) : acc.ttff;
      return {
        mode,
        joins: acc.ttff.length,
        failures: acc.failures,
        ttff: summarize(measured, 0),
        ttffPresented: summarize(isCold(mode) ? acc.presented.slice(1) : acc.presented, 0),
        setup: summarize(acc.setup, 0),
        ...(isCold(mode) ? { firstJoinMs: acc.ttff[0] ?? null, steps: coldBreakdown(coldSteps.get(mode) ?? []) } : {}),
        samples: acc.ttff,
      };
    });
    return {
      benchmark: 'ttff',
      date: new Date().toISOString(),
      camera: '640x360 25 fps H.264 Constrained Baseline, 1 Mbps, GOP 25 frames (1 s)',
      options: opts,
      modes,
      machineBusyPct: await busy,
      targets: { warmP50: '≤ 1000 ms', coldP50: '≤ 2500 ms' },
    };
  } finally {
    for (const p of pages.values()) await p.close();
    await browser?.close().catch(() => {});
    await janus?.stop().catch(() => {});
    await stack?.close().catch(() => {});
  }
}

interface ColdSteps {
  /** FFmpeg's process exists (never, with the packet relay). */
  ffmpegSpawned: number | null;
  /** The camera (simulator) got FFmpeg's DESCRIBE and built its media. */
  rtspDescribe: number | null;
  /** The stream's producer counted its first bytes (FFmpeg: it finished analysing its input). */
  firstRtpAtGateway: number | null;
  firstFrame: number | null;
}

/** When each step of an on-demand start happened (Node's performance.now()). */
export interface ColdMarks {
  ffmpeg?: number;
  mediaUp?: number;
  firstRtp?: number;
}

/**
 * Polls (every 5 ms) when each step of an on-demand start happens. `also` sees the camera's
 * simulator events and runs at each poll (e.g. to follow keyframes) for what a benchmark adds.
 */
export function watchColdStart<M extends ColdMarks>(
  s: Stack,
  sv: ReturnType<Stack['gateway']['streams']['get']>,
  camera: string,
  marks: M,
  also: { onEvent?: (e: SimEvent) => void; poll?: () => Promise<void> } = {},
): { stop: () => M } {
  const off = s.sim.onEvent((e) => {
    if (e.id !== camera) return;
    if (e.event === 'media-up' && marks.mediaUp === undefined) marks.mediaUp = performance.now();
    also.onEvent?.(e);
  });
  let bytes0: number | undefined;
  let polling = false;
  const timer = setInterval(async () => {
    if (polling) return;
    polling = true;
    try {
      if (marks.ffmpeg === undefined && sv.ffmpegPid) marks.ffmpeg = performance.now();
      await also.poll?.();
      if (marks.firstRtp === undefined) {
        let bytes = 0;
        for (const p of sv.producers) for (const st of await p.getStats()) bytes += st.byteCount ?? 0;
        if (bytes0 === undefined) bytes0 = bytes;
        else if (bytes > bytes0) marks.firstRtp = performance.now();
      }
    } catch {
      // producer closed: nothing to mark
    } finally {
      polling = false;
    }
  }, 5);
  return {
    stop: () => {
      clearInterval(timer);
      off();
      return marks;
    },
  };
}

function coldBreakdown(steps: ColdSteps[]): Record<keyof ColdSteps, number | null> {
  const m = (k: keyof ColdSteps) => median(steps.map((x) => x[k]));
  return {
    ffmpegSpawned: m('ffmpegSpawned'),
    rtspDescribe: m('rtspDescribe'),
    firstRtpAtGateway: m('firstRtpAtGateway'),
    firstFrame: m('firstFrame'),
  };
}

export function coldStepsText(s: Record<keyof ColdSteps, number | null>): string {
  return (
    `FFmpeg spawned ${s.ffmpegSpawned ?? '–'}, DESCRIBE at the camera ${s.rtspDescribe ?? '–'}, ` +
    `first RTP at the gateway ${s.firstRtpAtGateway ?? '–'}, first frame ${s.firstFrame ?? '–'}`
  );
}

export function ttffRows(r: TtffResult): Row[] {
  return r.modes.map((m) => ({
    mode: m.mode,
    joins: m.joins,
    failures: m.failures,
    'p50 ms': m.ttff.p50,
    'p95 ms': m.ttff.p95,
    'min ms': m.ttff.min,
    'max ms': m.ttff.max,
    'mean ms': m.ttff.mean,
    'first cold join ms': m.firstJoinMs,
  }));
}

if (isMain(import.meta.url)) {
  const result = await runTtff(ttffOptionsFromEnv());
  process.stdout.write(textTable(ttffRows(result)));
  for (const m of result.modes) {
    if (m.steps) console.log(`${m.mode} start, medians in ms after the consume request: ${coldStepsText(m.steps)}`);
  }
  writeResult('ttff', result);
  process.exit(0);
}
