// The gateway's player page (web-client, `/?token=…&stream=…`) in headless Chromium, and what the
// page tells about itself on `window.cctvPlayer`.
import type { Page } from 'playwright-core';
import type { Browser, PlayerProbe } from './browser.js';
import { sleep, waitFor } from './stack.js';

export const probe = (page: Page): Promise<PlayerProbe> =>
  page.evaluate(() => (window as unknown as { cctvPlayer: PlayerProbe }).cctvPlayer);

/** A new window on the player page of `stream`; page errors go to the test's output. */
export async function openPlayer(browser: Browser, base: string, token: string, stream: string): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  await page.goto(`${base}/?token=${token}&stream=${stream}`);
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
