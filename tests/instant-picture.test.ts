// Issue #17, a current picture within 0.3 s of a click, in a real browser against the real stack
// (camera simulator, gateway, snapshot API, Chromium): the phone view shows the camera's snapshot
// before live video, live video takes its place on its first frame; ONVIF SetSynchronizationPoint
// brings the first live frame of a camera that ignores RTCP PLI within 1 s instead of a GOP; the
// snapshot wall shows a picture in every tile and plays one live on a click.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator, type SimCameraSpec } from '../gateway/src/sim/CameraSimulator.js';
import type { PlayerProbe } from '../web-client/src/LivePlayer.js';
import type { PosterProbe } from '../web-client/src/Poster.js';
import type { WallSnapshot } from '../web-client/src/wall.js';
import { type Browser, launchBrowser } from './support/browser.js';
import { startGatewayProcess } from './support/gatewayProcess.js';
import { wallSnap } from './support/player.js';
import { gatewayOnSim, type Stack, sleep, waitFor } from './support/stack.js';

// load-tests/delay.ts's clock camera with a 4 s GOP, ignoring keyframe requests (RTCP PLI), as
// many real cameras do: without a cached keyframe or ONVIF a new viewer waits for the next IDR.
const CLOCK = {
  clock: true,
  width: 640,
  height: 360,
  fps: 25,
  gop: 100,
  bitrateKbps: 1000,
  keyframeOnRequest: false,
} as const satisfies Omit<SimCameraSpec, 'id'>;
const GOP_MS = 4000;
const SHOTS = path.resolve('test-results/screenshots');
/** 40 offices of simulated clip cameras (one clip for all); every fourth has a sub stream. */
const OFFICES = Array.from({ length: 40 }, (_, i) => {
  const n = String(i + 1).padStart(2, '0');
  return { id: `kel-uji-${n}`, name: `Kantor Kelurahan Uji ${n}`, kecamatan: `Uji ${(i % 5) + 1}`, sub: i % 4 === 0 };
});

/**
 * The bound a timing must keep: `ms` on a quiet machine; on one whose load exceeds its cores (other
 * test runs sharing them: every step here waits for a CPU) `busyMs`, and the line says so.
 */
function bound(ms: number, busyMs: number): { ms: number; note: string } {
  const load = os.loadavg()[0] ?? 0;
  const cores = os.cpus().length;
  return load > cores
    ? { ms: busyMs, note: ` [load ${load.toFixed(1)} on ${cores} cores: bound ${busyMs} ms instead of ${ms} ms]` }
    : { ms, note: '' };
}

let sim: CameraSimulator;
let stack: Stack;
let browser: Browser;

beforeAll(async () => {
  const office = { profile: 'baseline', fps: 25, gop: 25, label: 'kantor' } as const;
  sim = await CameraSimulator.start({
    cameras: [
      { id: 'clock-plain', ...CLOCK },
      // Its own encoder (one kbit/s more): an IDR forced for this camera must not reach clock-plain's
      // viewers (cameras of the simulator with equal settings share one encoder).
      { id: 'clock-onvif', ...CLOCK, bitrateKbps: CLOCK.bitrateKbps + 1 },
      ...OFFICES.flatMap((o) => [
        { id: o.id, ...office, width: 320, height: 180, bitrateKbps: 200 },
        ...(o.sub ? [{ id: `${o.id}--sub`, ...office, width: 160, height: 90, bitrateKbps: 60 }] : []),
      ]),
    ],
  });
  stack = await gatewayOnSim(
    sim,
    [
      // Warm: always ingesting, as a camera someone watches.
      {
        id: 'clock-plain',
        name: 'Kantor Kelurahan Jam Biasa',
        kecamatan: 'Jam',
        main: { url: sim.url('clock-plain') },
        alwaysOn: true,
      },
      {
        id: 'clock-onvif',
        name: 'Kantor Kelurahan Jam ONVIF',
        kecamatan: 'Jam',
        main: { url: sim.url('clock-onvif') },
        alwaysOn: true,
        onvif: { url: sim.onvifUrl('clock-onvif') },
      },
      ...OFFICES.map((o) => ({
        id: o.id,
        name: o.name,
        kecamatan: o.kecamatan,
        main: { url: sim.url(o.id) },
        ...(o.sub ? { sub: { url: sim.url(`${o.id}--sub`) } } : {}),
      })),
    ],
    { log: { level: 'warn' } },
  );
  browser = await launchBrowser();
  // Both clock streams live and past their first keyframe: the gateway has a picture of each.
  for (const id of ['clock-plain', 'clock-onvif'])
    await waitFor(`${id} keyframe`, () => !!stack.gateway.streams.get(id, 'main').keyframes?.gop(), 20_000);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.gateway.close();
  await sim?.stop();
});

async function newPage(width: number, height: number): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  return page;
}

const probe = (page: Page) => page.evaluate(() => (window as unknown as { cctvPlayer: PlayerProbe }).cctvPlayer);
const poster = (page: Page) => page.evaluate(() => (window as unknown as { cctvPoster: PosterProbe }).cctvPoster);

/** A snapshot the way the pages ask for one; its status and how long it took. */
async function snapshot(id: string, query = '', base = stack.base): Promise<{ status: number; ms: number }> {
  const t0 = Date.now();
  const res = await fetch(`${base}/api/streams/${id}/snapshot.jpg${query}`, {
    headers: { authorization: `Bearer ${stack.token()}` },
  });
  const body = Buffer.from(await res.arrayBuffer());
  if (!res.ok) console.log(`snapshot of ${id}: ${res.status} ${body.toString('utf8', 0, 300)}`);
  return { status: res.status, ms: Date.now() - t0 };
}

describe('poster first', () => {
  it('the phone view shows the poster ≤ 300 ms after navigation starts on a warm stream with a 4 s GOP, then live frames', async () => {
    // The gateway in a process of its own, as in production: the page's timings are then not the
    // test runner's (whose event loop also runs this file's gateway, forty cameras and Playwright).
    const gw = await startGatewayProcess([
      { id: 'clock-plain', name: 'Kantor Kelurahan Jam Biasa', main: { url: sim.url('clock-plain') }, alwaysOn: true },
    ]);
    try {
      await phoneViewPoster(gw.base);
    } finally {
      await gw.close();
    }
  });

  async function phoneViewPoster(base: string): Promise<void> {
    // What a snapshot of this camera costs at the gateway, each past its 1 s JPEG cache (the page's
    // snapshot below is decoded for it too, not a cached answer).
    const server: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await waitFor('a snapshot', async () => {
        const x = await snapshot('clock-plain', '', base);
        return x.status === 200 ? x : undefined;
      });
      server.push(r.ms);
      await sleep(1100);
    }
    // A first visit, so the browser has the page's script as a returning phone has; then a blank page
    // (no teardown of that view in the measurement).
    const page = await newPage(390, 844);
    await page.goto(`${base}/m/clock-plain?token=${stack.token()}`);
    await waitFor('the first visit to play', async () => (await probe(page)).state === 'live', 20_000);
    // Three navigations, each past the gateway's 1 s JPEG cache (a fresh decode every time): the
    // median is the figure, as in the benchmark; the last one is also followed to live video.
    const runs: { posterMs: number; shown: PosterProbe }[] = [];
    for (let i = 0; i < 3; i++) {
      await page.goto('about:blank');
      await sleep(1500);
      await page.goto(`${base}/m/clock-plain`);
      const shown = await waitFor('the poster', async () => {
        const p = await poster(page);
        return p.firstShownAt !== null ? p : undefined;
      });
      const early = await page.evaluate(() => performance.getEntriesByName('cctv:early-poster')[0]?.startTime ?? null);
      // On screen: early.js's picture (before the bundle runs), or the view's own poster if it was first.
      runs.push({
        posterMs: Math.round(Math.min(early ?? Number.POSITIVE_INFINITY, shown.firstShownAt as number)),
        shown,
      });
    }
    const shown = (runs.at(-1) as { shown: PosterProbe }).shown;
    const live = await waitFor(
      'live frames',
      async () => {
        const p = await probe(page);
        return p.stream === 'clock-plain' && p.state === 'live' && p.framesDecoded > 10 ? p : undefined;
      },
      GOP_MS + 8000,
    );
    const after = await poster(page);
    const timing = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
      const snap = performance.getEntriesByType('resource').find((e) => e.name.includes('/snapshot.jpg')) as
        | PerformanceResourceTiming
        | undefined;
      const script = performance.getEntriesByType('resource').find((e) => e.name.endsWith('/app.js')) as
        | PerformanceResourceTiming
        | undefined;
      const earlyPoster = performance.getEntriesByName('cctv:early-poster')[0];
      const start = performance.getEntriesByName('cctv:start')[0];
      const view = performance.getEntriesByName('cctv:view')[0];
      const ms = performance.getEntriesByName('cctv:mediasoup')[0];
      return {
        html: nav ? Math.round(nav.responseEnd) : null,
        script: script ? Math.round(script.responseEnd) : null,
        start: start ? Math.round(start.startTime) : null,
        view: view ? Math.round(view.startTime) : null,
        mediasoup: ms ? Math.round(ms.startTime) : null,
        snapStart: snap ? Math.round(snap.startTime) : null,
        snapEnd: snap ? Math.round(snap.responseEnd) : null,
        earlyPoster: earlyPoster ? earlyPoster.startTime : null,
      };
    });
    const posterMs = (runs.at(-1) as { posterMs: number }).posterMs;
    const median = [...runs.map((r) => r.posterMs)].sort((a, b) => a - b)[1] as number;
    // The bar: 300 ms. Measured here on a quiet machine 157-169 ms; on one whose cores other
    // test runs share, the page's main thread waits for a CPU (335-460 ms seen): the looser bound.
    const limit = bound(300, 900);
    const firstFrame = Math.round(live.firstFrameAt as number);
    const gap = Math.round((after.hiddenAt ?? Number.NaN) - (live.firstFrameAt as number));
    console.log(
      `phone view, warm clock camera with a 4 s GOP: poster on screen after navigation started, median ${median} ms ` +
        `(${runs.map((r) => r.posterMs).join(', ')} ms); the last: ${posterMs} ms ` +
        `(page ${timing.html} ms, early.js's picture up at ${timing.earlyPoster === null ? '–' : Math.round(timing.earlyPoster)} ms, the view's poster at ${Math.round(shown.firstShownAt as number)} ms, script loaded ${timing.script} ms, running ${timing.start} ms, the view at ${timing.view} ms, ` +
        `snapshot request ${timing.snapStart}→${timing.snapEnd} ms (the poster had it at ${Math.round(shown.arrivedAt ?? 0)} ms), ` +
        `mediasoup-client loaded at ${timing.mediasoup} ms, ` +
        `its frame ${shown.ageMs} ms old); first live frame at ${firstFrame} ms; the poster came down ${gap} ms after it. ` +
        `Snapshots of this camera from the test process: ${server.join(', ')} ms${limit.note}`,
    );
    expect(median).toBeLessThanOrEqual(limit.ms);
    expect(shown.kind).toBe('snapshot');
    // Live video took the poster's place on its first presented frame, not before, not much later.
    expect(after.visible).toBe(false);
    expect(after.hiddenAt).not.toBeNull();
    expect(gap).toBeGreaterThanOrEqual(0);
    expect(gap).toBeLessThan(100);
    expect(firstFrame).toBeGreaterThan(posterMs);
    await page.close();
  }

  it('with ONVIF on, the first live frame comes ≤ 1 s after the click; without ONVIF it waits for the GOP', async () => {
    const page = await newPage(1280, 800);
    await page.goto(`${stack.base}/m/kel-uji-02?token=${stack.token()}`);
    await waitFor('the phone view to play', async () => (await probe(page)).state === 'live', 20_000);
    await page.evaluate(() => {
      document.addEventListener(
        'click',
        () => ((window as unknown as { clickAt: number }).clickAt = performance.now()),
        true,
      );
    });
    /** Clicks the office in the list; ms from the click to its poster and to its first live frame. */
    const open = async (id: string) => {
      // Just after the camera's own keyframe: the next one is a whole GOP away, whatever the luck.
      const cache = stack.gateway.streams.get(id, 'main').keyframes;
      await waitFor(
        `${id} to have just sent a keyframe`,
        () => Date.now() - (cache?.gop()?.keyframeAt ?? 0) < 150,
        GOP_MS + 2000,
        10,
      );
      const syncBefore = sim.syncPoints(id);
      await page.click(`#streams button[data-id="${id}"]`);
      const p = await waitFor(
        `${id} live`,
        async () => {
          const x = await probe(page);
          return x.stream === id && x.firstFrameAt !== null ? x : undefined;
        },
        GOP_MS + 8000,
      );
      const r = await page.evaluate(() => ({
        clickAt: (window as unknown as { clickAt: number }).clickAt,
        shownAt: (window as unknown as { cctvPoster: PosterProbe }).cctvPoster.shownAt,
      }));
      return {
        live: Math.round((p.firstFrameAt as number) - r.clickAt),
        poster: r.shownAt !== null && r.shownAt > r.clickAt ? Math.round(r.shownAt - r.clickAt) : null,
        syncPoints: sim.syncPoints(id) - syncBefore,
      };
    };
    const withOnvif = await open('clock-onvif');
    const without = await open('clock-plain');
    const limit = bound(1000, 2000);
    console.log(
      `first live frame after the click: ONVIF ${withOnvif.live} ms (poster ${withOnvif.poster} ms, ` +
        `${withOnvif.syncPoints} SetSynchronizationPoint), without ONVIF ${without.live} ms (poster ${without.poster} ms); GOP ${GOP_MS} ms${limit.note}`,
    );
    expect(withOnvif.syncPoints).toBeGreaterThan(0);
    expect(withOnvif.live).toBeLessThanOrEqual(limit.ms);
    expect(without.syncPoints).toBe(0);
    // Without ONVIF the camera ignores the keyframe request: the viewer, clicking just after a
    // keyframe, waits for the next one, most of a GOP later.
    expect(without.live).toBeGreaterThanOrEqual(GOP_MS - 1000);
    expect(without.live).toBeLessThanOrEqual(GOP_MS + 1500);
    await page.close();
  });
});

describe('snapshot wall', () => {
  it('the snapshot wall shows a picture in every tile for 40 simulated cameras', { timeout: 120_000 }, async () => {
    const page = await newPage(1920, 1080);
    const t0 = Date.now();
    await page.goto(`${stack.base}/?token=${stack.token()}&mode=snapshots`);
    const pictures = () =>
      page.evaluate(() =>
        [...document.querySelectorAll<HTMLElement>('.tile')].map((t) => {
          const img = t.querySelector<HTMLImageElement>('img.tile-poster');
          return {
            id: t.dataset['id'] ?? '',
            width: img && !img.hidden && img.complete ? img.naturalWidth : 0,
            at: Number(img?.dataset['takenAt'] ?? 0),
          };
        }),
      );
    const first = await waitFor(
      'a picture in every tile',
      async () => {
        const p = await pictures();
        return p.length === 42 && p.every((x) => x.width > 0) ? p : undefined;
      },
      60_000,
      250,
    );
    const allMs = Date.now() - t0;
    const s0 = await wallSnap(page);
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, 'snapshot-wall.png') });
    // Refreshed: every tile shows a newer picture within the next two refresh rounds.
    const refreshed = await waitFor(
      'every tile refreshed',
      async () => {
        const p = await pictures();
        return p.every((x) => x.at > (first.find((f) => f.id === x.id)?.at ?? 0)) ? p : undefined;
      },
      30_000,
      500,
    );
    const s1 = await wallSnap(page);
    const subs = s1.tiles.filter((t) => OFFICES.find((o) => o.id === t.id)?.sub);
    console.log(
      `snapshot wall: ${first.length} tiles (${OFFICES.length} offices + 2 clock cameras), all with a picture ` +
        `${allMs} ms after navigation, all refreshed again within ${Date.now() - t0 - allMs} ms; ` +
        `at most ${s1.snapshots.peak} snapshot requests at once; ${s1.tiles.filter((t) => t.consuming).length} tiles playing; ` +
        `widths ${[...new Set(first.map((x) => x.width))].join('/')} px`,
    );
    expect(refreshed.length).toBe(42);
    expect(s0.mode).toBe('snapshots');
    expect(s1.tiles.every((t) => t.visible)).toBe(true); // one screen
    expect(s1.tiles.every((t) => !t.consuming)).toBe(true);
    expect(s1.snapshots.peak).toBeLessThanOrEqual(4);
    expect(subs.length).toBe(10);

    // Live on a click: the fullscreen view opens on the tile's picture and plays main.
    const id = 'kel-uji-07';
    await page.evaluate(() => {
      document.addEventListener(
        'click',
        () => ((window as unknown as { clickAt: number }).clickAt = performance.now()),
        true,
      );
    });
    await page.click(`.tile[data-id="${id}"] .tile-hit`);
    const f = await waitFor(
      'main live in the fullscreen view',
      async () => {
        const x = (await wallSnap(page)).focus;
        return x && x.stream === id && x.variant === 'main' && x.framesDecoded > 10 ? x : undefined;
      },
      20_000,
    );
    const clickAt = await page.evaluate(() => (window as unknown as { clickAt: number }).clickAt);
    const posterMs = Math.round((f.poster.firstShownAt as number) - clickAt);
    const limit = bound(300, 1000);
    console.log(
      `snapshot wall click on ${id}: its picture in the fullscreen view after ${posterMs} ms, ` +
        `first live frame (main) after ${Math.round((f.firstFrameAt as number) - clickAt)} ms; ` +
        `the picture came down ${Math.round((f.poster.hiddenAt as number) - (f.firstFrameAt as number))} ms after it${limit.note}`,
    );
    expect(posterMs).toBeLessThanOrEqual(limit.ms);
    expect(f.poster.visible).toBe(false);
    expect((f.poster.hiddenAt as number) - (f.firstFrameAt as number)).toBeGreaterThanOrEqual(0);
    expect(stack.gateway.streams.get(id, 'main').viewers).toBeGreaterThanOrEqual(1);

    // Back, and to the live wall with the toolbar's toggle: tiles on screen play again.
    await page.keyboard.press('Escape');
    await waitFor('the fullscreen view to close', async () => (await wallSnap(page)).focus === null, 5000);
    await page.click('#mode-toggle');
    const liveWall: WallSnapshot = await waitFor(
      'the live wall',
      async () => {
        const s = await wallSnap(page);
        return s.mode === 'live' && s.tiles.some((t) => t.state === 'live') ? s : undefined;
      },
      20_000,
    );
    expect(new URL(page.url()).searchParams.get('mode')).toBeNull();
    expect(liveWall.tiles.filter((t) => t.consuming).length).toBeGreaterThan(0);
    await page.close();
  });
});
