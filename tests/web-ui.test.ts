// The wall, the phone view and the ops page as people see them (issue #18), in real Chromium against
// a real gateway with the demo's six offices (one kecamatan each, one camera dead): the wall fills a
// 1080p screen, its toolbar fits 1440 px, the phone view fits 320 px and its address follows the
// camera shown, a dead tile says why and since when, and no page mixes English into its Indonesian.
// Screenshots go to test-results/screenshots/ (git-ignored); their paths are printed.
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthStatus } from '../gateway/src/http/app.js';
import type { PlayerProbe } from '../web-client/src/LivePlayer.js';
import type { WallSnapshot } from '../web-client/src/wall.js';
import { gridLayout, headingRuns, parseGridChoice } from '../web-client/src/wallGrid.js';
import { type Browser, launchBrowser } from './support/browser.js';
import { startCityStack } from './support/cityStack.js';
import { type Stack, waitFor } from './support/stack.js';

const SHOTS = path.resolve('test-results/screenshots');
/** The demo's cameras (config/default.yaml): six offices in six kecamatan; Talang Betutu's is dead here. */
const OFFICES = [
  { id: 'kel-20-ilir-d-i', name: 'Kantor Kelurahan 20 Ilir D I', kecamatan: 'Ilir Timur I', sub: false as const },
  { id: 'kel-sekip-jaya', name: 'Kantor Kelurahan Sekip Jaya', kecamatan: 'Kemuning', sub: false as const },
  { id: 'kel-plaju-ulu', name: 'Kantor Kelurahan Plaju Ulu', kecamatan: 'Plaju', sub: false as const },
  { id: 'kel-bukit-lama', name: 'Kantor Kelurahan Bukit Lama', kecamatan: 'Ilir Barat I' },
  {
    id: 'kec-seberang-ulu-i',
    name: 'Kantor Kecamatan Seberang Ulu I',
    kecamatan: 'Seberang Ulu I',
    sub: false as const,
  },
];
const DEAD = 'kel-talang-betutu';

let stack: Stack;
let browser: Browser;
const shots: string[] = [];

async function newPage(width: number, height: number, opts: { isMobile?: boolean } = {}): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height }, hasTouch: !!opts.isMobile, ...opts });
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  const file = path.join(SHOTS, name);
  await page.screenshot({ path: file });
  shots.push(file);
  console.log(`screenshot: ${file}`);
}

const wallSnap = (page: Page): Promise<WallSnapshot> =>
  page.evaluate(() => (window as unknown as { cctvWall: () => WallSnapshot }).cctvWall());

/** The wall with the dead camera known down and every other tile live. */
async function openWall(page: Page, token: string): Promise<WallSnapshot> {
  await page.goto(`${stack.base}/?token=${token}`);
  return waitFor(
    'the wall settled (5 live, the dead one down)',
    async () => {
      const s = await wallSnap(page);
      const dead = s.tiles.find((t) => t.id === DEAD);
      const ok =
        s.ready &&
        s.tiles.length === 6 &&
        dead?.health === 'down' &&
        dead.state === 'offline' &&
        s.tiles.filter((t) => t.id !== DEAD).every((t) => t.state === 'live');
      return ok ? s : undefined;
    },
    30_000,
    250,
  );
}

// ---------------------------------------------------------------- the language check
/**
 * Words the pages may use that are not Indonesian: names of protocols, codecs and units an operator
 * reads as they are (CCTV, WebRTC, RTSP, ONVIF, TURN, UDP, TCP, H.264, CPU, RTT), units (fps, kbps,
 * Mbps, ms), WIB (the time zone), "gateway" (the product, cctv-gateway, and the word Indonesian IT
 * uses), "tab" (of a browser; in Indonesian usage), the key Esc named on a button, and "Command
 * Center", the institution's own name (Command Center Kominfo).
 */
const ALLOWED = new Set(
  'cctv webrtc rtsp onvif turn udp tcp h cpu rtt fps kbps mbps ms wib gateway tab esc id ok command center'.split(' '),
);

/**
 * Common English words (a few hundred), without those that are Indonesian words too or loans the
 * pages use as Indonesian ("data", "status", "video", "mode", "per", "admin", "token", "total",
 * "normal", "server", "kamera"). The words users found mixed in are on it (offline, main, frame,
 * bitrate, stream, live, egress, ingest, worker, node, now, min), so a relapse fails.
 */
const ENGLISH = new Set(
  `the be to of and a in that have it for not on with he as you do at this but his by from they we say her
she or an will my one all would there their what so up out if about who get which go me when make can like
time no just him know take people into year your good some could them see other than then now look only come
its over think also back after use two how our work first well way even new want because any these give day
most us is are was were been has had did does done doing said says made making went gone going got getting
camera cameras stream streams streaming live online offline connecting connected connection disconnected
reconnecting starting started start stop stopped stopping loading loaded error errors failed failure fail
unknown unauthorized forbidden denied access granted busy idle stalled ready waiting wait retry retrying
next previous prev close open opened search filter filters grid sort sorted sorting order name names
snapshot snapshots picture pictures image images quality full main sub high low saver save settings setting
stats statistics frame frames rate bitrate codec resolution packets packet lost loss delay latency jitter
buffer decode decoded decoding encode viewer viewers watch watching watched view views page pages home
screen screens fullscreen wall tiles tile sound mute muted unmute play playing paused pause resume
sign signed signin login logout log logs account user users password session sessions expired expires
egress ingest worker workers node nodes capacity load used usage traffic cluster health healthy down
since last seen contact checked check reason reasons cause unreachable reachable refused timeout timed
minutes minute min seconds second hours hour today yesterday ago never always
show hide shown hidden more less all none other others every each some any many much few
camera's office offices district districts city center command operator operators operations
yes please help about contact menu button click tap swipe here there where why what which
good bad best better great small large big little long short top bottom left right up down
ok okay cancel confirm submit apply reset clear select selected choose choice chosen auto automatic
light dark theme color colour language english
of off on in out over under above below between through during before after while until
you he she it we they me him her us them my your his its our their mine yours`
    .split(/\s+/)
    .filter((w) => w && !ALLOWED.has(w)),
);

/** The English words in `text` (lower case, each once); error codes (E_STREAM_OFFLINE) are identifiers, not words. */
function englishWords(text: string): string[] {
  const words =
    text
      .replace(/\bE_[A-Z0-9_]+\b/g, ' ')
      .toLowerCase()
      .match(/\p{L}+(?:'\p{L}+)?/gu) ?? [];
  return [...new Set(words.filter((w) => ENGLISH.has(w) && !ALLOWED.has(w)))];
}

/** The lines of `text` with English in them (printed, so a failure says where). */
function englishLines(text: string): string[] {
  return text.split('\n').filter((l) => englishWords(l).length > 0);
}

/** Everything a person reads on the page: its text, the title, and the tooltip, label and placeholder attributes. */
function pageWords(page: Page): Promise<string> {
  return page.evaluate(() => {
    const attrs = [...document.querySelectorAll('[title],[aria-label],[placeholder],option')].flatMap((el) => [
      el.getAttribute('title') ?? '',
      el.getAttribute('aria-label') ?? '',
      el.getAttribute('placeholder') ?? '',
      el instanceof HTMLOptionElement ? el.text : '',
    ]);
    // biome-ignore lint/performance/useDomNodeTextContent: what is rendered (innerText), not hidden text
    return [document.title, document.body.innerText, ...attrs].join('\n');
  });
}

beforeAll(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  stack = await startCityStack({
    offices: OFFICES,
    // The dead office: nothing listens on its camera's port.
    extraCameras: [
      {
        id: DEAD,
        name: 'Kantor Kelurahan Talang Betutu',
        kecamatan: 'Sukarami',
        main: { url: 'rtsp://127.0.0.1:9/live' },
      },
    ],
    config: {
      ingest: { idleTimeoutSec: 3, connectTimeoutSec: 2 },
      health: { checkIntervalSec: 2 },
      log: { level: 'warn' },
    },
  });
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  if (shots.length) console.log(`screenshots in ${SHOTS}: ${shots.map((f) => path.basename(f)).join(', ')}`);
});

describe('the wall grid (pure)', () => {
  it('fills a 1080p screen with six cameras in six kecamatan, scrolls 25 at 1440 px, N×N per screen', () => {
    const six = ['a', 'b', 'c', 'd', 'e', 'f'];
    const g = gridLayout({ groups: six, width: 1900, height: 950, gap: 8, bar: 34, head: 20, choice: 'auto' });
    expect(g).toMatchObject({ cols: 3, rows: 2, fits: true, headings: true });
    expect(g.rowHeight * 2 * 1900).toBeGreaterThan(0.7 * 1900 * 950);
    const many = Array.from({ length: 25 }, (_, i) => `k${Math.floor(i / 4)}`);
    expect(gridLayout({ groups: many, width: 1400, height: 700, gap: 8, bar: 34, head: 20, choice: 'auto' }).fits).toBe(
      false,
    );
    const three = gridLayout({ groups: many, width: 1400, height: 700, gap: 8, bar: 34, head: 20, choice: 3 });
    expect(three).toMatchObject({ cols: 3, rows: 9, fits: false });
    expect(three.rowHeight).toBeCloseTo((700 - 3 * 28 - 2 * 8) / 3, 5);
    expect(headingRuns(['x', 'x', 'y', 'y', 'y'], 3)).toEqual([
      { row: 0, start: 0, end: 2, group: 'x' },
      { row: 0, start: 2, end: 3, group: 'y' },
      { row: 1, start: 0, end: 2, group: 'y' },
    ]);
    expect([parseGridChoice('4'), parseGridChoice('9'), parseGridChoice(null)]).toEqual([4, 'auto', 'auto']);
  });

  it('the language check finds English (it can fail)', () => {
    expect(
      englishWords('Offline · Kamera offline · Kualitas penuh (main) · Frame rate / Bitrate · Stream live 4/7'),
    ).toEqual(['offline', 'main', 'frame', 'rate', 'bitrate', 'stream', 'live']);
    expect(englishWords('Kamera terputus: sambungan ditolak · sejak 08.14 · 25 fps · WebRTC · CCTV')).toEqual([]);
  });
});

describe('the wall in Chromium', () => {
  let page: Page;
  const operator = () => stack.token(['*'], 600, 'operator', 'cc-operator');

  it('the six cameras fill at least 70 % of a 1920×1080 screen with video tiles', async () => {
    page = await newPage(1920, 1080);
    await openWall(page, operator());
    const m = await page.evaluate(() => {
      const vw = window.innerWidth;
      const vh = window.innerHeight;
      let tiles = 0;
      let pictures = 0;
      for (const el of document.querySelectorAll<HTMLElement>('.tile:not([hidden])')) {
        const r = el.getBoundingClientRect();
        const w = Math.max(0, Math.min(r.right, vw) - Math.max(r.left, 0));
        const h = Math.max(0, Math.min(r.bottom, vh) - Math.max(r.top, 0));
        tiles += w * h;
        // The picture itself inside the tile (object-fit: contain): 16:9 within the video box.
        const v = el.querySelector('video') as HTMLVideoElement;
        const vr = v.getBoundingClientRect();
        const ratio = v.videoWidth && v.videoHeight ? v.videoWidth / v.videoHeight : 16 / 9;
        const pw = Math.min(vr.width, vr.height * ratio);
        pictures += pw * (pw / ratio);
      }
      return {
        tiles: tiles / (vw * vh),
        pictures: pictures / (vw * vh),
        cols: document.getElementById('board')?.dataset['cols'],
      };
    });
    console.log(
      `wall 1920×1080, 6 cameras: tiles cover ${(m.tiles * 100).toFixed(1)} % of the screen ` +
        `(the pictures themselves, letterboxed: ${(m.pictures * 100).toFixed(1)} %), ${m.cols} columns`,
    );
    await shot(page, 'ui-wall-1080p.png');
    expect(m.tiles).toBeGreaterThanOrEqual(0.7);
    expect(m.cols).toBe('3');
  });

  it('a chosen grid size fills the screen by rows and is remembered; sort puts the dead camera first', async () => {
    await page.selectOption('#wall-grid', '2');
    await waitFor('2 columns', async () => (await page.locator('#board').getAttribute('data-cols')) === '2', 3000);
    const rows = await page.evaluate(() => {
      const vh = window.innerHeight;
      return [...document.querySelectorAll<HTMLElement>('.tile')].filter(
        (t) => t.getBoundingClientRect().bottom <= vh + 1,
      ).length;
    });
    expect(rows).toBe(4); // 2×2 per screen
    await page.selectOption('#wall-sort', 'offline');
    const first = await waitFor(
      'the dead tile first',
      async () => {
        const r = await page.evaluate(() => {
          const tiles = [...document.querySelectorAll<HTMLElement>('.tile')].map((t) => {
            const b = t.getBoundingClientRect();
            return { id: t.dataset['id'] ?? '', y: Math.round(b.top), x: Math.round(b.left) };
          });
          tiles.sort((a, b) => a.y - b.y || a.x - b.x);
          return { first: tiles[0]?.id, head: document.querySelector('.group-head')?.textContent ?? '' };
        });
        return r.first === 'kel-talang-betutu' ? r : undefined;
      },
      5000,
    );
    expect(first.head).toMatch(/^Kamera terputus/);
    await page.reload();
    await waitFor('the wall again', async () => (await wallSnap(page)).ready, 10_000);
    expect(await page.locator('#wall-grid').inputValue()).toBe('2');
    expect(await page.locator('#wall-sort').inputValue()).toBe('offline');
    await page.selectOption('#wall-grid', 'auto');
    await page.selectOption('#wall-sort', 'kecamatan');
    await page.close();
  });

  it('at 1440×900 no toolbar item is clipped', async () => {
    page = await newPage(1440, 900);
    await openWall(page, stack.token());
    const items = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('.toolbar > *, .toolbar .chip')].map((el) => {
        const r = el.getBoundingClientRect();
        const parent = el.parentElement as HTMLElement;
        const pr = parent.getBoundingClientRect();
        return {
          what: el.className || el.tagName,
          text: el.textContent?.trim().slice(0, 30),
          inViewport: r.left >= 0 && r.right <= window.innerWidth && r.top >= 0 && r.bottom <= window.innerHeight,
          inParent: r.left >= pr.left - 0.5 && r.right <= pr.right + 0.5,
          fits: el.scrollWidth <= el.clientWidth,
        };
      }),
    );
    const bad = items.filter((i) => !i.inViewport || !i.inParent || !i.fits);
    console.log(
      `toolbar at 1440 px: ${items.length} items (${items.filter((i) => i.what === 'chip').length} chips), clipped: ${JSON.stringify(bad)}`,
    );
    await shot(page, 'ui-wall-1440.png');
    expect(items.length).toBeGreaterThan(8);
    expect(bad).toEqual([]);
  });

  it("the dead camera's tile says why and since when, below the camera's own clock", async () => {
    // The operator's wall: the gateway gives operators the reason (viewers get state and since when).
    const op = await newPage(1440, 900);
    await openWall(op, operator());
    const res = await fetch(`${stack.base}/api/streams`, { headers: { authorization: `Bearer ${operator()}` } });
    const api = (await res.json()) as { streams: { id: string; variants: { health: HealthStatus }[] }[] };
    const health = api.streams.find((s) => s.id === DEAD)?.variants[0]?.health as HealthStatus;
    const tile = op.locator(`.tile[data-id="${DEAD}"]`);
    const text = (await tile.locator('.tile-off').textContent())?.trim() ?? '';
    const badge = await tile.locator('.badge').evaluate((b) => {
      const r = b.getBoundingClientRect();
      const v = (b.closest('.tile') as HTMLElement).querySelector('video')?.getBoundingClientRect() as DOMRect;
      return {
        text: b.textContent?.trim(),
        overVideo: r.bottom > v.top && r.top < v.bottom && r.right > v.left && r.left < v.right,
      };
    });
    const hhmm = new Date(health.since).toLocaleTimeString('id-ID', {
      hour: '2-digit',
      minute: '2-digit',
      timeZone: 'Asia/Jakarta',
    });
    console.log(
      `dead tile (operator): "${text}"; gateway: ${health.state}, "${health.reason}", since ${health.since}; badge "${badge.text}", over the video: ${badge.overVideo}`,
    );
    expect(health.reason).toMatch(/refused|ECONNREFUSED/i);
    expect(text).toBe(`Kamera terputus: sambungan ditolak · sejak ${hhmm}`);
    expect(badge).toEqual({ text: 'Terputus', overVideo: false });
    await shot(op, 'ui-wall-dead-tile.png');
    await op.close();
    // A viewer's wall: no reason from the gateway, still the state and since when.
    const viewerText = (await page.locator(`.tile[data-id="${DEAD}"] .tile-off`).textContent())?.trim();
    expect(viewerText).toBe(`Kamera terputus · sejak ${hhmm}`);
  });

  it('the wall speaks Indonesian (header, toolbar, tiles, the fullscreen view)', async () => {
    const words = [await pageWords(page)];
    await page.click('.tile[data-id="kel-sekip-jaya"] .tile-hit');
    await waitFor('the fullscreen view', async () => (await wallSnap(page)).focus?.state === 'live', 15_000);
    words.push(await pageWords(page));
    // The fullscreen view's state is in its bar, not over the picture.
    expect(await page.locator('.focus-bar .badge').textContent()).toBe('Langsung');
    expect(await page.locator('.focus .stage-top').isVisible()).toBe(false);
    await page.keyboard.press('Escape');
    const english = englishWords(words.join('\n'));
    console.log(
      `wall: ${words.join(' ').split(/\s+/).length} words read, English: ${JSON.stringify(english)} in ${JSON.stringify(englishLines(words.join('\n')))}`,
    );
    expect(english).toEqual([]);
    await page.close();
  });
});

describe('the phone view at 320×640', () => {
  const probe = (page: Page) => page.evaluate(() => (window as unknown as { cctvPlayer: PlayerProbe }).cctvPlayer);

  it('fits 320 px, the address follows a swipe and next, the error names the office', async () => {
    const page = await newPage(320, 640, { isMobile: true });
    await page.goto(`${stack.base}/m/kel-bukit-lama?token=${stack.token()}`);
    await waitFor('live', async () => (await probe(page)).state === 'live', 20_000);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    const next = await page.getByRole('button', { name: 'Kantor berikutnya' }).evaluate((b) => {
      const r = b.getBoundingClientRect();
      return { right: r.right, fits: b.scrollWidth <= b.clientWidth };
    });
    // No label cut short with an ellipsis ("Sebelumn…"): each button's text fits its box.
    const cut = await page
      .locator('.nav-row .btn span, .opt-row .btn span')
      .evaluateAll((els) => els.filter((e) => e.scrollWidth > e.clientWidth).map((e) => e.textContent));
    console.log(
      `phone 320 px: page ${width} px wide; "Berikutnya" ends at ${next.right} px; labels cut: ${JSON.stringify(cut)}`,
    );
    await shot(page, 'ui-phone-320.png');
    expect(cut).toEqual([]);
    expect(width).toBeLessThanOrEqual(320);
    expect(next.right).toBeLessThanOrEqual(320);
    expect(next.fits).toBe(true);

    // A swipe left on the video: the next office, and the address names it.
    const before = (await probe(page)).stream;
    const box = (await page.locator('.stage').boundingBox()) as { x: number; y: number; width: number; height: number };
    await page.evaluate(
      ({ x0, x1, y }) => {
        const stage = document.querySelector('.stage') as HTMLElement;
        const touch = (x: number) => new Touch({ identifier: 1, target: stage, clientX: x, clientY: y });
        stage.dispatchEvent(
          new TouchEvent('touchstart', { touches: [touch(x0)], changedTouches: [touch(x0)], bubbles: true }),
        );
        stage.dispatchEvent(new TouchEvent('touchend', { touches: [], changedTouches: [touch(x1)], bubbles: true }));
      },
      { x0: box.x + box.width - 20, x1: box.x + 20, y: box.y + box.height / 2 },
    );
    const swiped = await waitFor('the next office after the swipe', async () => {
      const p = await probe(page);
      return p.stream !== before ? p.stream : undefined;
    });
    expect(new URL(page.url()).pathname).toBe(`/m/${swiped}`);
    await page.getByRole('button', { name: 'Kantor berikutnya' }).click();
    const stepped = await waitFor('the one after', async () => {
      const p = await probe(page);
      return p.stream !== swiped ? p.stream : undefined;
    });
    expect(new URL(page.url()).pathname).toBe(`/m/${stepped}`);
    console.log(`phone: ${before} → swipe → ${swiped} → next → ${stepped}; address ${new URL(page.url()).pathname}`);
    const words = [await pageWords(page)];

    // The dead camera: its name and why, the buttons that cannot work disabled.
    await page.goto(`${stack.base}/m/${DEAD}`);
    await waitFor('offline', async () => (await probe(page)).state === 'offline', 20_000);
    const dead = await page.evaluate(() => ({
      title: document.getElementById('title')?.textContent ?? '',
      stats: (document.getElementById('stats-toggle') as HTMLButtonElement).disabled,
      next: (document.querySelector('button[aria-label="Kantor berikutnya"]') as HTMLButtonElement).disabled,
      width: document.documentElement.scrollWidth,
    }));
    console.log(`phone, dead camera: ${JSON.stringify(dead)}`);
    expect(dead).toEqual({ title: 'Kantor Kelurahan Talang Betutu', stats: true, next: false, width: 320 });
    await shot(page, 'ui-phone-dead.png');
    words.push(await pageWords(page));

    // A camera outside the token's list: no bare id, nothing to step to or measure.
    await page.goto(`${stack.base}/m/kel-plaju-ulu?token=${stack.token(['kel-bukit-lama'])}`);
    await waitFor('refused', async () => (await probe(page)).error === 'E_FORBIDDEN_STREAM', 15_000);
    const refused = await page.evaluate(() => ({
      title: document.getElementById('title')?.textContent ?? '',
      buttons: [...document.querySelectorAll<HTMLButtonElement>('.nav-row button, .opt-row button')].map(
        (b) => b.disabled,
      ),
    }));
    console.log(`phone, refused: ${JSON.stringify(refused)}`);
    expect(refused.title).not.toContain('kel-plaju-ulu');
    expect(refused.buttons).toEqual([false, false, true, true]); // to the one office allowed; no saver, no stats
    words.push(await pageWords(page));
    const english = englishWords(words.join('\n'));
    console.log(`phone view English: ${JSON.stringify(english)} in ${JSON.stringify(englishLines(words.join('\n')))}`);
    expect(english).toEqual([]);
    await page.close();
  });
});

describe('the embedded player', () => {
  it("lets the camera's own clock show: its bar fades out once live, and a pointer brings it back", async () => {
    const page = await newPage(640, 360);
    await page.goto(`${stack.base}/embed/kel-20-ilir-d-i?token=${stack.token()}`);
    await waitFor('live', async () => (await page.locator('.stage').getAttribute('data-state')) === 'live', 20_000);
    const opacity = () => page.locator('.stage-top').evaluate((e) => Number(getComputedStyle(e).opacity));
    const atStart = await opacity();
    await waitFor('calm', async () => (await opacity()) === 0, 8000);
    await page.mouse.move(320, 180);
    await waitFor('the bar back on a pointer', async () => (await opacity()) === 1, 2000);
    console.log(`embed: bar opacity ${atStart} when live, 0 after a few seconds, 1 under the pointer`);
    await page.close();
  });
});

describe('the ops page', () => {
  it('names offices, counts cameras and streams apart, shows camera health, in Indonesian', async () => {
    const page = await newPage(1440, 900);
    await page.goto(`${stack.base}/ops.html?token=${stack.token(['*'], 600, 'operator', 'ops')}`);
    await waitFor('the table', async () => (await page.locator('#t-streams tr').count()) === 7, 20_000);
    const rows = await page
      .locator('#t-streams tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    const cams = await page.locator('#k-cams').textContent();
    const streamsLive = await page.locator('#k-live').textContent();
    console.log(`ops: cameras ${cams}, streams ${streamsLive}; rows ${JSON.stringify(rows.slice(0, 3))}…`);
    expect(rows.map((r) => r[0])).toContain('Kantor Kelurahan Bukit Lama');
    expect(rows.flat().some((c) => /^kel-|^kec-/.test(c))).toBe(false);
    expect(cams).toMatch(/^\d\/6$/); // six cameras (Bukit Lama has two streams: seven)
    expect(streamsLive).toMatch(/^\d\/7$/);
    expect(rows.find((r) => r[0] === 'Kantor Kelurahan Talang Betutu')?.[2]).toBe('Kamera terputus');
    await shot(page, 'ui-ops.png');
    const text = await pageWords(page);
    const english = englishWords(text);
    console.log(`ops page English: ${JSON.stringify(english)} in ${JSON.stringify(englishLines(text))}`);
    expect(english).toEqual([]);
    await page.close();
  });
});
