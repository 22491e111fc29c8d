// The web client in a real browser against the real stack: the Command Center wall (visible tiles
// only, sub variant, fullscreen on main without a black gap), the phone view, an iframe embed and the
// <cctv-player> web component on another origin (scoped token, forbidden stream in words), and both
// reconnecting by themselves after a gateway restart. Saves screenshots to test-results/screenshots/.
import fs from 'node:fs';
import path from 'node:path';
import type { Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlayerProbe } from '../web-client/src/LivePlayer.js';
import type { WallSnapshot } from '../web-client/src/wall.js';
import { type Browser, launchBrowser } from './support/browser.js';
import { gatewayConsumers, PALEMBANG_OFFICES, startCityStack } from './support/cityStack.js';
import { type HostServer, startHost } from './support/hostServer.js';
import { type Stack, sleep, waitFor } from './support/stack.js';

const SHOTS = path.resolve('test-results/screenshots');
const DEAD = 'kel-20-ilir-d-ii';
let stack: Stack;
let browser: Browser;
let host: HostServer;

const hostPage = (title: string, body: string) => `<!doctype html><html lang="id"><head><meta charset="utf-8">
<title>${title}</title><style>
body{margin:0;font:15px/1.4 system-ui,sans-serif;background:#eef2f6;color:#1b2530}
header{background:#0b5c3b;color:#fff;padding:14px 24px;display:flex;gap:12px;align-items:baseline}
header b{font-size:18px} header span{opacity:.85}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:20px;padding:24px;max-width:1240px;margin:0 auto}
.card{background:#fff;border-radius:12px;box-shadow:0 2px 10px rgba(0,0,0,.08);overflow:hidden}
.card h2{margin:0;padding:12px 16px;font-size:15px;border-bottom:1px solid #e3e8ee}
.card .body{padding:12px}
iframe{display:block;width:100%;aspect-ratio:16/9;border:0;border-radius:8px;background:#000}
</style></head><body><header><b>SIPANDAI</b><span>Dinas Perhubungan Kota Palembang — pantauan kantor wilayah</span></header>
<main>${body}</main></body></html>`;

async function mintEmbedToken(streams: string[]): Promise<string> {
  const admin = stack.token(['*'], 600, 'admin', 'admin');
  const res = await fetch(`${stack.base}/api/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sub: 'opd-dishub', streams, ttlSec: 900 }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

async function newPage(width: number, height: number): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  return page;
}

const shot = async (page: Page, name: string) => {
  await page.screenshot({ path: path.join(SHOTS, name) });
};

beforeAll(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  host = await startHost();
  stack = await startCityStack({
    offices: PALEMBANG_OFFICES,
    // An office whose camera is down: nothing listens on its port.
    extraCameras: [
      {
        id: DEAD,
        name: 'Kantor Kelurahan 20 Ilir D II',
        kecamatan: 'Kemuning',
        main: { url: 'rtsp://127.0.0.1:9/live' },
      },
    ],
    config: {
      ingest: { idleTimeoutSec: 3, connectTimeoutSec: 2 },
      signaling: { allowedOrigins: [host.origin] },
      log: { level: 'info' },
    },
  });
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await host?.close();
});

const wallSnap = (page: Page): Promise<WallSnapshot> =>
  page.evaluate(() => (window as unknown as { cctvWall: () => WallSnapshot }).cctvWall());

/**
 * Waits until the wall's consumers match what is on screen: every visible tile plays (or is offline),
 * no other tile holds a consumer, and the gateway holds exactly those (plus `others` of other pages).
 */
function settledWall(page: Page, what: string, others = 0, timeoutMs = 30_000): Promise<WallSnapshot> {
  return waitFor(
    what,
    async () => {
      const s = await wallSnap(page);
      const consuming = s.tiles.filter((t) => t.consuming);
      const ok =
        s.ready &&
        consuming.length > 0 &&
        s.tiles.every((t) => (t.visible ? t.consuming || t.state === 'offline' : !t.consuming)) &&
        s.tiles.filter((t) => t.visible && t.state !== 'offline').every((t) => t.state === 'live') &&
        gatewayConsumers(stack) === consuming.length + others;
      return ok ? s : undefined;
    },
    timeoutMs,
    250,
  );
}

describe('Command Center wall', () => {
  let page: Page;
  const snap = () => wallSnap(page);
  const settled = (what: string) => settledWall(page, what);
  const frames = (s: WallSnapshot) => new Map(s.tiles.map((t) => [t.id, t.framesDecoded]));

  it('plays only the tiles on screen, on the sub variant, one consumer each', async () => {
    page = await newPage(1440, 900);
    // 8 tiles per signaling connection (default 30) to exercise the sharding a big wall needs.
    await page.goto(`${stack.base}/?token=${stack.token()}&perConnection=8`);
    const s0 = await settled('the visible tiles to play');
    const a = frames(s0);
    await sleep(2000);
    const s1 = await snap();
    const visible = s1.tiles.filter((t) => t.visible);
    const advancing = s1.tiles.filter((t) => t.framesDecoded - (a.get(t.id) ?? 0) >= 20);
    const consuming = s1.tiles.filter((t) => t.consuming);
    console.log(
      `wall: ${s1.tiles.length} tiles, ${visible.length} visible, ${advancing.length} with frames advancing (≥20 in 2 s), ` +
        `${consuming.length} consuming over ${s1.connections} connections; gateway consumers ${gatewayConsumers(stack)}`,
    );
    expect(s1.connections).toBe(Math.ceil(consuming.length / 8));
    expect(stack.gateway.signaling.connections).toBe(s1.connections);
    expect(advancing.length).toBeGreaterThanOrEqual(12);
    expect(visible.length).toBeLessThan(s1.tiles.length);
    expect(gatewayConsumers(stack)).toBe(consuming.length);
    expect(consuming.every((t) => t.variant === 'sub')).toBe(true);
    for (const t of consuming) expect(stack.gateway.streams.get(t.id, 'sub').viewers).toBe(1);
    expect(s1.tiles.filter((t) => !t.visible).every((t) => !t.consuming && t.framesDecoded === 0)).toBe(true);
    await shot(page, 'wall.png');
  });

  it('scrolling moves the playing set with the screen and closes tiles that left it', async () => {
    const before = await snap();
    const topIds = before.tiles.filter((t) => t.consuming).map((t) => t.id);
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    await sleep(3000); // the grace period (2.5 s) for tiles that left the screen
    const s = await settled('the playing set to follow the scroll');
    const consuming = s.tiles.filter((t) => t.consuming);
    const left = topIds.filter((id) => !s.tiles.find((t) => t.id === id)?.visible);
    console.log(
      `wall after scroll: ${s.tiles.filter((t) => t.visible).length} visible, ${consuming.length} consuming, ` +
        `${left.length} tiles left the screen and were closed; gateway consumers ${gatewayConsumers(stack)}`,
    );
    expect(left.length).toBeGreaterThan(0);
    for (const id of left) expect(stack.gateway.streams.get(id, 'sub').viewers).toBe(0);
    expect(gatewayConsumers(stack)).toBe(consuming.length);
    await shot(page, 'wall-scrolled.png');
  });

  it('opens a tile fullscreen on main, keeping the sub picture until main has a frame', async () => {
    const s = await snap();
    const tile = s.tiles.find((t) => t.visible && t.state === 'live') as WallSnapshot['tiles'][number];
    await page.click(`.tile[data-id="${tile.id}"] .tile-hit`);
    const f = await waitFor(
      'main variant frames in fullscreen',
      async () => {
        const x = (await snap()).focus;
        return x && x.variant === 'main' && x.framesDecoded > 25 ? x : undefined;
      },
      20_000,
    );
    console.log(
      `fullscreen ${tile.id}: main variant, ${f.framesDecoded} frames; sub had shown ${f.underFramesAtSwap} frames when main took over`,
    );
    expect(f.stream).toBe(tile.id);
    expect(stack.gateway.streams.get(tile.id, 'main').viewers).toBe(1);
    expect(f.swapped).toBe(true);
    expect(f.underFramesAtSwap).toBeGreaterThan(0);
    await shot(page, 'wall-fullscreen.png');
    await page.keyboard.press('Escape');
    await waitFor('fullscreen to close', async () => (await snap()).focus === null, 5000);
    await waitFor('main to be released', () => stack.gateway.streams.get(tile.id, 'main').viewers === 0, 5000);
    await page.close();
  });
});

describe('phone view (390x844)', () => {
  const probe = (page: Page) => page.evaluate(() => (window as unknown as { cctvPlayer: PlayerProbe }).cctvPlayer);

  it('plays one office, steps to the next, saves data on sub, shows stats, offline in words', async () => {
    const page = await newPage(390, 844);
    await page.goto(`${stack.base}/watch.html?token=${stack.token()}&stream=kel-sekip-jaya`);
    await waitFor('first frame', async () => (await probe(page)).state === 'live', 20_000);
    const attrs = await page.evaluate(() => {
      const v = document.querySelector('#video') as HTMLVideoElement;
      return { muted: v.muted, playsinline: v.hasAttribute('playsinline'), width: v.getBoundingClientRect().width };
    });
    expect(attrs).toMatchObject({ muted: true, playsinline: true });
    expect(attrs.width).toBeGreaterThan(340);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.getByRole('button', { name: 'Statistik' }).first().click();
    await waitFor('stats overlay', async () => /fps/.test((await page.locator('.stage-stats').textContent()) ?? ''));
    await sleep(1200);
    await shot(page, 'phone.png');

    await page.getByRole('button', { name: 'Kantor berikutnya' }).click();
    await waitFor('next office playing', async () => {
      const p = await probe(page);
      return p.stream === 'kel-talang-aman' && p.state === 'live';
    });
    await page.getByRole('button', { name: 'Hemat data' }).click();
    await waitFor('sub variant', async () => {
      const p = await probe(page);
      return p.variant === 'sub' && p.state === 'live';
    });
    expect(stack.gateway.streams.get('kel-talang-aman', 'sub').viewers).toBe(1);
    const a = (await probe(page)).framesDecoded;
    await sleep(1500);
    expect((await probe(page)).framesDecoded - a).toBeGreaterThan(20);

    await page.goto(`${stack.base}/m/kel-pahlawan`); // the short link; the token is kept for this tab
    await waitFor('short link playing', async () => {
      const p = await probe(page);
      return p.stream === 'kel-pahlawan' && p.state === 'live';
    });
    await page.goto(`${stack.base}/watch.html?stream=${DEAD}`);
    await page.locator('.stage-msg strong', { hasText: 'Kamera terputus' }).waitFor({ timeout: 15_000 });
    expect((await probe(page)).error).toBe('E_STREAM_OFFLINE');
    await shot(page, 'phone-offline.png');
    await page.close();
  });
});

describe('embeds on another origin', () => {
  let embedPage: Page;
  let componentPage: Page;
  const okFrame = () => embedPage.frames().find((f) => f.url().includes('/embed/kel-sekip-jaya')) as Frame;
  const embedProbe = () => okFrame().evaluate(() => (window as unknown as { cctvPlayer: PlayerProbe }).cctvPlayer);
  const componentFrames = () =>
    componentPage.evaluate(() => (document.querySelector('#ok') as unknown as { framesDecoded: number }).framesDecoded);

  it('an iframe embed plays with a scoped token and names a stream outside its scope', async () => {
    const token = await mintEmbedToken(['kel-sekip-jaya', 'kec-kemuning']);
    host.pages.set(
      '/opd.html',
      hostPage(
        'SIPANDAI — Dishub',
        `<section class="card"><h2>Kantor Kelurahan Sekip Jaya</h2><div class="body">
           <iframe id="ok" title="CCTV Sekip Jaya" allow="fullscreen; autoplay" src="${stack.base}/embed/kel-sekip-jaya?token=${token}"></iframe></div></section>
         <section class="card"><h2>Kantor Kelurahan Plaju Ulu</h2><div class="body">
           <iframe id="bad" title="CCTV Plaju Ulu" allow="fullscreen; autoplay" src="${stack.base}/embed/kel-plaju-ulu?token=${token}"></iframe></div></section>`,
      ),
    );
    embedPage = await newPage(1280, 620);
    await embedPage.goto(`${host.origin}/opd.html`);
    await waitFor('embed frames', async () => (await embedProbe().catch(() => null))?.state === 'live', 20_000);
    const a = (await embedProbe()).framesDecoded;
    await sleep(2000);
    expect((await embedProbe()).framesDecoded - a).toBeGreaterThan(30);
    const bad = embedPage.frameLocator('#bad');
    await bad.getByText('Akses ditolak').first().waitFor({ timeout: 10_000 });
    const text = await bad.locator('.stage-msg').textContent();
    console.log(`forbidden embed says: ${text}`);
    expect(text).toMatch(/tidak diizinkan/);
    expect(text).toContain('E_FORBIDDEN_STREAM');
    await embedPage.evaluate(() => {
      (window as unknown as { marker: number }).marker = 42;
    });
    await shot(embedPage, 'embed.png');
  });

  it('the <cctv-player> web component plays from another origin and reports events', async () => {
    const token = await mintEmbedToken(['kel-bukit-lama']);
    host.pages.set(
      '/component.html',
      hostPage(
        'SIPANDAI — komponen',
        `<section class="card"><h2>Kantor Kelurahan Bukit Lama</h2><div class="body">
           <cctv-player id="ok" stream="kel-bukit-lama" token="${token}" gateway="${stack.base}"></cctv-player></div></section>
         <section class="card"><h2>Kantor Kecamatan Plaju</h2><div class="body">
           <cctv-player id="bad" stream="kec-plaju" token="${token}" gateway="${stack.base}"></cctv-player></div></section>
         <script type="module">
           window.events = [];
           for (const el of document.querySelectorAll('cctv-player'))
             for (const n of ['playing', 'stalled', 'offline', 'error', 'reconnecting', 'reconnected', 'statechange'])
               el.addEventListener(n, (e) =>
                 window.events.push({ id: el.id, type: n, code: e.detail?.code ?? null, state: e.detail?.state, t: Date.now() }));
         </script>
         <script type="module" src="${stack.base}/cctv-player.js"></script>`,
      ),
    );
    componentPage = await newPage(1280, 620);
    await componentPage.goto(`${host.origin}/component.html`);
    type Ev = { id: string; type: string; code: string | null };
    const events = () => componentPage.evaluate(() => (window as unknown as { events: Ev[] }).events);
    await waitFor(
      'playing event',
      async () => (await events()).some((e) => e.id === 'ok' && e.type === 'playing'),
      20_000,
    );
    await waitFor(
      'error event',
      async () => (await events()).some((e) => e.id === 'bad' && e.type === 'error'),
      10_000,
    );
    const err = (await events()).find((e) => e.id === 'bad' && e.type === 'error');
    expect(err?.code).toBe('E_FORBIDDEN_STREAM');
    const a = await componentFrames();
    await sleep(2000);
    expect((await componentFrames()) - a).toBeGreaterThan(30);
    const state = await componentPage.evaluate(
      () => (document.querySelector('#bad') as unknown as { state: string }).state,
    );
    expect(state).toBe('forbidden');
    await shot(componentPage, 'component.png');
    // A wider token handed over with setToken(): the refused player plays, on the same connection.
    const wider = await mintEmbedToken(['kel-bukit-lama', 'kec-plaju']);
    await componentPage.evaluate(
      (t) => (document.querySelector('#bad') as unknown as { setToken: (t: string) => Promise<void> }).setToken(t),
      wider,
    );
    await waitFor(
      'playing after setToken',
      async () => (await events()).some((e) => e.id === 'bad' && e.type === 'playing'),
      15_000,
    );
  });

  it('embed, component and wall play again within 10 s of a gateway restart, without a page reload', async () => {
    const wall = await newPage(1280, 720);
    await wall.goto(`${stack.base}/?token=${stack.token()}`);
    // Other pages hold 3 consumers: the embed and the two web components.
    const w0 = await settledWall(wall, 'the wall to play', 3);
    const t0 = Date.now();
    await stack.restartGateway();
    const restarted = Date.now();
    const e0 = (await embedProbe()).framesDecoded;
    const c0 = await componentFrames();
    const [embedMs, componentMs, wallMs] = await Promise.all([
      waitFor('embed frames after restart', async () => (await embedProbe()).framesDecoded > e0 + 10, 10_000, 100).then(
        () => Date.now() - restarted,
      ),
      waitFor('component frames after restart', async () => (await componentFrames()) > c0 + 10, 10_000, 100).then(
        () => Date.now() - restarted,
      ),
      settledWall(wall, 'the wall to play again', 3, 10_000).then(() => Date.now() - restarted),
    ]);
    const w1 = await wallSnap(wall);
    console.log(
      `wall after the restart: ${w1.tiles.filter((t) => t.consuming).length} tiles consuming again ` +
        `(${w0.tiles.filter((t) => t.consuming).length} before), all visible live after ${wallMs} ms`,
    );
    console.log(
      `gateway restart took ${restarted - t0} ms; video again after: embed ${embedMs} ms, component ${componentMs} ms`,
    );
    type Ev = { id: string; type: string; code: string | null; state?: string; t: number };
    const timeline = (await componentPage.evaluate(() => (window as unknown as { events: Ev[] }).events))
      .filter((e) => e.id === 'ok' && e.t >= t0)
      .map((e) => `${e.t - restarted} ${e.type}${e.state ? `:${e.state}` : ''}${e.code ? `:${e.code}` : ''}`);
    console.log(`component after the restart (ms since the new gateway listened): ${timeline.join(', ')}`);
    expect(embedMs).toBeLessThan(10_000);
    expect(componentMs).toBeLessThan(10_000);
    expect(wallMs).toBeLessThan(10_000);
    expect(await embedPage.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42);
    await embedPage.close();
    await componentPage.close();
    await wall.close();
  });
});
