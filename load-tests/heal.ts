// Heal time after a mediasoup worker dies: two cameras (packet relay on slot 0, FFmpeg on slot 1),
// headless Chromium viewers (the gateway's phone view) of both on both workers, and the workers
// SIGKILLed in turn. For each kill and each viewer it affects (its transport was on the dead worker,
// or the stream it watches had its Producer there and moved) the time from the kill to the viewer's
// first presented frame of a new consumer's track. Before each kill every slot serves again and the
// viewers are spread so each slot has both cameras (a viewer is reopened when needed).
// Run: npm run bench:heal   (BENCH_HEAL_KILLS=10 BENCH_HEAL_VIEWERS=8 BENCH_HEAL_SETTLE_SEC=3)
import { type Browser, launchBrowser } from '../tests/support/browser.js';
import { framesSince, longestGap } from '../tests/support/healProbe.js';
import { awaitHeal, openPhone, placement, type Viewer, waitPlaying } from '../tests/support/healViewers.js';
import { type Stack, startStack, waitFor } from '../tests/support/stack.js';
import { benchCamera } from './lib/camera.js';
import { machineBusy } from './lib/proc.js';
import {
  envNumber,
  isMain,
  progress,
  type Row,
  type Summary,
  sleep,
  summarize,
  textTable,
  writeResult,
} from './lib/report.js';

export interface HealOptions {
  kills: number;
  viewers: number;
  settleSec: number;
}

export type HealCause = 'transport' | 'stream_moved';

export interface HealSample {
  kill: number;
  slot: number;
  viewer: string;
  stream: string;
  ingest: 'packet' | 'ffmpeg';
  cause: HealCause;
  /** Kill → first frame of a new track; null: none within 15 s. */
  healMs: number | null;
}

export interface HealKill {
  kill: number;
  slot: number;
  affected: number;
  unaffected: number;
  /** Longest pause between frames of the viewers the kill did not touch, over the 3 s after it. */
  unaffectedMaxGapMs: number | null;
  /** Kill → the slot serving again. */
  respawnMs: number;
  /** Viewers closed and opened again before the kill to spread them. */
  reopened: number;
  /** Viewers per slot and camera at the kill. */
  placement: Record<string, Record<string, number>>;
}

export interface HealResult {
  benchmark: 'heal';
  date: string;
  camera: string;
  options: HealOptions;
  kills: HealKill[];
  samples: HealSample[];
  summary: Record<string, Summary & { failures: number }>;
  respawn: Summary;
  /** RTSP sessions the simulator saw opened during the kills, per camera (0: the ingest was re-pointed). */
  newRtspSessions: Record<string, number>;
  machineBusyPct: number;
  targets: Record<string, string>;
}

export function healOptionsFromEnv(): HealOptions {
  return {
    kills: envNumber('BENCH_HEAL_KILLS', 10),
    viewers: envNumber('BENCH_HEAL_VIEWERS', 8),
    settleSec: envNumber('BENCH_HEAL_SETTLE_SEC', 3),
  };
}

const CAMS = [
  { id: 'heal-relay', ingest: 'packet' as const },
  { id: 'heal-ffmpeg', ingest: 'ffmpeg' as const },
];
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const CAMERA = benchCamera('heal');

export async function runHeal(opts: HealOptions): Promise<HealResult> {
  let stack: Stack | undefined;
  let browser: Browser | undefined;
  const viewers: Viewer[] = [];
  try {
    progress('heal: starting simulator and gateway');
    stack = await startStack({
      cameras: CAMS.map((c) => ({ id: c.id, ...CAMERA, ingest: c.ingest, alwaysOn: true })),
      config: { log: { level: 'warn' } },
    });
    const s = stack;
    const slots = () => s.gateway.pool.workers;
    const variant = (id: string) => s.gateway.streams.get(id, 'main');
    const sessions = new Map(CAMS.map((c) => [c.id, 0]));
    let counting = false;
    s.sim.onEvent((e) => {
      if (counting && e.event === 'media-up' && e.id) sessions.set(e.id, (sessions.get(e.id) ?? 0) + 1);
    });
    await waitFor('cameras live', () => CAMS.every((c) => variant(c.id).state === 'live'), 30_000);
    const busy = machineBusy(2000);
    browser = await launchBrowser();
    const b = browser;
    const open = async (stream: string, name: string) => {
      const v = await openPhone(b, s.base, s.token(), stream, name);
      await waitPlaying(v, 30_000);
      return v;
    };
    for (let i = 0; i < opts.viewers; i++) viewers.push(await open(CAMS[i % CAMS.length]?.id as string, `viewer-${i}`));
    progress(`heal: ${viewers.length} viewers playing`);

    /**
     * Replaces viewers until each serving slot has both cameras and the slots differ by at most one
     * viewer. A new transport goes to the least-loaded slot, so a viewer is closed where that leaves
     * the wanted slot the least loaded, and never the last of its camera on its slot.
     */
    const spread = async (): Promise<{ place: Map<Viewer, number>; reopened: number }> => {
      for (let reopened = 0; ; reopened++) {
        const place = await placement(viewers, slots());
        const on = (i: number, stream?: string) =>
          viewers.filter((v) => place.get(v) === i && (!stream || v.stream === stream));
        const spare = (i: number, prefer?: string) =>
          on(i).find((v) => v.stream === prefer && on(i, v.stream).length > 1) ??
          on(i).find((v) => on(i, v.stream).length > 1);
        const up = slots().filter((x) => x.serving);
        const busiest = up.reduce((a, x) => (on(x.index).length > on(a.index).length ? x : a));
        const idlest = up.reduce((a, x) => (on(x.index).length < on(a.index).length ? x : a));
        const lack = up.flatMap((x) =>
          CAMS.filter((c) => on(x.index, c.id).length === 0).map((c) => ({ x, c: c.id })),
        )[0];
        let victim: Viewer | undefined;
        let stream: string | undefined;
        if (lack) {
          // Close a spare viewer on the lacking slot (it stays the least loaded), else one on the busiest.
          victim = spare(lack.x.index) ?? spare(busiest.index, lack.c);
          stream = lack.c;
        } else if (on(busiest.index).length - on(idlest.index).length > 1) {
          victim = spare(busiest.index);
          stream = victim?.stream;
        }
        if (!victim || !stream || reopened >= 10) return { place, reopened };
        const at = viewers.indexOf(victim);
        viewers.splice(at, 1);
        await victim.page.close();
        await waitFor(
          'the closed viewer to leave',
          () => sum(slots().map((x) => x.transports)) <= viewers.length,
          10_000,
        );
        viewers.splice(at, 0, await open(stream, victim.name));
      }
    };

    const samples: HealSample[] = [];
    const kills: HealKill[] = [];
    counting = true;
    for (let kill = 1; kill <= opts.kills; kill++) {
      const k = (kill - 1) % slots().length;
      const slot = slots()[k];
      if (!slot) throw new Error(`no slot ${k}`);
      await waitFor('every slot serving', () => slots().every((x) => x.serving), 60_000);
      for (const v of viewers) await waitPlaying(v, 30_000);
      const { place, reopened } = await spread();
      const where: HealKill['placement'] = {};
      for (const v of viewers) {
        const key = `slot ${place.get(v) ?? '–'}`;
        const at = where[key] ?? {};
        at[v.stream] = (at[v.stream] ?? 0) + 1;
        where[key] = at;
      }
      const moving = CAMS.filter((c) => variant(c.id).origin.index === k).map((c) => c.id);
      const cause = (v: Viewer): HealCause | undefined =>
        place.get(v) === k ? 'transport' : moving.includes(v.stream) ? 'stream_moved' : undefined;
      const pid = slot.pid as number;
      const killAt = Date.now();
      process.kill(pid, 'SIGKILL');
      const serving = waitFor('the slot serving again', () => slot.serving && slot.pid !== pid, 60_000, 10).then(
        () => Date.now() - killAt,
      );
      const heals = await Promise.all(viewers.map((v) => (cause(v) ? awaitHeal(v, killAt) : undefined)));
      await sleep(Math.max(0, killAt + 3000 - Date.now()));
      const gaps: number[] = [];
      for (const [i, v] of viewers.entries()) {
        const c = cause(v);
        if (!c) {
          gaps.push(longestGap(await framesSince(v.frame(), v.name, killAt), killAt, killAt + 3000));
          continue;
        }
        const ingest = CAMS.find((x) => x.id === v.stream)?.ingest ?? 'packet';
        samples.push({
          kill,
          slot: k,
          viewer: v.name,
          stream: v.stream,
          ingest,
          cause: c,
          healMs: heals[i]?.ms ?? null,
        });
      }
      const mine = samples.filter((x) => x.kill === kill);
      kills.push({
        kill,
        slot: k,
        affected: mine.length,
        unaffected: gaps.length,
        unaffectedMaxGapMs: gaps.length ? Math.max(...gaps) : null,
        respawnMs: await serving,
        reopened,
        placement: where,
      });
      const ms = mine.map((x) => x.healMs ?? 'none');
      progress(
        `heal: kill ${kill}/${opts.kills} (slot ${k}, streams moved: ${moving.join(', ') || 'none'}; ` +
          `viewers ${JSON.stringify(where)}, ${reopened} reopened): ` +
          `${mine.length} affected, heal ms ${ms.join(' ')}; unaffected ${gaps.length} (max gap ${kills.at(-1)?.unaffectedMaxGapMs ?? '–'} ms); ` +
          `slot back after ${kills.at(-1)?.respawnMs} ms`,
      );
      await sleep(opts.settleSec * 1000);
    }
    counting = false;

    const group = (pred: (x: HealSample) => boolean) => {
      const g = samples.filter(pred);
      const ok = g.flatMap((x) => (x.healMs === null ? [] : [x.healMs]));
      return { ...summarize(ok, 0), failures: g.length - ok.length };
    };
    return {
      benchmark: 'heal',
      date: new Date().toISOString(),
      camera: '640x360 25 fps H.264 Constrained Baseline, 1 Mbps, GOP 25 frames (1 s)',
      options: opts,
      kills,
      samples,
      summary: {
        all: group(() => true),
        transport: group((x) => x.cause === 'transport'),
        stream_moved: group((x) => x.cause === 'stream_moved'),
        packet: group((x) => x.ingest === 'packet'),
        ffmpeg: group((x) => x.ingest === 'ffmpeg'),
      },
      respawn: summarize(
        kills.map((x) => x.respawnMs),
        0,
      ),
      newRtspSessions: Object.fromEntries(sessions),
      machineBusyPct: await busy,
      targets: { healP50: '≤ 3000 ms', healMax: '≤ 6000 ms' },
    };
  } finally {
    for (const v of viewers) await v.page.close().catch(() => {});
    await browser?.close().catch(() => {});
    await stack?.close().catch(() => {});
  }
}

const GROUPS: Record<string, string> = {
  all: 'all affected viewers',
  transport: 'transport on the dead worker',
  stream_moved: 'stream moved (transport elsewhere)',
  packet: 'relay camera',
  ffmpeg: 'FFmpeg camera',
};

export function healRows(r: HealResult): Row[] {
  const rows: Row[] = Object.entries(GROUPS).map(([k, label]) => {
    const g = r.summary[k];
    return {
      'kill → first new frame': label,
      n: g?.n,
      failures: g?.failures,
      'p50 ms': g?.p50,
      'p95 ms': g?.p95,
      'max ms': g?.max,
      'mean ms': g?.mean,
    };
  });
  rows.push({
    'kill → first new frame': 'worker slot serving again (kill → serving)',
    n: r.respawn.n,
    'p50 ms': r.respawn.p50,
    'p95 ms': r.respawn.p95,
    'max ms': r.respawn.max,
    'mean ms': r.respawn.mean,
  });
  return rows;
}

if (isMain(import.meta.url)) {
  const result = await runHeal(healOptionsFromEnv());
  process.stdout.write(textTable(healRows(result)));
  const gaps = result.kills.flatMap((k) => (k.unaffectedMaxGapMs === null ? [] : [k.unaffectedMaxGapMs]));
  console.log(
    `new RTSP sessions during the kills: ${JSON.stringify(result.newRtspSessions)}; ` +
      `unaffected viewers' longest gap: ${gaps.length ? Math.max(...gaps) : '–'} ms`,
  );
  writeResult('heal', result);
  process.exit(0);
}
