// Snapshots against the real simulator, gateway and FFmpeg: the JPEG pictures the newest frame (the
// clock camera draws the time into every frame, and its keyframe is up to 4 s old), the scope rules
// of watching hold, concurrent requests share one decode, and every snapshot is audited.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clockDiff, decodeJpeg, readClock } from './support/jpegClock.js';
import { type Stack, sleep, startStack, waitFor } from './support/stack.js';

// A 4 s GOP, and a camera that ignores keyframe requests: the cached keyframe is old.
const CLOCK = { clock: true, width: 640, height: 360, fps: 25, gop: 100, bitrateKbps: 800 } as const;

const OPD = 'https://opd.palembang.go.id';
let s: Stack;

beforeAll(async () => {
  s = await startStack({
    cameras: [
      { id: 'clock', ...CLOCK, keyframeOnRequest: false, alwaysOn: true, ingest: 'packet' },
      { id: 'clock-ff', ...CLOCK, keyframeOnRequest: false, alwaysOn: true, ingest: 'ffmpeg' },
      { id: 'idle', codec: 'h264', width: 320, height: 180, fps: 25, gop: 25 },
    ],
    config: { signaling: { allowedOrigins: [OPD] } },
  });
  // Both clock streams live, past their first GOP.
  for (const id of ['clock', 'clock-ff'])
    await waitFor(`${id} live`, () => s.gateway.streams.get(id, 'main').keyframes?.gop(), 20_000);
}, 60_000);

afterAll(async () => {
  await s?.close();
});

const get = (path: string, token: string) =>
  fetch(`${s.base}${path}`, { headers: { authorization: `Bearer ${token}` } });

async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${s.base}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(name) && line.includes(labels) && !line.startsWith('#')) sum += Number(line.split(' ').pop());
  return sum;
}

describe('snapshots', () => {
  for (const id of ['clock', 'clock-ff']) {
    it(`${id}: a JPEG of the newest frame, its drawn clock within 250 ms of the request`, async () => {
      // Past the middle of a GOP: its keyframe is a second or more old.
      const cache = s.gateway.streams.get(id, 'main').keyframes;
      await waitFor(
        'a keyframe a second old',
        () => Date.now() - (cache?.gop()?.keyframeAt ?? Date.now()) > 1000,
        10_000,
        20,
      );
      const gop = cache?.gop();
      const requestedAt = Date.now();
      const res = await get(`/api/streams/${id}/snapshot.jpg`, s.token([id]));
      const answeredAt = Date.now();
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/jpeg');
      const pic = await decodeJpeg(Buffer.from(await res.arrayBuffer()));
      expect([pic.width, pic.height]).toEqual([640, 360]);
      const drawn = readClock(pic);
      expect(drawn, 'the clock rows read back').not.toBeNull();
      const behind = -clockDiff(drawn as number, requestedAt);
      console.log(
        `snapshot ${id}: drawn clock ${behind} ms before the request, answered in ${answeredAt - requestedAt} ms; keyframe ${requestedAt - (gop?.keyframeAt ?? 0)} ms old, ${gop?.frames} frames decoded`,
      );
      expect(Math.abs(behind)).toBeLessThanOrEqual(250);
      expect(requestedAt - (gop?.keyframeAt ?? 0), 'the keyframe is older than the picture').toBeGreaterThan(1000);
    });
  }

  it('scales to ?width= and keeps the aspect', async () => {
    const res = await get('/api/streams/clock/snapshot.jpg?width=320', s.token(['clock']));
    expect(res.status).toBe(200);
    const pic = await decodeJpeg(Buffer.from(await res.arrayBuffer()));
    expect([pic.width, pic.height]).toEqual([320, 180]);
  });

  it('a viewer token without the stream in its scope gets 403 and no picture', async () => {
    const res = await get('/api/streams/clock/snapshot.jpg', s.token(['clock-ff']));
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('E_FORBIDDEN_STREAM');
    const none = await fetch(`${s.base}/api/streams/clock/snapshot.jpg`);
    expect(none.status).toBe(401);
    const bad = await get('/api/streams/clock/snapshot.jpg?width=9', s.token(['clock']));
    expect(bad.status).toBe(400);
  });

  it("another app's player fetches it across origins when its origin is allowed; another origin is refused", async () => {
    const pre = await fetch(`${s.base}/api/streams/clock/snapshot.jpg`, {
      method: 'OPTIONS',
      headers: {
        origin: OPD,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(OPD);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/authorization/i);
    const ok = await fetch(`${s.base}/api/streams/clock/snapshot.jpg`, {
      headers: { origin: OPD, authorization: `Bearer ${s.token(['clock'])}` },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(OPD);
    expect(ok.headers.get('access-control-expose-headers')).toMatch(/X-Frame-Age-Ms/);
    const other = await fetch(`${s.base}/api/streams/clock/snapshot.jpg`, {
      headers: { origin: 'https://elsewhere.example', authorization: `Bearer ${s.token(['clock'])}` },
    });
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('20 concurrent requests for one variant cause one decode', async () => {
    await sleep(s.config.snapshots.cacheMs + 100); // past the short cache of the earlier tests
    const before = await metric('cctv_snapshot_decode_seconds_count');
    const hitsBefore = await metric('cctv_snapshots_total', 'cache="hit"');
    const token = s.token(['clock']);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => get('/api/streams/clock/snapshot.jpg?width=480', token)),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(200));
    const bodies = await Promise.all(answers.map(async (r) => Buffer.from(await r.arrayBuffer())));
    expect(new Set(bodies.map((b) => b.toString('base64'))).size).toBe(1);
    expect((await metric('cctv_snapshot_decode_seconds_count')) - before).toBe(1);
    expect((await metric('cctv_snapshots_total', 'cache="hit"')) - hitsBefore).toBe(19);
  });

  it('a stream nobody watches starts for its snapshot, and then stops when idle', async () => {
    const v = s.gateway.streams.get('idle', 'main');
    expect(v.state).toBe('idle');
    const t0 = Date.now();
    const res = await get('/api/streams/idle/snapshot.jpg', s.token(['idle']));
    expect(res.status).toBe(200);
    const pic = await decodeJpeg(Buffer.from(await res.arrayBuffer()));
    expect(pic.width).toBe(320);
    console.log(`snapshot of an idle camera: ${Date.now() - t0} ms (ingest started for it)`);
    expect(v.viewers).toBe(0);
  });

  it('a camera with no picture answers 503 E_NO_PICTURE with Retry-After, and the gateway keeps serving', async () => {
    await s.sim.stopCamera('clock-ff');
    try {
      await waitFor(
        'clock-ff frames to age',
        () => !s.gateway.streams.get('clock-ff', 'main').keyframes?.hasFrameSince(Date.now() - 3000),
        10_000,
      );
      const res = await get('/api/streams/clock-ff/snapshot.jpg', s.token(['clock-ff']));
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('E_NO_PICTURE');
      expect((await get('/api/streams/clock/snapshot.jpg', s.token(['clock']))).status).toBe(200);
    } finally {
      await s.sim.startCamera('clock-ff');
    }
  }, 30_000);

  it('every snapshot is in the audit trail with its sub', async () => {
    await get('/api/streams/clock/snapshot.jpg', s.token(['clock'], 600, 'viewer', 'pak-camat'));
    await get('/api/streams/clock/snapshot.jpg', s.token(['idle'], 600, 'viewer', 'outsider'));
    const admin = s.token(['*'], 600, 'admin', 'auditor');
    const res = await get('/api/audit?kind=snapshot&limit=1000', admin);
    expect(res.status).toBe(200);
    const { records } = (await res.json()) as { records: { sub: string; stream: string; result: string }[] };
    expect(records).toContainEqual(expect.objectContaining({ sub: 'pak-camat', stream: 'clock', result: 'ok' }));
    expect(records).toContainEqual(
      expect.objectContaining({ sub: 'outsider', stream: 'clock', result: 'E_FORBIDDEN_STREAM' }),
    );
  });
});
