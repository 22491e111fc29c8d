// Ingest beyond plain H.264 over TCP: H.265 transcoded to H.264, RTSP over UDP, G.711 audio passed
// through, a password-protected camera (whose password must never reach the logs), a dead camera.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, launchBrowser } from './support/browser.js';
import { framesAfterFirst, openPlayer, probe } from './support/player.js';
import { type Stack, sleep, startStack, waitFor } from './support/stack.js';
import { WsClient } from './support/wsClient.js';

const PASSWORD = 'kominfo-Secret-42';
let stack: Stack;
let browser: Browser;

beforeAll(async () => {
  stack = await startStack({
    cameras: [
      { id: 'cam-h265', codec: 'h265', profile: 'main', gop: 25 },
      { id: 'cam-udp', profile: 'baseline', gop: 25, rtspTransport: 'udp' },
      { id: 'cam-audio', profile: 'baseline', gop: 25, audio: 'pcmu' },
      { id: 'cam-auth', profile: 'baseline', gop: 25, auth: { method: 'digest', user: 'viewer', password: PASSWORD } },
    ],
    // A camera that is configured but not reachable: nothing listens on its port.
    extraCameras: [
      { id: 'cam-dead', name: 'Kantor mati', main: { url: `rtsp://viewer:${PASSWORD}@127.0.0.1:9/live` } },
    ],
    config: { log: { level: 'debug' } },
  });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

async function plays(stream: string): Promise<number> {
  const page = await openPlayer(browser, stack.base, stack.token(), stream);
  const { frames, p } = await framesAfterFirst(page, 3000, 20_000);
  expect(p.codec).toBe('video/H264');
  await page.close();
  return frames;
}

describe('ingest variants', () => {
  it('transcodes an H.265 camera to H.264 the browser plays', async () => {
    const frames = await plays('cam-h265');
    expect(frames).toBeGreaterThanOrEqual(30);
    expect(
      stack.logs.some((l) => l['stream'] === 'cam-h265' && l['mode'] === 'transcode' && l['codec'] === 'hevc'),
    ).toBe(true);
  });

  it('pulls a camera over RTSP/UDP', async () => {
    expect(await plays('cam-udp')).toBeGreaterThanOrEqual(30);
  });

  it('passes G.711 audio through beside the video', async () => {
    const page = await browser.newPage();
    await page.goto(`${stack.base}/?token=${stack.token()}&stream=cam-audio`);
    await waitFor('first frame', async () => (await probe(page)).firstFrameAt !== null, 20_000);
    const audio = stack.gateway.streams.get('cam-audio', 'main').producers.find((p) => p.kind === 'audio');
    expect(audio?.rtpParameters.codecs[0]?.mimeType).toBe('audio/PCMU');
    const bytes = async () =>
      (await (audio as NonNullable<typeof audio>).getStats()).reduce((n, s) => n + s.byteCount, 0);
    const b0 = await bytes();
    await sleep(1500);
    expect(await bytes()).toBeGreaterThan(b0);
    const tracks = await page.evaluate(() =>
      ((document.querySelector('#video') as HTMLVideoElement).srcObject as MediaStream)
        .getTracks()
        .map((t) => t.kind)
        .sort(),
    );
    expect(tracks).toEqual(['audio', 'video']);
    await page.close();
  });

  it('plays a password-protected camera and never logs its password', async () => {
    expect(await plays('cam-auth')).toBeGreaterThanOrEqual(30);
    const text = JSON.stringify(stack.logs);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(encodeURIComponent(PASSWORD));
  });

  it('refuses a dead camera with a clear reason, retries it, and keeps serving the others', async () => {
    const c = await WsClient.connect(`${stack.base.replace('http', 'ws')}/ws`);
    expect((await c.request('auth', { token: stack.token() })).ok).toBe(true);
    const t = await c.request('createTransport');
    const caps = (await c.request('getRouterRtpCapabilities')).data?.['rtpCapabilities'] as Record<string, unknown>;
    const r = await c.request('consume', { transportId: t.data?.['id'], stream: 'cam-dead', rtpCapabilities: caps });
    expect(r.ok).toBe(false);
    expect(r.error?.code).toBe('E_STREAM_OFFLINE');
    expect(r.error?.message).toMatch(/cam-dead\/main is not reachable \(.*Connection refused.*\)/);
    expect(r.error?.message).not.toContain(PASSWORD);
    expect(stack.gateway.streams.get('cam-dead', 'main').state).toBe('error');
    c.close();
    expect(await plays('cam-udp')).toBeGreaterThanOrEqual(30);
    expect(JSON.stringify(stack.logs)).not.toContain(PASSWORD);
  });
});
