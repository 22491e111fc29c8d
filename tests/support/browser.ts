// Debian's Chromium driven by playwright-core, with the flags that keep it offline and let WebRTC
// use loopback (tests run in a private network namespace: see scripts/netns.sh).
import { type BrowserContextOptions, chromium, type Page, type Browser as PlaywrightBrowser } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--allow-loopback-in-peer-connection',
  // Several pages play at once in one browser: keep background tabs rendering and decoding.
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
  '--disable-renderer-backgrounding',
];

/**
 * One headless Chromium; every page gets a context (window) of its own, like a separate viewer.
 * Tabs of one window would not do: a background tab stops presenting frames.
 */
export interface Browser {
  newPage(options?: BrowserContextOptions): Promise<Page>;
  close(): Promise<void>;
}

/** Debian's Chromium with CHROMIUM_ARGS; `disableFeatures` are added to its --disable-features. */
export function launchChromium(disableFeatures: string[] = []): Promise<PlaywrightBrowser> {
  const args = CHROMIUM_ARGS.map((a) =>
    a.startsWith('--disable-features=') && disableFeatures.length ? `${a},${disableFeatures.join(',')}` : a,
  );
  return chromium.launch({
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    headless: true,
    args,
    ignoreDefaultArgs: ['--headless=old'],
  });
}

export async function launchBrowser(): Promise<Browser> {
  const browser = await launchChromium();
  return {
    newPage: async (options) => {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
      const page = await ctx.newPage();
      page.once('close', () => void ctx.close().catch(() => {}));
      return page;
    },
    close: () => browser.close(),
  };
}

/** What the player page says about itself on `window.cctvPlayer` (the web client's own type). */
export type { PlayerProbe } from '../../web-client/src/LivePlayer.js';
