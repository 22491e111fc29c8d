// The gateway's player page (web-client, `/?token=…&stream=…`) in headless Chromium, and what the
// page tells about itself on `window.cctvPlayer`.
import type { Page } from 'playwright-core';
import type { WallSnapshot } from '../../web-client/src/wall.js';
import type { Browser, PlayerProbe } from './browser.js';
import { sleep, waitFor } from './stack.js';

export const probe = (page: Page): Promise<PlayerProbe> =>
  page.evaluate(() => (window as unknown as { cctvPlayer: PlayerProbe }).cctvPlayer);

export const wallSnap = (page: Page): Promise<WallSnapshot> =>
  page.evaluate(() => (window as unknown as { cctvWall: () => WallSnapshot }).cctvWall());

/** Waits until the wall is ready and every tile on screen plays (has decoded frames). */
export function wallPlays(page: Page, what = 'the visible tiles to play'): Promise<WallSnapshot> {
  return waitFor(
    what,
    async () => {
      const s = await wallSnap(page);
      const visible = s.tiles.filter((t) => t.visible);
      return s.ready && visible.length > 0 && visible.every((t) => t.state === 'live' && t.framesDecoded > 0)
        ? s
        : undefined;
    },
    45_000,
    250,
  );
}

/** A new window on the player page of `stream` (`query`: more options, e.g. `&latency=low`); page errors go to the test's output. */
export async function openPlayer(
  browser: Browser,
  base: string,
  token: string,
  stream: string,
  query = '',
): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  await page.goto(`${base}/?token=${token}&stream=${stream}${query}`);
  return page;
}

/** Frames decoded during `ms` after the first one, which must come within `firstWithinMs`. */
export async function framesAfterFirst(
  page: Page,
  ms: number,
  firstWithinMs = 15_000,
): Promise<{ frames: number; p: PlayerProbe }> {
  await waitFor('first decoded frame', async () => (await probe(page)).firstFrameAt !== null, firstWithinMs);
  const start = (await probe(page)).framesDecoded;
  await sleep(ms);
  const p = await probe(page);
  return { frames: p.framesDecoded - start, p };
}

/**
 * A camera outage seen from a playing page: `stop` the camera, wait until the page has really stopped
 * receiving frames, keep it away 3 s more, `start` it, and return how long after that the page had
 * decoded 5 new frames (failing past `withinMs`), with no reload.
 */
export async function resumeAfterOutage(
  page: Page,
  stop: () => Promise<void>,
  start: () => Promise<void>,
  withinMs = 5000,
): Promise<number> {
  await stop();
  await waitFor(
    'frames to stop',
    async () => {
      const a = (await probe(page)).framesDecoded;
      await sleep(1000);
      return (await probe(page)).framesDecoded === a;
    },
    15_000,
    0,
  );
  await sleep(3000);
  const before = (await probe(page)).framesDecoded;
  await start();
  const back = Date.now();
  await waitFor('frames to resume', async () => (await probe(page)).framesDecoded > before + 5, withinMs);
  return Date.now() - back;
}
