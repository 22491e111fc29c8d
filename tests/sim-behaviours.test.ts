// Camera simulator behaviours a gateway meets in the field, seen through the gateway's own RTSP client:
// a UDP-only camera (461 for TCP), the login log, B-frames (RTP timestamps out of order) and RTCP
// keyframe requests (PLI → IDR from a live-encoding camera).
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HAS_PPS,
  HAS_SPS,
  IDR_START,
  inspectH264,
  NAL_SPS,
  profileName,
  spsProfileLevelId,
} from '../gateway/src/ingest/rtsp/h264.js';
import { header, parseSession, parseTransport } from '../gateway/src/ingest/rtsp/message.js';
import { type Described, RtspError, describe as rtspDescribe } from '../gateway/src/ingest/rtsp/RtspConnection.js';
import { ReceiverStats, writePli, writeReceiverReport } from '../gateway/src/ingest/rtsp/rtcp.js';
import { payloadEnd, payloadOffset } from '../gateway/src/ingest/rtsp/rtp.js';
import { controlUrl, parseSdp, spropParameterSets } from '../gateway/src/ingest/rtsp/sdp.js';
import {
  CameraSimulator,
  clipFileName,
  type SimCameraSpec,
  type SimEvent,
} from '../gateway/src/sim/CameraSimulator.js';

const TIMEOUT = { timeoutMs: 10_000 };
const BASIC = { method: 'basic', user: 'viewer', password: 'Right-pw1' } as const;
const DIGEST = { method: 'digest', user: 'operator', password: 'Right-pw2' } as const;
const WRONG = 'Wrong-pw9';
const REPORTER_SSRC = 0x5eed_0001;

/** One received RTP packet of the video track. */
interface Packet {
  ts: number;
  /** inspectH264 flags (IDR_START: the packet starts an IDR slice). */
  flags: number;
  at: number;
}

/** A camera played over RTSP/TCP interleaved (video only: RTP on channel 0, RTCP on 1). */
interface Playing {
  described: Described;
  /** The camera's video SSRC, from the SETUP answer. */
  ssrc: number;
  packets: Packet[];
  playAt: number;
  sendRtcp: (buf: Buffer, len?: number) => void;
  close: () => Promise<void>;
}

function videoSetupUrl(d: Described): string {
  const sdp = parseSdp(d.sdp);
  const video = sdp.media.find((m) => m.type === 'video');
  if (!video) throw new Error('no video in the SDP');
  return controlUrl(d.base, sdp.control, video.control);
}

async function playTcp(url: string): Promise<Playing> {
  const described = await rtspDescribe(url, TIMEOUT);
  const { conn } = described;
  const packets: Packet[] = [];
  conn.onFrame = (channel, buf, off, len) => {
    if (channel !== 0 || len < 12) return;
    const p = payloadOffset(buf, off, len);
    const end = payloadEnd(buf, off, len);
    const flags = p < 0 || end <= p ? 0 : inspectH264(buf, off + p, end - p);
    packets.push({ ts: buf.readUInt32BE(off + 4), flags, at: performance.now() });
  };
  const setup = await conn.request('SETUP', videoSetupUrl(described), {
    Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1',
  });
  const ssrc = parseTransport(header(setup, 'transport')).ssrc;
  const session = parseSession(header(setup, 'session'))?.id;
  if (ssrc === undefined || !session) throw new Error('SETUP answer without ssrc or session');
  await conn.request('PLAY', described.url, { Session: session, Range: 'npt=0-' });
  return {
    described,
    ssrc,
    packets,
    playAt: performance.now(),
    sendRtcp: (buf, len = buf.length) => conn.sendFrame(1, buf, len),
    close: () => conn.teardown(described.url, session),
  };
}

/** RTP timestamps of consecutive frames (packets of one frame share one). */
function frameTimestamps(packets: readonly Packet[]): number[] {
  const out: number[] = [];
  for (const p of packets) if (out[out.length - 1] !== p.ts) out.push(p.ts);
  return out;
}

/** How often a frame's RTP timestamp is below the one before it (32-bit wrap aware). */
function decreases(timestamps: readonly number[]): number {
  let n = 0;
  for (let i = 1; i < timestamps.length; i++) {
    if ((((timestamps[i] as number) - (timestamps[i - 1] as number)) | 0) < 0) n++;
  }
  return n;
}

/** The SPS of a video media's sprop-parameter-sets. */
function spropSps(sdpText: string): Buffer {
  const video = parseSdp(sdpText).media.find((m) => m.type === 'video');
  const sps = spropParameterSets(video?.formats[0]?.fmtp['sprop-parameter-sets']).find(
    (nal) => ((nal[0] as number) & 0x1f) === NAL_SPS,
  );
  if (!sps) throw new Error('no SPS in sprop-parameter-sets');
  return sps;
}

/**
 * max_num_reorder_frames of an SPS's VUI bitstream_restriction (H.264 E.1.1), or undefined when
 * the SPS has no such field. Enough of the SPS syntax for x264's output: no scaling matrices.
 */
function maxNumReorderFrames(sps: Buffer): number | undefined {
  const rbsp: number[] = [];
  for (let i = 1, zeros = 0; i < sps.length; i++) {
    const b = sps[i] as number;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    rbsp.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  let pos = 0;
  const u = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++, pos++) v = v * 2 + (((rbsp[pos >> 3] as number) >> (7 - (pos & 7))) & 1);
    return v;
  };
  const ue = (): number => {
    let zeros = 0;
    while (u(1) === 0) zeros++;
    return 2 ** zeros - 1 + u(zeros);
  };
  const skipUe = (count: number): void => {
    for (let i = 0; i < count; i++) ue();
  };
  const hrd = (): void => {
    const count = ue() + 1;
    u(8); // bit_rate_scale, cpb_size_scale
    for (let i = 0; i < count; i++) {
      skipUe(2); // bit_rate_value, cpb_size_value
      u(1); // cbr_flag
    }
    u(20); // four 5-bit lengths
  };
  const profile = u(8);
  u(16); // constraint flags, level
  ue(); // sps id
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128].includes(profile)) {
    if (ue() === 3) u(1);
    skipUe(2); // bit depths
    u(1); // qpprime_y_zero_transform_bypass
    if (u(1)) throw new Error('SPS with scaling matrices: not parsed here');
  }
  ue(); // log2_max_frame_num_minus4
  const pocType = ue();
  if (pocType === 0) ue();
  else if (pocType === 1) {
    u(1); // delta_pic_order_always_zero
    skipUe(2); // offsets (signed, same length as unsigned)
    skipUe(ue());
  }
  ue(); // max_num_ref_frames
  u(1); // gaps_in_frame_num_allowed
  skipUe(2); // size in macroblocks
  if (u(1) === 0) u(1); // frame_mbs_only, mb_adaptive_frame_field
  u(1); // direct_8x8_inference
  if (u(1)) skipUe(4); // cropping
  if (!u(1)) return undefined; // no VUI
  if (u(1) && u(8) === 255) u(32); // aspect ratio (extended SAR)
  if (u(1)) u(1); // overscan
  if (u(1)) {
    u(4); // video_format, full_range
    if (u(1)) u(24); // colour description
  }
  if (u(1)) skipUe(2); // chroma location
  if (u(1)) u(65); // timing: num_units_in_tick, time_scale, fixed_frame_rate
  const nal = u(1);
  if (nal) hrd();
  const vcl = u(1);
  if (vcl) hrd();
  if (nal || vcl) u(1); // low_delay_hrd
  u(1); // pic_struct_present
  if (!u(1)) return undefined; // no bitstream_restriction
  u(1); // motion_vectors_over_pic_boundaries
  skipUe(4); // max bytes per picture, bits per macroblock, motion vector lengths
  return ue();
}

async function until(what: string, check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An even RTP port and the RTCP port above it, both bound. */
async function udpPair(): Promise<[Socket, Socket]> {
  for (let tries = 0; tries < 50; tries++) {
    const rtp = createSocket('udp4');
    await new Promise<void>((resolve) => rtp.bind(0, '127.0.0.1', resolve));
    const port = rtp.address().port;
    if (port % 2 === 0) {
      const rtcp = createSocket('udp4');
      const bound = await new Promise<boolean>((resolve) => {
        rtcp.once('error', () => resolve(false));
        rtcp.bind(port + 1, '127.0.0.1', () => resolve(true));
      });
      if (bound) return [rtp, rtcp];
      rtcp.close();
    }
    rtp.close();
  }
  throw new Error('no free UDP port pair');
}

describe('CameraSimulator behaviours', () => {
  let sim: CameraSimulator;
  const events: SimEvent[] = [];
  // One label: the cameras without B-frames share one clip (encoded once, then cached).
  const clip = { width: 320, height: 240, bitrateKbps: 400, label: 'behaviours' } as const;

  beforeAll(async () => {
    sim = await CameraSimulator.start({
      cameras: [
        { id: 'plain', ...clip },
        { id: 'udponly', ...clip, transports: ['udp'] },
        { id: 'basic', ...clip, auth: BASIC },
        { id: 'digest', ...clip, auth: DIGEST },
        { id: 'bframes', ...clip, bframes: 2 },
        { id: 'clock', clock: true, width: 320, height: 240, fps: 25, gop: 100, bitrateKbps: 500 },
      ],
      onEvent: (e) => events.push(e),
    });
  }, 120_000);

  afterAll(async () => {
    await sim?.stop();
  });

  it('keeps the defaults out of the spec and B-frames out of existing clip names', () => {
    const byId = (id: string) => sim.cameras.find((c) => c.id === id);
    expect(byId('plain')).not.toHaveProperty('transports');
    expect(byId('plain')).not.toHaveProperty('bframes');
    expect(byId('udponly')?.transports).toEqual(['udp']);
    expect(byId('bframes')?.bframes).toBe(2);
    const params = { codec: 'h264', profile: 'main', width: 320, height: 240, fps: 25, gop: 25 } as const;
    const base = { ...params, bitrateKbps: 400, label: 'x', seconds: 4 };
    expect(clipFileName({ ...base, bframes: 0 })).toBe(clipFileName(base));
    expect(clipFileName(base)).not.toMatch(/bf/);
    expect(clipFileName({ ...base, bframes: 2 })).toMatch(/-g25-bf2-/);
    expect(byId('bframes')?.clip).toMatch(/-bf2-/);
  });

  it('rejects bad transports and B-frames where the encoding cannot have them', async () => {
    // Refused while resolving the spec: no clip is encoded and no server started.
    const start = (camera: Record<string, unknown>) =>
      CameraSimulator.start({ cameras: [{ id: 'x', ...camera } as SimCameraSpec] });
    await expect(start({ transports: [] })).rejects.toThrow(/transports/);
    await expect(start({ transports: ['udp', 'udp'] })).rejects.toThrow(/transports/);
    await expect(start({ transports: ['http'] })).rejects.toThrow(/transports/);
    await expect(start({ bframes: 5 })).rejects.toThrow(/bframes/);
    await expect(start({ bframes: 1, profile: 'baseline' })).rejects.toThrow(/bframes/);
    await expect(start({ bframes: 1, codec: 'h265' })).rejects.toThrow(/bframes/);
    await expect(start({ bframes: 1, clock: true })).rejects.toThrow(/bframes/);
  });

  it('a UDP-only camera answers 461 to SETUP over TCP and streams over UDP', async () => {
    const d = await rtspDescribe(sim.url('udponly'), TIMEOUT);
    const [rtp, rtcp] = await udpPair();
    try {
      const url = videoSetupUrl(d);
      const tcp = await d.conn.request(
        'SETUP',
        url,
        { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' },
        { allowError: true },
      );
      expect(tcp.status).toBe(461);

      const port = rtp.address().port;
      const udp = await d.conn.request('SETUP', url, { Transport: `RTP/AVP;unicast;client_port=${port}-${port + 1}` });
      expect(udp.status).toBe(200);
      const transport = parseTransport(header(udp, 'transport'));
      expect(transport.serverPort).toBeDefined();
      const session = parseSession(header(udp, 'session'))?.id as string;
      let received = 0;
      rtp.on('message', () => received++);
      await d.conn.request('PLAY', d.url, { Session: session });
      await until('RTP over UDP', () => received >= 25, 5000);

      // A PLI to the server's RTCP port reaches the camera too (a clip camera only counts it).
      const before = sim.keyframeRequests('udponly');
      const pli = Buffer.allocUnsafe(12);
      writePli(pli, REPORTER_SSRC, transport.ssrc as number);
      rtcp.send(pli, (transport.serverPort as [number, number])[1], '127.0.0.1');
      await until('keyframe request over UDP', () => sim.keyframeRequests('udponly') === before + 1);
      expect(events.filter((e) => e.event === 'keyframe-request' && e.id === 'udponly').at(-1)).toMatchObject({
        forced: false,
      });
      await d.conn.teardown(d.url, session);
    } finally {
      d.conn.close();
      rtp.close();
      rtcp.close();
    }
  });

  for (const auth of [BASIC, DIGEST]) {
    const id = auth.method;
    it(`logs each ${id} login attempt, failed and good, with the user name and never the password`, async () => {
      const userinfo = (password: string) => `${auth.user}:${password}@`;
      const wrong = sim.url(id).replace('rtsp://', `rtsp://${userinfo(WRONG)}`);
      const challenges = () => events.filter((e) => e.event === 'auth-challenge' && e.id === id).length;

      // RtspConnection answers the challenge once; a second 401 ends it: one failed attempt per try.
      for (let i = 0; i < 2; i++) {
        const err = await rtspDescribe(wrong, TIMEOUT).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(RtspError);
        expect((err as RtspError).status).toBe(401);
      }
      await until('two failed logins', () => sim.authLog(id).length === 2);
      expect(sim.authLog(id)).toEqual([
        expect.objectContaining({ ok: false, user: auth.user, method: id }),
        expect.objectContaining({ ok: false, user: auth.user, method: id }),
      ]);
      expect(challenges()).toBe(2); // each first DESCRIBE, sent without credentials

      // Good credentials: DESCRIBE (401, then accepted) and SETUP (sent with them at once).
      const playing = await playTcp(sim.urlWithCredentials(id));
      await playing.close();
      await until('two good logins', () => sim.authLog(id).length === 4);
      const log = sim.authLog(id);
      expect(log.slice(2)).toEqual([
        expect.objectContaining({ ok: true, user: auth.user, method: id }),
        expect.objectContaining({ ok: true, user: auth.user, method: id }),
      ]);
      expect(log[3]?.at).toBeGreaterThanOrEqual(log[0]?.at as number);
      expect(challenges()).toBe(3);
      const mine = JSON.stringify(events.filter((e) => e.id === id));
      expect(mine).not.toContain(auth.password);
      expect(mine).not.toContain(WRONG);
    });
  }

  it('a B-frame camera sends RTP timestamps out of order, a camera without B-frames never', async () => {
    const [withB, withoutB] = await Promise.all([playTcp(sim.url('bframes')), playTcp(sim.url('plain'))]);
    try {
      await sleep(2500);
      const b = frameTimestamps(withB.packets);
      const plain = frameTimestamps(withoutB.packets);
      expect(b.length).toBeGreaterThan(40);
      expect(plain.length).toBeGreaterThan(40);
      // I P B B P B B ...: the timestamp drops after every P-frame.
      expect(decreases(b)).toBeGreaterThanOrEqual(Math.floor(b.length / 4));
      expect(decreases(plain)).toBe(0);

      const spsB = spropSps(withB.described.sdp);
      expect(['Main', 'High']).toContain(profileName(spsProfileLevelId(spsB) as string));
      // x264 tells decoders how many frames to hold back for reordering.
      expect(maxNumReorderFrames(spsB)).toBeGreaterThan(0);
      expect(maxNumReorderFrames(spropSps(withoutB.described.sdp))).toBe(0);
    } finally {
      await Promise.all([withB.close(), withoutB.close()]);
    }
  });

  it('a clock camera answers a PLI with an IDR at once, at most once per 500 ms', async () => {
    const playing = await playTcp(sim.url('clock'));
    try {
      const idrs = () => playing.packets.filter((p) => p.flags & IDR_START).map((p) => p.at);
      const forced = () => events.filter((e) => e.event === 'keyframe-request' && e.id === 'clock');
      await sleep(1000 - (performance.now() - playing.playAt));
      // 4 s GOP: apart from the one the stream started with, no IDR comes by itself this soon.
      const before = idrs();
      const requests = sim.keyframeRequests('clock');

      // A lone PLI (reduced-size RTCP, what the gateway sends) with a sender SSRC gst never saw.
      const pli = Buffer.allocUnsafe(12);
      writePli(pli, REPORTER_SSRC, playing.ssrc);
      const sentAt = performance.now();
      playing.sendRtcp(pli);
      await until('an IDR after the PLI', () => idrs().some((at) => at > sentAt), 1000);
      const idrAt = idrs().find((at) => at > sentAt) as number;
      expect(idrAt - sentAt).toBeLessThan(300);
      // SPS and PPS come with the forced IDR, so a decoder that joined late can start there.
      const headers = playing.packets.filter((p) => p.at > sentAt && p.at <= idrAt).reduce((f, p) => f | p.flags, 0);
      expect(headers & (HAS_SPS | HAS_PPS)).toBe(HAS_SPS | HAS_PPS);
      expect(before.every((at) => at < sentAt - 500)).toBe(true);
      expect(sim.keyframeRequests('clock')).toBe(requests + 1);
      expect(forced().at(-1)).toMatchObject({ forced: true });

      // Another one 100 ms later is counted but forces nothing.
      await sleep(100);
      playing.sendRtcp(pli);
      await until('the second request', () => sim.keyframeRequests('clock') === requests + 2);
      expect(forced().at(-1)).toMatchObject({ forced: false });

      // Past 500 ms (with a margin) a compound receiver report + PLI forces the next IDR.
      await sleep(600 - (performance.now() - sentAt));
      const stats = new ReceiverStats(90_000);
      const last = playing.packets.at(-1) as Packet;
      const rtpHead = Buffer.alloc(12);
      rtpHead[0] = 0x80;
      rtpHead.writeUInt32BE(last.ts, 4);
      rtpHead.writeUInt32BE(playing.ssrc, 8);
      stats.onPacket(rtpHead, 0, performance.now());
      const compound = Buffer.alloc(256);
      let n = writeReceiverReport(compound, REPORTER_SSRC, [stats], 'sim-behaviours', performance.now());
      n += writePli(compound.subarray(n), REPORTER_SSRC, playing.ssrc);
      const againAt = performance.now();
      playing.sendRtcp(compound, n);
      await until('an IDR after the compound PLI', () => idrs().some((at) => at > againAt), 1000);
      expect((idrs().find((at) => at > againAt) as number) - againAt).toBeLessThan(300);
      expect(forced().at(-1)).toMatchObject({ forced: true });
      expect(sim.keyframeRequests('clock')).toBe(requests + 3);
    } finally {
      await playing.close();
    }
  });
});
