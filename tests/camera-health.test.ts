import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthStatus } from '../gateway/src/http/app.js';
import { CameraSimulator } from '../gateway/src/sim/CameraSimulator.js';
import { HEALTH_LABEL, sinceText } from '../web-client/src/labels.js';
import type { WallSnapshot } from '../web-client/src/wall.js';
import { type Browser, launchBrowser } from './support/browser.js';
import { silentServer } from './support/silentServer.js';
import { gatewayOnSim, type Stack, waitFor } from './support/stack.js';

const INTERVAL_SEC = 4;
const CONNECT_TIMEOUT_SEC = 4; // a healthy clip mount answers DESCRIBE once prerolled (up to a GOP), slower on a busy machine
const LIVE = Array.from({ length: 17 }, (_, i) => `kel-sehat-${String(i + 1).padStart(2, '0')}`);
const REFUSED = 'kel-mati-port'; // nothing listens on its port
const STOPPED = 'kel-mati-mount'; // the simulator no longer serves its mount (404)
const HUNG = 'kel-mati-diam'; // accepts, never answers
const DEAD = [REFUSED, STOPPED, HUNG];
const LOCKED = 'kel-sandi-salah'; // its password was changed on the camera

let sim: CameraSimulator;
let stack: Stack;
let browser: Browser | undefined;
let hung: { port: number; close(): void };
let startedAt = 0;
let failedLogins = 0;

/** cctv_camera_up by stream (main variant), from one scrape. */
async function cameraUp(): Promise<{ up: Map<string, number>; text: string }> {
  const text = await (await fetch(`${stack.base}/metrics`)).text();
  const up = new Map<string, number>();
  for (const m of text.matchAll(/^cctv_camera_up\{stream="([^"]+)",variant="main"\} (\S+)$/gm))
    up.set(m[1] as string, Number(m[2]));
  return { up, text };
}

interface VariantStatus {
  name: string;
  state: string;
  lastError?: string | null;
  health: HealthStatus;
}
async function streams(token: string): Promise<Map<string, VariantStatus>> {
  const res = await fetch(`${stack.base}/api/streams`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { streams: { id: string; variants: VariantStatus[] }[] };
  return new Map(body.streams.map((s) => [s.id, s.variants[0] as VariantStatus]));
}

beforeAll(async () => {
  hung = await silentServer(); // a camera whose firmware hangs
  // One small clip for all (same settings and label: encoded once, cached).
  const clip = { profile: 'baseline' as const, width: 320, height: 180, fps: 15, gop: 15, bitrateKbps: 150 };
  sim = await CameraSimulator.start({
    cameras: [
      ...[...LIVE, STOPPED].map((id) => ({ id, ...clip, label: 'health' })),
      { id: LOCKED, ...clip, label: 'health', auth: { method: 'digest' as const, user: 'cc', password: 'new-Pass-1' } },
    ],
  });
  sim.onEvent((e) => {
    if (e.event === 'auth' && e.id === LOCKED && e.ok === false) failedLogins++;
  });
  await sim.stopCamera(STOPPED);
  const office = (id: string, kecamatan: string, url: string) => ({
    id,
    name: `Kantor Kelurahan ${id.replace(/^kel-/, '').replace(/-/g, ' ')}`,
    kecamatan,
    main: { url },
    ingest: 'packet',
  });
  const cameras = [
    // The live ones first on the wall (kecamatan sort order), the dead ones at its bottom.
    ...LIVE.map((id, i) => office(id, i < 9 ? 'Ilir Barat I' : 'Kemuning', sim.url(id))),
    office(REFUSED, 'Sukarami', 'rtsp://127.0.0.1:9/live'),
    office(STOPPED, 'Sukarami', sim.url(STOPPED)),
    office(HUNG, 'Sukarami', `rtsp://127.0.0.1:${hung.port}/stream1`),
  ];
  stack = await gatewayOnSim(sim, cameras, {
    media: { workers: 1 },
    ingest: { connectTimeoutSec: CONNECT_TIMEOUT_SEC, idleTimeoutSec: 2 },
    health: { checkIntervalSec: INTERVAL_SEC },
  });
  startedAt = Date.now();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  hung?.close();
});

describe('camera health with nobody watching', () => {
  it('reports exactly the 3 dead cameras down within one check interval, and no live one ever', async () => {
    const seenDown = new Map<string, number>();
    const falseDown = new Set<string>();
    let firstScrape: number | undefined;
    const { up, text } = await waitFor(
      'cctv_camera_up 0 for the 3 dead and 1 for the 17 live',
      async () => {
        const r = await cameraUp();
        firstScrape ??= r.up.size;
        const t = (Date.now() - startedAt) / 1000;
        for (const [id, v] of r.up) {
          if (v === 0 && !seenDown.has(id)) seenDown.set(id, t);
          if (v === 0 && !DEAD.includes(id)) falseDown.add(id);
        }
        const done =
          r.up.size === 20 && DEAD.every((id) => r.up.get(id) === 0) && LIVE.every((id) => r.up.get(id) === 1);
        return done ? r : undefined;
      },
      (INTERVAL_SEC + CONNECT_TIMEOUT_SEC + 4) * 1000,
      100,
    );
    const allKnownSec = (Date.now() - startedAt) / 1000;
    console.log(
      `all 20 known after ${allKnownSec.toFixed(1)} s (interval ${INTERVAL_SEC} s, connect timeout ${CONNECT_TIMEOUT_SEC} s); ` +
        `down seen at ${DEAD.map((id) => `${id} ${seenDown.get(id)?.toFixed(1)} s`).join(', ')}; ` +
        `samples of cctv_camera_up at the first scrape: ${firstScrape} (not yet known: no sample)`,
    );
    expect([...falseDown]).toEqual([]);
    expect(allKnownSec).toBeLessThan(INTERVAL_SEC + CONNECT_TIMEOUT_SEC + 1);
    expect([...up.values()].filter((v) => v === 0)).toHaveLength(3);
    // Nobody watched: every answer came from a health check, not an ingest.
    expect(stack.gateway.streams.variants().every((v) => !v.ingestRunning && v.viewers === 0)).toBe(true);
    // The other health metrics, for each camera; no URL or secret in any label.
    for (const id of [...LIVE, ...DEAD]) {
      expect(text).toContain(
        `cctv_camera_health_state{stream="${id}",variant="main",state="${up.get(id) ? 'up' : 'down'}"} 1`,
      );
      expect(text).toMatch(
        new RegExp(`^cctv_camera_health_since_timestamp_seconds\\{stream="${id}",variant="main"\\} \\d`, 'm'),
      );
    }
    const contacts = [...text.matchAll(/^cctv_camera_last_contact_timestamp_seconds\{stream="([^"]+)"/gm)].map(
      (m) => m[1],
    );
    expect(contacts.sort()).toEqual([...LIVE].sort());
    expect(text).not.toMatch(/rtsp:|127\.0\.0\.1:\d/);
  });

  it('gives their reason (operators) and since when (everyone) in /api/streams', async () => {
    const operator = await streams(stack.token(['*'], 600, 'operator', 'ops'));
    const viewer = await streams(stack.token());
    const reasons = Object.fromEntries(DEAD.map((id) => [id, operator.get(id)?.health.reason]));
    console.log(`reasons: ${JSON.stringify(reasons)}`);
    expect(reasons[REFUSED]).toMatch(/refused/i);
    expect(reasons[STOPPED]).toMatch(/404|not found/i);
    expect(reasons[HUNG]).toMatch(/no answer|timed out/i);
    for (const id of DEAD) {
      const h = operator.get(id)?.health as HealthStatus;
      expect(h.state).toBe('down');
      expect(Date.parse(h.since)).toBeGreaterThanOrEqual(startedAt - 1000);
      expect(Date.parse(h.since)).toBeLessThanOrEqual(Date.now());
      expect(h.lastContactAt).toBeNull(); // never answered since the gateway started
      expect(h.checkedAt).not.toBeNull();
      // A viewer sees that it is down and since when; the why is operator detail (as lastError is).
      const v = viewer.get(id) as VariantStatus;
      expect(v.health).toEqual({ state: 'down', since: h.since, lastContactAt: null });
      expect('lastError' in v).toBe(false);
    }
    for (const id of LIVE) {
      const h = operator.get(id)?.health as HealthStatus;
      expect(h).toMatchObject({ state: 'up', reason: null });
      expect(Date.parse(h.lastContactAt ?? '')).toBeGreaterThanOrEqual(startedAt - 1000);
    }
    expect(JSON.stringify([...operator.values()])).not.toMatch(/rtsp:/);
  });

  it('the wall in Chromium says "3 offline" whichever tiles are on screen, and why on each dead tile', async () => {
    browser = await launchBrowser();
    // A narrow screen: a few live tiles fit, the dead ones (at the bottom) are far below it.
    const page: Page = await browser.newPage({ viewport: { width: 420, height: 640 } });
    page.on('pageerror', (e) => console.error('[pageerror]', e.message));
    const t0 = Date.now();
    await page.goto(`${stack.base}/?token=${stack.token()}`);
    const snap = () => page.evaluate(() => (window as unknown as { cctvWall: () => WallSnapshot }).cctvWall());
    const offPill = page.locator('.counts .pill.off');
    await waitFor('the wall to count 3 offline', async () => (await offPill.textContent())?.trim() === '3 terputus');
    // Until the first health answer the count comes from the stream list's states: wait for the answer.
    const s = await waitFor('the health answer', async () => {
      const x = await snap();
      return x.healthAt > 0 ? x : undefined;
    });
    const visible = s.tiles.filter((t) => t.visible).map((t) => t.id);
    console.log(
      `wall: "3 offline" ${Date.now() - t0} ms after opening; ${visible.length} of ${s.tiles.length} tiles on screen (${visible.join(', ')})`,
    );
    expect(s.offline).toBe(3);
    expect(visible.length).toBeGreaterThan(0);
    expect(visible.length).toBeLessThan(LIVE.length);
    // The count is the gateway's: none of the dead tiles is on screen or was ever tried here.
    for (const id of DEAD) {
      const t = s.tiles.find((x) => x.id === id);
      expect(t).toMatchObject({ visible: false, consuming: false, framesDecoded: 0, health: 'down', state: 'offline' });
    }
    expect(s.tiles.filter((t) => !DEAD.includes(t.id)).every((t) => !t.offline)).toBe(true);

    // Only the dead ones on screen (the district filter), then only live ones (a search): still 3.
    await page.getByRole('button', { name: /^Sukarami/ }).click();
    const api = await streams(stack.token(['*'], 600, 'operator', 'ops'));
    for (const id of DEAD) {
      const msg = page.locator(`.tile[data-id="${id}"] .tile-off`);
      await msg.waitFor({ timeout: 5000 });
      const expected = `${HEALTH_LABEL.down} · ${sinceText(api.get(id)?.health.since as string)}`;
      expect((await msg.textContent())?.trim()).toBe(expected);
    }
    console.log(
      `a dead tile says: "${(await page.locator(`.tile[data-id="${HUNG}"] .tile-off`).textContent())?.trim()}"`,
    );
    await page.screenshot({ path: 'test-results/screenshots/wall-health-dead.png' }).catch(() => {});
    await page.setViewportSize({ width: 1280, height: 720 }); // the Command Center's screen: same 3 tiles
    await page.screenshot({ path: 'test-results/screenshots/wall-health-dead-desktop.png' }).catch(() => {});
    await page.setViewportSize({ width: 420, height: 640 });
    expect((await offPill.textContent())?.trim()).toBe('3 terputus');
    await page.getByRole('button', { name: /^Semua/ }).click();
    await page.fill('#wall-search', 'sehat 0');
    await waitFor('only live tiles shown', async () => (await snap()).tiles.filter((t) => !t.hidden).length === 9);
    expect((await offPill.textContent())?.trim()).toBe('3 terputus');
    await page.fill('#wall-search', '');

    // The stopped camera comes back: up within one interval; the wall (polling every 10 s) follows.
    const back = Date.now();
    await sim.startCamera(STOPPED);
    await waitFor(
      'the camera back up',
      async () => (await cameraUp()).up.get(STOPPED) === 1,
      (INTERVAL_SEC + 2) * 1000,
    );
    const upSec = (Date.now() - back) / 1000;
    await waitFor(
      'the wall to count 2 offline',
      async () => (await offPill.textContent())?.trim() === '2 terputus',
      15_000,
    );
    const wallSec = (Date.now() - back) / 1000;
    console.log(
      `camera back: cctv_camera_up 1 after ${upSec.toFixed(1)} s, the wall says "2 offline" after ${wallSec.toFixed(1)} s`,
    );
    const h = (await streams(stack.token(['*'], 600, 'operator', 'ops'))).get(STOPPED)?.health as HealthStatus;
    expect(h.state).toBe('up');
    expect(Date.parse(h.since)).toBeGreaterThanOrEqual(back);
    await page.close();
  });

  it("the operators' page lists the cameras that are down, with the reason and since when", async () => {
    const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (e) => console.error('[pageerror]', e.message));
    await page.goto(`${stack.base}/ops.html?token=${stack.token(['*'], 600, 'operator', 'ops')}`);
    const rows = page.locator('#t-down tr');
    await waitFor('two rows', async () => (await rows.count()) === 2, 5000);
    const table = await rows.evaluateAll((trs) =>
      trs.map((tr) => [
        ...[...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''),
        (tr as HTMLElement).dataset['stream'] ?? '',
        (tr as HTMLElement).dataset['reason'] ?? '',
      ]),
    );
    console.log(`ops page, down: ${JSON.stringify(table)}`);
    expect(await page.locator('#k-down').textContent()).toBe('2');
    // The office's name in the table; the id and the gateway's own reason as data attributes.
    expect(table.map((r) => r[6])).toEqual(expect.arrayContaining([REFUSED, HUNG]));
    expect(table.map((r) => r[0])).toEqual(
      expect.arrayContaining([expect.stringContaining('mati port'), expect.stringContaining('mati diam')]),
    );
    for (const r of table) {
      expect(r[2]).toBe(HEALTH_LABEL.down);
      expect(r[3]).toMatch(/^(sambungan ditolak|tidak menjawab)$/);
      expect(r[7]).toMatch(/camera unreachable: /);
      expect(r[4]).toMatch(/^sejak \d{2}\.\d{2}$/);
      expect(r[5]).toBe('belum sejak gateway mulai');
    }
    await page.screenshot({ path: 'test-results/screenshots/ops-health.png' }).catch(() => {});
    await page.close();
  });
});

describe('a camera that rejects the password', () => {
  let locked: Stack;
  afterAll(async () => {
    await locked?.gateway.close(); // the simulator is the first stack's
  });

  it('is unauthorized in metrics, the API and on the wall, after one login and no more', async () => {
    locked = await gatewayOnSim(
      sim,
      [
        {
          id: LOCKED,
          name: 'Kantor Kelurahan Sandi Salah',
          main: { url: sim.url(LOCKED).replace('rtsp://', 'rtsp://cc:old-Pass-0@') },
        },
      ],
      { media: { workers: 1 }, ingest: { connectTimeoutSec: CONNECT_TIMEOUT_SEC }, health: { checkIntervalSec: 1 } },
    );
    const t0 = Date.now();
    const text = await waitFor(
      'cctv_camera_up 0 and the unauthorized state',
      async () => {
        const t = await (await fetch(`${locked.base}/metrics`)).text();
        return t.includes(`cctv_camera_up{stream="${LOCKED}",variant="main"} 0`) ? t : undefined;
      },
      5000,
    );
    expect(text).toContain(`cctv_camera_health_state{stream="${LOCKED}",variant="main",state="unauthorized"} 1`);
    const res = await fetch(`${locked.base}/api/streams/${LOCKED}`, {
      headers: { authorization: `Bearer ${locked.token(['*'], 600, 'operator', 'ops')}` },
    });
    const v = ((await res.json()) as { variants: VariantStatus[] }).variants[0] as VariantStatus;
    console.log(
      `password rejected: known after ${Date.now() - t0} ms; state ${v.state}, health ${JSON.stringify(v.health)}`,
    );
    expect(v.state).toBe('unauthorized');
    expect(v.health).toMatchObject({ state: 'unauthorized', reason: 'password rejected', lastContactAt: null });
    expect(JSON.stringify(v)).not.toContain('old-Pass-0');

    const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 720 } });
    await page.goto(`${locked.base}/?token=${locked.token()}`);
    const msg = page.locator(`.tile[data-id="${LOCKED}"] .tile-off`);
    await msg.waitFor({ timeout: 5000 });
    // "Kamera terputus" until the wall's first health answer for the tile, then why and since when.
    await expect
      .poll(async () => (await msg.textContent())?.trim(), { timeout: 5000 })
      .toBe(`${HEALTH_LABEL.unauthorized} · ${sinceText(v.health.since)}`);
    expect((await page.locator('.counts .pill.off').textContent())?.trim()).toBe('1 terputus');
    await page.screenshot({ path: 'test-results/screenshots/wall-health-password.png' }).catch(() => {});
    // Checks every second and a viewer on the wall: still the one login (the backoff is 5 minutes).
    await new Promise((r) => setTimeout(r, 3000));
    console.log(`failed logins at the camera in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${failedLogins}`);
    expect(failedLogins).toBe(1);
    await page.close();
  });
});

describe('since when, in words (WIB)', () => {
  it('says the time today, "kemarin" yesterday, and the date before that', () => {
    const now = new Date('2026-12-01T01:30:00Z'); // 08.30 WIB
    expect(sinceText('2026-11-30T23:14:00Z', now)).toBe('sejak 06.14'); // today in WIB, yesterday in UTC
    expect(sinceText('2026-11-30T15:10:00Z', now)).toBe('sejak kemarin 22.10');
    expect(sinceText('2026-11-28T03:05:00Z', now)).toBe('sejak 28 Nov 10.05');
    expect(sinceText('not a date', now)).toBe('');
  });
});
