// Cameras as a city's cameras behave, on the real simulator configured for each case: a server that
// refuses RTP over TCP (461), a rejected password (and the account lockout it must not cause), a
// corrected password in the config file, B-frames, the FFmpeg path on a shared pipeline, a cold start
// on a 4 s GOP, and a live camera that dies.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchConfig } from '../gateway/src/configWatch.js';
import { createLogger } from '../gateway/src/log.js';
import { CameraSimulator, type SimCameraSpec } from '../gateway/src/sim/CameraSimulator.js';
import { type Browser, launchBrowser } from './support/browser.js';
import { framesAfterFirst, openPlayer, probe } from './support/player.js';
import { gatewayOnSim, type Stack, sleep, waitFor } from './support/stack.js';

const RIGHT = 'Kunci-Benar-2026';
const WRONG = 'Kunci-Lama-2019';
const base = { profile: 'baseline' as const, gop: 25, label: 'real-cameras' };
const simCameras: SimCameraSpec[] = [
  { id: 'udp-only', ...base, transports: ['udp'] },
  { id: 'locked', ...base, auth: { method: 'digest', user: 'operator', password: RIGHT } },
  { id: 'bframes', profile: 'main', gop: 25, bframes: 2, label: 'real-cameras-b' },
  { id: 'shared', ...base },
  // A live encoder with a 4 s GOP that honours keyframe requests, as real cameras do.
  { id: 'clock', clock: true, width: 320, height: 180, fps: 25, gop: 100, bitrateKbps: 400 },
  { id: 'dies', ...base },
];

let sim: CameraSimulator;
let stack: Stack;
let browser: Browser;
let configFile: string;

/** The gateway's cameras; `password` is what the config says for the locked camera. */
function cameras(password: string): Record<string, unknown>[] {
  const cam = (id: string, extra: Record<string, unknown> = {}, mount = id) => ({
    id,
    name: `Kantor ${id}`,
    main: { url: sim.url(mount) },
    ...extra,
  });
  const locked = sim.url('locked').replace('rtsp://', `rtsp://operator:${encodeURIComponent(password)}@`);
  return [
    cam('udp-only'),
    cam('udp-forced-tcp', { rtspTransport: 'tcp' }, 'udp-only'),
    { ...cam('locked'), main: { url: locked } },
    cam('bframes'),
    { ...cam('bframes-relayed', {}, 'bframes'), main: { url: sim.url('bframes'), transcode: 'never' } },
    cam('shared', { ingest: 'ffmpeg' }),
    cam('clock', { ingest: 'ffmpeg' }),
    cam('dies'),
  ];
}

beforeAll(async () => {
  sim = await CameraSimulator.start({ cameras: simCameras });
  stack = await gatewayOnSim(sim, cameras(WRONG), {
    ingest: { idleTimeoutSec: 1, stallTimeoutSec: 3 },
    health: { checkIntervalSec: 2 },
  });
  configFile = path.join(os.tmpdir(), `cctv-real-cameras-${process.pid}.json`);
  fs.writeFileSync(configFile, JSON.stringify({ cameras: cameras(WRONG) }));
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  fs.rmSync(configFile, { force: true });
});

const variant = (id: string) => stack.gateway.streams.get(id, 'main');
const logsOf = (id: string, msg: RegExp) => stack.logs.filter((l) => l['stream'] === id && msg.test(l.msg));
const admin = () => ({ authorization: `Bearer ${stack.token(['*'], 600, 'admin', 'test-admin')}` });
const apiStream = async (id: string) => {
  const res = await fetch(`${stack.base}/api/streams/${id}`, { headers: admin() });
  return (await res.json()) as { variants: { state: string; lastError: string | null; ingestBitrateBps: number }[] };
};

/** Watches in-process (no browser) until the variant is live; returns the ms it took. */
async function watchUntilLive(id: string, withinMs = 15_000): Promise<number> {
  const t0 = Date.now();
  await variant(id).acquire();
  await waitFor(`${id} live`, () => variant(id).state === 'live', withinMs);
  return Date.now() - t0;
}

describe('real camera behaviours', () => {
  it('plays a camera that refuses RTP over TCP under auto, remembers UDP, and says 461 when TCP is forced', async () => {
    const ms = await watchUntilLive('udp-only');
    expect(variant('udp-only').rtspTransport).toBe('udp');
    expect(logsOf('udp-only', /refuses RTP over TCP/)).toHaveLength(1);
    // The next session (after the idle stop) asks for UDP at once.
    variant('udp-only').release();
    await waitFor('idle stop', () => variant('udp-only').state === 'idle', 10_000);
    await watchUntilLive('udp-only');
    variant('udp-only').release();
    expect(logsOf('udp-only', /refuses RTP over TCP/)).toHaveLength(1);
    console.log(`udp-only: live in ${ms} ms under auto (TCP refused, then UDP)`);

    await variant('udp-forced-tcp')
      .acquire()
      .then(() => variant('udp-forced-tcp').release())
      .catch(() => {});
    await waitFor('forced tcp error', () => /461/.test(variant('udp-forced-tcp').lastError ?? ''), 10_000);
    expect(variant('udp-forced-tcp').lastError).toMatch(/SETUP: RTSP 461 Unsupported transport/i);
    expect((await apiStream('udp-forced-tcp')).variants[0]?.lastError).toMatch(/461/);
  });

  it('a rejected password: its own state, one warning, one login however many try, "password rejected" on the phone', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await phone.goto(`${stack.base}/watch.html?token=${stack.token()}&stream=locked`);
    await phone.getByText('Kata sandi kamera ditolak').first().waitFor({ timeout: 15_000 });
    expect((await probe(phone)).reason).toBe('unauthorized');
    // Twenty more viewers over 20 s, and health checks every 2 s: none may reach the camera.
    for (let i = 0; i < 20; i++) {
      const err = await variant('locked')
        .acquire()
        .then(
          () => undefined,
          (e: Error & { reason?: string }) => e,
        );
      expect(err?.reason).toBe('unauthorized');
      await sleep(1000);
    }
    const failed = sim.authLog('locked').filter((a) => !a.ok);
    console.log(`locked: ${failed.length} failed login(s) seen by the camera in 20 s with 21 viewers`);
    expect(failed).toHaveLength(1);
    const metrics = await (await fetch(`${stack.base}/metrics`)).text();
    expect(metrics).toMatch(/cctv_camera_logins_rejected_total\{stream="locked",variant="main"\} 1/);
    expect(variant('locked').state).toBe('unauthorized');
    expect(variant('locked').health).toMatchObject({ state: 'unauthorized', reason: 'password rejected' });
    // The next login is minutes away (default 300 s, doubling): at most 2 tries in 10 minutes.
    const waitSec = (variant('locked').authRetryAt - Date.now()) / 1000;
    expect(waitSec).toBeGreaterThan(250);
    const warned = stack.logs.filter((l) => l['camera'] === 'locked' && /rejected the password/.test(l.msg));
    expect(warned.filter((l) => l.level === 40)).toHaveLength(1);
    expect((await apiStream('locked')).variants[0]?.state).toBe('unauthorized');
    await phone.close();

    // The operator fixes the password in the config file: the gateway tries it at once.
    const watch = watchConfig({
      file: configFile,
      config: stack.config,
      intervalMs: 200,
      apply: (next) => stack.gateway.streams.reconfigure(next),
      logger: createLogger('warn'),
    });
    try {
      const fixedAt = Date.now();
      fs.writeFileSync(configFile, JSON.stringify({ cameras: cameras(RIGHT) }));
      await waitFor('a login with the new password', () => sim.authLog('locked').some((a) => a.ok), 10_000);
      console.log(`locked: new password tried ${Date.now() - fixedAt} ms after the file changed`);
      expect(sim.authLog('locked').filter((a) => !a.ok)).toHaveLength(1);
      await watchUntilLive('locked');
      variant('locked').release();
    } finally {
      watch.close();
    }
  });

  it('transcodes a B-frame camera to Baseline and shows at least 90 % of its frames; relayed as it is, warns', async () => {
    const page = await openPlayer(browser, stack.base, stack.token(), 'bframes');
    const { frames } = await framesAfterFirst(page, 10_000, 20_000);
    console.log(`bframes: ${frames} frames shown in 10 s (camera sends 250)`);
    expect(frames).toBeGreaterThanOrEqual(225);
    expect(variant('bframes').ingestPath).toBe('ffmpeg');
    expect(stack.logs.some((l) => l['stream'] === 'bframes' && /B-frames/.test(String(l['why'])))).toBe(true);
    await page.close();
    // transcode: never keeps the relay; the frames out of order are seen on the wire and said once.
    await watchUntilLive('bframes-relayed');
    await waitFor('B-frame warning', () => logsOf('bframes-relayed', /B-frames/).length > 0, 5000);
    expect(variant('bframes-relayed').ingestPath).toBe('packet');
    variant('bframes-relayed').release();
  });

  it('starts the FFmpeg path on a shared-pipeline camera on the first try', async () => {
    await watchUntilLive('shared');
    expect(variant('shared').ingestPath).toBe('ffmpeg');
    expect(variant('shared').restarts).toBe(0);
    expect(logsOf('shared', /ended; restarting/)).toHaveLength(0);
    variant('shared').release();
  });

  it('asks a 4 s GOP camera for a keyframe on a cold start of the FFmpeg path', async () => {
    const before = sim.keyframeRequests('clock');
    const page = await openPlayer(browser, stack.base, stack.token(), 'clock');
    const t0 = Date.now();
    await waitFor('first frame', async () => (await probe(page)).firstFrameAt !== null, 10_000, 50).catch((e) => {
      console.log('keyframe requests', sim.keyframeRequests('clock'), before);
      throw e;
    });
    const ms = Date.now() - t0;
    console.log(`clock (4 s GOP, FFmpeg path): first frame ${ms} ms after opening the page`);
    expect(sim.keyframeRequests('clock')).toBeGreaterThan(before);
    expect(ms).toBeLessThan(3500);
    await page.close();
  });

  it('shows "Kamera terputus" within 5 s of a live camera dying; the API stays error with no bitrate', async () => {
    const page: Page = await openPlayer(browser, stack.base, stack.token(), 'dies');
    await waitFor('live', async () => (await probe(page)).state === 'live', 15_000);
    await sleep(1500);
    const t0 = Date.now();
    await sim.stopCamera('dies');
    const shown = () =>
      page.evaluate(() => {
        const msg = document.querySelector('.stage-msg') as HTMLElement | null;
        return msg && !msg.hidden ? (msg.querySelector('strong')?.textContent ?? '') : '';
      });
    await waitFor('"Kamera terputus" on the page', async () => (await shown()) === 'Kamera terputus', 5000, 50).catch(
      async (e) => {
        console.log('page state', (await probe(page)).state, JSON.stringify(await shown()));
        throw e;
      },
    );
    const ms = Date.now() - t0;
    expect((await probe(page)).state).toBe('offline');
    console.log(`dies: "Kamera terputus" ${ms} ms after the camera died`);
    // While it is down the API never flips back to live, and reports no bitrate.
    const seen = new Set<string>();
    for (let i = 0; i < 15; i++) {
      const v = (await apiStream('dies')).variants[0];
      seen.add(v?.state ?? '');
      if (v?.state !== 'starting') expect(v?.ingestBitrateBps).toBe(0);
      await sleep(300);
    }
    expect(seen.has('live')).toBe(false);
    await sim.startCamera('dies');
    await waitFor('live again', async () => (await probe(page)).state === 'live', 15_000);
    await page.close();
  });
});
