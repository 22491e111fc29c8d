// ONVIF keyframe requests against the real camera simulator: a clock camera that ignores RTCP PLI
// (keyframeOnRequest false, one IDR per 4 s) sends an IDR soon after SetSynchronizationPoint, seen
// in its RTSP stream; wrong credentials and a camera without ONVIF are remembered, bursts coalesce.

import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CameraConfig } from '../config/schema.js';
import { OnvifKeyframes } from '../gateway/src/ingest/OnvifKeyframes.js';
import { getProfilesBody, parseProfileTokens, soapEnvelope, wsCreated } from '../gateway/src/ingest/onvif.js';
import { IDR_START, inspectH264 } from '../gateway/src/ingest/rtsp/h264.js';
import { header, parseSession } from '../gateway/src/ingest/rtsp/message.js';
import { describe as rtspDescribe } from '../gateway/src/ingest/rtsp/RtspConnection.js';
import { payloadEnd, payloadOffset } from '../gateway/src/ingest/rtsp/rtp.js';
import { controlUrl, parseSdp } from '../gateway/src/ingest/rtsp/sdp.js';
import { CameraSimulator } from '../gateway/src/sim/CameraSimulator.js';
import { silentServer } from './support/silentServer.js';

const PASSWORD = 'Onvif-pw1';
const WRONG = 'Wrong-pw9';
const AUTH = { method: 'digest', user: 'admin', password: PASSWORD } as const;
// 25 fps, one IDR per 100 frames: 4 s between the IDRs the camera sends by itself.
const CLOCK = { clock: true, keyframeOnRequest: false, fps: 25, gop: 100, bitrateKbps: 300 } as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The arrival times (performance.now()) of IDR starts in a camera's video, played over RTSP/TCP. */
async function playIdrs(url: string): Promise<{ idrs: number[]; close: () => Promise<void> }> {
  const described = await rtspDescribe(url, { timeoutMs: 10_000 });
  const { conn } = described;
  const idrs: number[] = [];
  conn.onFrame = (channel, buf, off, len) => {
    if (channel !== 0 || len < 12) return;
    const p = payloadOffset(buf, off, len);
    const end = payloadEnd(buf, off, len);
    if (p >= 0 && end > p && inspectH264(buf, off + p, end - p) & IDR_START) idrs.push(performance.now());
  };
  const sdp = parseSdp(described.sdp);
  const video = sdp.media.find((m) => m.type === 'video');
  if (!video) throw new Error('no video in the SDP');
  const setup = await conn.request('SETUP', controlUrl(described.base, sdp.control, video.control), {
    Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1',
  });
  const session = parseSession(header(setup, 'session'))?.id;
  if (!session) throw new Error('SETUP answer without a session');
  await conn.request('PLAY', described.url, { Session: session, Range: 'npt=0-' });
  return { idrs, close: () => conn.teardown(described.url, session) };
}

/** A pino logger writing into `lines`. */
function capture(lines: string[]) {
  return pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) });
}

describe('ONVIF keyframe requests (camera simulator)', () => {
  let sim: CameraSimulator;
  const camera = (id: string, onvif: CameraConfig['onvif'] = {}): CameraConfig => ({
    id,
    name: id,
    main: { url: sim.urlWithCredentials(id), transcode: 'auto' },
    alwaysOn: false,
    rtspTransport: 'tcp',
    audio: false,
    onvif: onvif === false ? false : { url: sim.onvifUrl(id), ...onvif },
  });

  beforeAll(async () => {
    sim = await CameraSimulator.start({
      cameras: [
        { id: 'door', ...CLOCK, width: 320, height: 180, auth: AUTH },
        // The sub stream (profile 'sub' of door, by its name) and a camera without ONVIF share one encoder.
        { id: 'door--sub', ...CLOCK, width: 256, height: 144 },
        { id: 'plain', ...CLOCK, width: 256, height: 144, onvif: false },
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await sim?.stop();
  });

  it('lists profiles main and sub, with WS-Security digest', async () => {
    const created = wsCreated(new Date());
    const body = soapEnvelope(getProfilesBody(), { ...AUTH, nonce: randomBytes(16), created });
    const res = await fetch(sim.onvifUrl('door'), {
      method: 'POST',
      headers: { 'content-type': 'application/soap+xml; charset=utf-8' },
      body,
    });
    expect(res.status).toBe(200);
    expect(parseProfileTokens(await res.text())).toEqual(['main', 'sub']);
    // media2's path answers the same (ver10) request; the simulator does not check nonce replays
    const res2 = await fetch(sim.onvifUrl('door', 'media2'), { method: 'POST', body });
    expect(parseProfileTokens(await res2.text())).toEqual(['main', 'sub']);
    // without the token: NotAuthorized
    const anonymous = await fetch(sim.onvifUrl('door'), { method: 'POST', body: soapEnvelope(getProfilesBody()) });
    expect(anonymous.status).toBe(400);
    expect(await anonymous.text()).toContain('ter:NotAuthorized');
    const other = soapEnvelope(getProfilesBody(), { ...AUTH, user: 'ädmin', nonce: randomBytes(16), created });
    expect((await fetch(sim.onvifUrl('door'), { method: 'POST', body: other })).status).toBe(400);
    expect(sim.onvifLog('door').at(-1)).toMatchObject({ ok: false, user: 'ädmin', reason: 'wrong-credentials' });
  });

  it('SetSynchronizationPoint brings an IDR at once from a camera that ignores PLI', async () => {
    const logs: string[] = [];
    const k = OnvifKeyframes.fromCamera(camera('door'), 'main', capture(logs)) as OnvifKeyframes;
    const playing = await playIdrs(sim.urlWithCredentials('door'));
    try {
      // A live camera starts a new session mid-GOP: wait for its own IDR, then ask 0.5 s after it.
      await until('the camera’s own IDR', () => playing.idrs.length > 0, 5000);
      await sleep(500 - (performance.now() - (playing.idrs[0] as number)));
      const sent: number[] = [];
      k.observer.on('sent', ({ ms }) => sent.push(ms));
      const logStart = sim.onvifRequests('door');
      const askedAt = performance.now();
      k.request();
      await until('an IDR after SetSynchronizationPoint', () => playing.idrs.some((at) => at > askedAt), 1500);
      const idrMs = (playing.idrs.find((at) => at > askedAt) as number) - askedAt;
      await until('the answer', () => sent.length === 1);
      // Its own next IDR is 3.5 s away: this one was forced.
      expect(idrMs).toBeLessThan(500);
      console.log(
        `ONVIF: request() to IDR ${idrMs.toFixed(0)} ms (GetProfiles + SetSynchronizationPoint ${sent[0]?.toFixed(0)} ms)`,
      );
      expect(k.profileToken).toBe('main');
      const log = sim.onvifLog('door').slice(logStart);
      expect(log.map((r) => r.op)).toEqual(['GetProfiles', 'SetSynchronizationPoint']);
      expect(log[1]).toMatchObject({ ok: true, forced: true, profile: 'main', user: 'admin' });
      expect(sim.syncPoints('door')).toBe(1);
      expect(sim.keyframeRequests('door')).toBe(0); // no PLI involved
      expect(logs.filter((l) => l.includes('ONVIF keyframe requests work'))).toHaveLength(1);
    } finally {
      k.close();
      await playing.close();
    }
  });

  it('merges a burst of 20 requests into one call, and asks once more for requests after its answer', async () => {
    const k = OnvifKeyframes.fromCamera(camera('door', { profileToken: 'main' }), 'main', pino({ level: 'silent' }));
    if (!k) throw new Error('no ONVIF');
    await sleep(600); // past the simulator's 500 ms keyframe throttle of the previous test
    const before = sim.onvifRequests('door');
    const sent: number[] = [];
    let coalesced = 0;
    k.observer.on('sent', ({ ms }) => sent.push(ms));
    k.observer.on('skipped', ({ reason }) => void (reason === 'coalesced' && coalesced++));
    for (let i = 0; i < 20; i++) k.request();
    await until('the answer', () => sent.length === 1);
    await sleep(1200); // past the coalescing window: nothing more was sent
    expect(sim.onvifRequests('door') - before).toBe(1);
    expect(coalesced).toBe(19);
    // A request after the answer, within the window, waits for the window's end.
    const secondAt = performance.now();
    k.request();
    await until('the second answer', () => sent.length === 2, 3000);
    k.request(); // within the new window: one trailing call at its end
    k.request();
    await until('the trailing call', () => sent.length === 3, 3000);
    expect(performance.now() - secondAt).toBeGreaterThan(500);
    expect(sim.onvifRequests('door') - before).toBe(3);
    k.close();
  });

  it('a sub variant asks for the second profile', async () => {
    const k = OnvifKeyframes.fromCamera(camera('door'), 'sub', pino({ level: 'silent' })) as OnvifKeyframes;
    const sent = new Promise<{ profileToken: string }>((r) => k.observer.once('sent', r));
    k.request();
    expect((await sent).profileToken).toBe('sub');
    expect(sim.onvifLog('door').at(-1)).toMatchObject({ op: 'SetSynchronizationPoint', profile: 'sub', ok: true });
    k.close();
  });

  it('remembers wrong credentials: NotAuthorized, not asked again within the pause, which doubles', async () => {
    const logs: string[] = [];
    const cam = camera('door', { user: 'admin', password: WRONG });
    const k = OnvifKeyframes.fromCamera(cam, 'main', capture(logs), {
      authRetryMs: 300,
      authRetryMaxMs: 1000,
    }) as OnvifKeyframes;
    const failed: { reason: string; retryInMs: number }[] = [];
    let backoff = 0;
    k.observer.on('failed', (f) => failed.push(f));
    k.observer.on('skipped', ({ reason }) => void (reason === 'backoff' && backoff++));
    const before = sim.onvifRequests('door');
    k.request();
    await until('the refusal', () => failed.length === 1);
    expect(failed[0]).toEqual({ reason: 'unauthorized', retryInMs: 300 });
    expect(sim.onvifLog('door').at(-1)).toMatchObject({
      op: 'GetProfiles',
      ok: false,
      status: 400,
      reason: 'wrong-credentials',
    });
    k.request();
    k.request();
    await sleep(150);
    expect(backoff).toBe(2);
    expect(sim.onvifRequests('door') - before).toBe(1); // the camera saw nothing more
    await sleep(200);
    k.request();
    await until('the second refusal', () => failed.length === 2);
    expect(failed[1]).toEqual({ reason: 'unauthorized', retryInMs: 600 });
    expect(sim.onvifRequests('door') - before).toBe(2);
    // Logged once (the state changed once); the password in no form, nor the digest.
    const warnings = logs.filter((l) => l.includes('"level":40'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('ter:NotAuthorized');
    for (const l of logs) {
      expect(l).not.toContain(WRONG);
      expect(l).not.toContain(PASSWORD);
      expect(l).not.toMatch(/PasswordDigest|Nonce/);
    }
    k.close();
  });

  it('remembers a camera without ONVIF (404)', async () => {
    const k = OnvifKeyframes.fromCamera(camera('plain'), 'main', pino({ level: 'silent' })) as OnvifKeyframes;
    const failed = new Promise<{ reason: string; retryInMs: number }>((r) => k.observer.once('failed', r));
    k.request();
    expect(await failed).toEqual({ reason: 'not-supported', retryInMs: 300_000 });
    expect(sim.onvifLog('plain')).toMatchObject([{ op: null, ok: false, status: 404 }]);
    k.request();
    await sleep(200);
    expect(sim.onvifRequests('plain')).toBe(1);
    expect(k.state).toBe('not-supported');
    k.close();
    // onvif: false in the gateway's config: no client at all
    expect(OnvifKeyframes.fromCamera(camera('plain', false), 'main', pino({ level: 'silent' }))).toBeUndefined();
  });

  it('times out on a camera that never answers, and a closed one is unreachable', async () => {
    const hung = await silentServer();
    try {
      const cam = camera('door', { url: `http://127.0.0.1:${hung.port}/onvif/media_service`, timeoutSec: 0.3 });
      const k = OnvifKeyframes.fromCamera(cam, 'main', pino({ level: 'silent' })) as OnvifKeyframes;
      const failed = new Promise<{ reason: string }>((r) => k.observer.once('failed', r));
      const at = performance.now();
      k.request();
      expect((await failed).reason).toBe('timeout');
      expect(performance.now() - at).toBeLessThan(1500);
      k.close();
    } finally {
      hung.close();
    }
    const closed = camera('door', { url: 'http://127.0.0.1:1/onvif/media_service' });
    const k = OnvifKeyframes.fromCamera(closed, 'main', pino({ level: 'silent' })) as OnvifKeyframes;
    const failed = new Promise<{ reason: string }>((r) => k.observer.once('failed', r));
    k.request();
    expect((await failed).reason).toBe('unreachable');
    k.close();
  });
});
