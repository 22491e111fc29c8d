// Debian's Chromium driven by playwright-core, with the flags that keep it offline and let WebRTC
// use loopback (tests run in a private network namespace: see scripts/netns.sh).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

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
];

export async function launchBrowser(): Promise<BrowserContext> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cctv-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
    ignoreDefaultArgs: ['--headless=old'],
    viewport: { width: 1280, height: 800 },
  });
  // Chromium may still be writing its profile as it exits: remove it best-effort.
  ctx.once(
    'close',
    () => void fs.promises.rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }).catch(() => {}),
  );
  return ctx;
}

export interface PlayerProbe {
  stream: string | null;
  state: string;
  error: string | null;
  framesDecoded: number;
  codec: string | null;
  requestedAt: number | null;
  firstFrameAt: number | null;
}
