// The heart of the product, end to end with real parts: GStreamer RTSP cameras → FFmpeg → mediasoup →
// WebRTC → Debian's headless Chromium playing the gateway's own player page.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, launchBrowser } from './support/browser.js';
import { framesAfterFirst, openPlayer as openPagePlayer, probe, resumeAfterOutage } from './support/player.js';
import { ffmpegProcesses, type Stack, startStack, waitFor } from './support/stack.js';

const GOP = 25; // frames; 1 s at 25 fps
let stack: Stack;
let browser: Browser;

beforeAll(async () => {
  stack = await startStack({
    cameras: [
      { id: 'cam-baseline', profile: 'baseline', gop: GOP, bitrateKbps: 1000 },
      { id: 'cam-high', profile: 'high', gop: GOP, bitrateKbps: 1000 },
      // The FFmpeg path (the packet relay's restart is in packet-ingest.test.ts): each restarted FFmpeg
      // starts a new random RTP timestamp base, which the RtpForwarder must hide from the browser.
      { id: 'cam-restart', profile: 'baseline', gop: GOP },
      { id: 'cam-idle', profile: 'baseline', gop: GOP },
      { id: 'cam-warm', profile: 'baseline', gop: GOP, alwaysOn: true },
    ],
    // Backoff capped at 1 s: a viewer is waiting, and FFmpeg itself needs ~1.2 s to start plus up to one GOP.
    config: { ingest: { idleTimeoutSec: 2, stallTimeoutSec: 3, backoffMaxMs: 1000 } },
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const openPlayer = (stream: string) => openPagePlayer(browser, stack.base, stack.token(), stream);

describe('live pipeline in a real browser', () => {
  for (const id of ['cam-baseline', 'cam-high']) {
    it(`plays ${id}: at least 50 decoded H.264 frames within 5 s of play`, async () => {
      const page = await openPlayer(id);
      const { frames, p } = await framesAfterFirst(page, 5000);
      console.log(`${id}: ${frames} frames decoded in 5 s after the first; codec ${p.codec}`);
      expect(frames).toBeGreaterThanOrEqual(50);
      expect(p.codec).toBe('video/H264');
      expect(p.error).toBeNull();
      await page.close();
    });
  }

  it('resumes within 5 s of the camera coming back, without a reload, and logs the restart', async () => {
    const page = await openPlayer('cam-restart');
    await framesAfterFirst(page, 1000);
    const ms = await resumeAfterOutage(
      page,
      () => stack.sim.stopCamera('cam-restart'),
      () => stack.sim.startCamera('cam-restart'),
    );
    console.log(`cam-restart: video resumed ${ms} ms after the camera came back`);
    const restarts = stack.logs.filter((l) => l['stream'] === 'cam-restart' && /restarting/.test(l.msg));
    expect(restarts.length).toBeGreaterThan(0);
    await page.close();
  });

  it('starts one FFmpeg for two viewers joining at once, and stops it after the idle timeout', async () => {
    const [a, b] = await Promise.all([openPlayer('cam-idle'), openPlayer('cam-idle')]);
    await Promise.all([framesAfterFirst(a as Page, 500), framesAfterFirst(b as Page, 500)]);
    expect(await ffmpegProcesses('cam-idle/main')).toHaveLength(1);
    expect(stack.gateway.streams.get('cam-idle', 'main').viewers).toBe(2);
    await Promise.all([a?.close(), b?.close()]);
    await waitFor('viewers to leave', () => stack.gateway.streams.get('cam-idle', 'main').viewers === 0, 5000);
    expect(await ffmpegProcesses('cam-idle/main')).toHaveLength(1); // idle timer (2 s) still running
    await waitFor('FFmpeg to stop', async () => (await ffmpegProcesses('cam-idle/main')).length === 0, 5000);
    expect(stack.gateway.streams.get('cam-idle', 'main').state).toBe('idle');
  });

  it('measures consume-to-first-frame over 10 joins (warm stream)', async () => {
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const page = await openPlayer('cam-warm');
      await waitFor('first frame', async () => (await probe(page)).firstFrameAt !== null, 10_000);
      const p = await probe(page);
      times.push(Math.round((p.firstFrameAt as number) - (p.requestedAt as number)));
      await page.close();
    }
    const sorted = [...times].sort((x, y) => x - y);
    console.log(
      `time to first frame, warm, GOP ${GOP} frames at 25 fps: median ${sorted[5]} ms, max ${sorted[9]} ms (${times.join(', ')})`,
    );
    expect(sorted[9]).toBeLessThan(5000);
  });
});
