// The four kinds of browser viewer of the web client (wall tile, phone view, iframe embed,
// <cctv-player> on another origin), each recorded by the heal probe, and where their transports live.
import type { Frame, Page } from 'playwright-core';
import type { WorkerSlot } from '../../gateway/src/media/WorkerSlot.js';
import type { PlayerProbe } from '../../web-client/src/LivePlayer.js';
import type { WallSnapshot } from '../../web-client/src/wall.js';
import type { Browser } from './browser.js';
import {
  firstNewFrame,
  framesSince,
  type Heal,
  pageUfrags,
  prepareHealProbe,
  slotsByUfrag,
  watchVideo,
} from './healProbe.js';
import type { HostServer } from './hostServer.js';
import { sleep, waitFor } from './stack.js';

export interface Viewer {
  name: string;
  stream: string;
  page: Page;
  /** The frame that holds the viewer's video and peer connection (the iframe for an embed). */
  frame(): Frame;
  /** The web client's own state for this viewer ('live', 'reconnecting', ...). */
  state(): Promise<string>;
}

async function newPage(browser: Browser, width = 800, height = 500): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height } });
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  await prepareHealProbe(page);
  return page;
}

const playerState = (f: Frame) =>
  f.evaluate(() => (window as unknown as { cctvPlayer?: PlayerProbe }).cctvPlayer?.state ?? 'none');

/** The phone view, /m/<stream>. */
export async function openPhone(
  browser: Browser,
  base: string,
  token: string,
  stream: string,
  name: string,
): Promise<Viewer> {
  const page = await newPage(browser, 390, 844);
  await page.goto(`${base}/m/${stream}?token=${token}`);
  await watchVideo(page.mainFrame(), name, '#video');
  return { name, stream, page, frame: () => page.mainFrame(), state: () => playerState(page.mainFrame()) };
}

/** The wall (/): one viewer per tile, all on the wall's one signalling connection. */
export async function openWall(
  browser: Browser,
  base: string,
  token: string,
  streams: string[],
  name = 'wall',
): Promise<Viewer[]> {
  const page = await newPage(browser, 1280, 800);
  await page.goto(`${base}/?token=${token}`);
  const snap = () => page.evaluate(() => (window as unknown as { cctvWall: () => WallSnapshot }).cctvWall());
  return Promise.all(
    streams.map(async (stream) => {
      await watchVideo(page.mainFrame(), `${name}:${stream}`, `.tile[data-id="${stream}"] video`);
      const state = async () => (await snap()).tiles.find((t) => t.id === stream)?.state ?? 'none';
      return { name: `${name}:${stream}`, stream, page, frame: () => page.mainFrame(), state };
    }),
  );
}

/** An iframe embed (/embed/<stream>?token=) in a page of another origin. */
export async function openEmbed(
  browser: Browser,
  host: HostServer,
  base: string,
  token: string,
  stream: string,
  name: string,
): Promise<Viewer> {
  host.pages.set(
    `/${name}.html`,
    `<!doctype html><title>${name}</title><iframe id="cam" style="width:640px;height:360px;border:0" ` +
      `allow="autoplay" src="${base}/embed/${stream}?token=${token}"></iframe>`,
  );
  const page = await newPage(browser);
  await page.goto(`${host.origin}/${name}.html`);
  const find = () => page.frames().find((f) => f.url().includes('/embed/'));
  const frame = await waitFor('the embed iframe', find, 10_000);
  await frame.waitForLoadState();
  await watchVideo(frame, name, 'cctv-player', true);
  return { name, stream, page, frame: () => find() ?? frame, state: () => playerState(find() ?? frame) };
}

/** The <cctv-player> web component on a page of another origin (in signaling.allowedOrigins). */
export async function openComponent(
  browser: Browser,
  host: HostServer,
  base: string,
  token: string,
  stream: string,
  name: string,
): Promise<Viewer> {
  host.pages.set(
    `/${name}.html`,
    `<!doctype html><title>${name}</title>` +
      `<cctv-player id="ok" stream="${stream}" token="${token}" gateway="${base}" style="width:640px"></cctv-player>` +
      `<script type="module" src="${base}/cctv-player.js"></script>`,
  );
  const page = await newPage(browser);
  await page.goto(`${host.origin}/${name}.html`);
  await watchVideo(page.mainFrame(), name, '#ok', true);
  const state = () =>
    page.evaluate(() => (document.querySelector('#ok') as unknown as { state?: string } | null)?.state ?? 'none');
  return { name, stream, page, frame: () => page.mainFrame(), state };
}

/** Waits until the viewer says 'live' and has presented `frames` frames in the last second. */
export async function waitPlaying(v: Viewer, timeoutMs = 20_000, frames = 10): Promise<void> {
  await waitFor(
    `${v.name} playing`,
    async () =>
      (await v.state()) === 'live' && (await framesSince(v.frame(), v.name, Date.now() - 1000)).length >= frames,
    timeoutMs,
    200,
  );
}

/** Slot index of each viewer's transport (undefined: on no serving slot). */
export async function placement(
  viewers: readonly Viewer[],
  slots: readonly WorkerSlot[],
): Promise<Map<Viewer, number>> {
  const byUfrag = await slotsByUfrag(slots);
  const out = new Map<Viewer, number>();
  for (const v of viewers) {
    const on = (await pageUfrags(v.frame())).map((u) => byUfrag.get(u)).filter((i) => i !== undefined);
    if (on.length) out.set(v, on.at(-1) as number);
  }
  return out;
}

/**
 * Polls until the viewer shows its first new frame after `killAt` and then goes on playing (5 more
 * frames), or `timeoutMs` passes (then undefined).
 */
export async function awaitHeal(v: Viewer, killAt: number, timeoutMs = 15_000): Promise<Heal | undefined> {
  const until = killAt + timeoutMs;
  while (Date.now() < until) {
    const frames = await framesSince(v.frame(), v.name, killAt - 3000).catch(() => []);
    const heal = firstNewFrame(frames, killAt);
    if (heal && frames.filter((f) => f[0] > killAt + heal.ms).length >= 5) return heal;
    await sleep(100);
  }
  return undefined;
}

/** Distinct frames (pages and iframes) of the viewers: one signalling connection and transport each. */
export function viewerFrames(viewers: readonly Viewer[]): Frame[] {
  return [...new Set(viewers.map((v) => v.frame()))];
}
