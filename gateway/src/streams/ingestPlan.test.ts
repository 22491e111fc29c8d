import { describe, expect, it } from 'vitest';
import { planPacketIngest } from '../ingest/rtsp/plan.js';
import { parseSdp } from '../ingest/rtsp/sdp.js';
import { BFRAMES_WHY, cameraMedia, decideFfmpeg, decidePacket, type IngestWish } from './ingestPlan.js';

const sdp = (...media: string[]) =>
  parseSdp(['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=cam', 't=0 0', 'a=control:*', ...media, ''].join('\r\n'));
const H264 = [
  'm=video 0 RTP/AVP 96',
  'a=rtpmap:96 H264/90000',
  'a=fmtp:96 packetization-mode=1;profile-level-id=42e01f',
];
const H265 = ['m=video 0 RTP/AVP 96', 'a=rtpmap:96 H265/90000'];
const PCMU = ['m=audio 0 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000'];
const AAC = ['m=audio 0 RTP/AVP 97', 'a=rtpmap:97 MPEG4-GENERIC/16000'];
const wish = (w: Partial<IngestWish> = {}): IngestWish => ({ mode: 'auto', transcode: 'auto', audio: false, ...w });

describe('decidePacket', () => {
  it('relays H.264, with G.711 audio when audio is wanted', () => {
    expect(decidePacket(wish(), planPacketIngest(sdp(...H264, ...PCMU)))).toEqual({ use: 'packet', audio: undefined });
    expect(decidePacket(wish({ audio: true }), planPacketIngest(sdp(...H264, ...PCMU)))).toEqual({
      use: 'packet',
      audio: 'pcmu',
    });
  });
  it('sends H.265, AAC audio and transcode: always to FFmpeg under auto, and says why', () => {
    expect(decidePacket(wish(), planPacketIngest(sdp(...H265)))).toMatchObject({ use: 'ffmpeg' });
    expect(decidePacket(wish({ audio: true }), planPacketIngest(sdp(...H264, ...AAC)))).toEqual({
      use: 'ffmpeg',
      why: 'aac audio needs transcoding',
    });
    expect(decidePacket(wish({ transcode: 'always' }), planPacketIngest(sdp(...H264)))).toEqual({
      use: 'ffmpeg',
      why: "transcode is 'always'",
    });
  });
  it("refuses what ingest 'packet' cannot relay, and relays video without the audio it cannot", () => {
    expect(decidePacket(wish({ mode: 'packet' }), planPacketIngest(sdp(...H265)))).toMatchObject({ use: 'none' });
    expect(decidePacket(wish({ mode: 'packet', audio: true }), planPacketIngest(sdp(...H264, ...AAC)))).toMatchObject({
      use: 'packet',
      audio: undefined,
      warning: expect.stringContaining('aac'),
    });
  });
});

describe('B-frames', () => {
  it('under transcode auto they go to FFmpeg and are transcoded; otherwise relayed with a warning', () => {
    const plan = planPacketIngest(sdp(...H264));
    expect(decidePacket(wish({ bframes: true }), plan)).toMatchObject({ use: 'ffmpeg', why: BFRAMES_WHY });
    expect(decidePacket(wish({ bframes: true, transcode: 'never' }), plan)).toMatchObject({
      use: 'packet',
      warning: expect.stringContaining("transcode is 'never'"),
    });
    expect(decidePacket(wish({ bframes: true, mode: 'packet' }), plan)).toMatchObject({
      use: 'packet',
      warning: expect.stringContaining("ingest is 'packet'"),
    });
    const h264 = { codec: 'h264', profile: '4d001f', fps: 25 };
    expect(decideFfmpeg(wish(), { video: { ...h264, bframes: true } })).toMatchObject({
      video: { mode: 'transcode', profileLevelId: '42e01f' },
    });
    expect(decideFfmpeg(wish({ bframes: true }), { video: h264 })).toMatchObject({ video: { mode: 'transcode' } });
    expect(decideFfmpeg(wish({ bframes: true, transcode: 'never' }), { video: h264 })).toMatchObject({
      video: { mode: 'copy' },
    });
  });
});

describe('decideFfmpeg', () => {
  const video = { codec: 'h264', profile: 'High', fps: 25 };
  it('copies H.264 signalled by its profile, transcodes the rest to Baseline', () => {
    expect(decideFfmpeg(wish(), { video })).toEqual({ video: { mode: 'copy', profileLevelId: '4d001f', fps: 25 } });
    expect(decideFfmpeg(wish(), { video: { ...video, codec: 'hevc', fps: 12.5 } })).toEqual({
      video: { mode: 'transcode', profileLevelId: '42e01f', fps: 13 },
    });
  });
  it('passes G.711 through and turns other audio into Opus, only when audio is wanted', () => {
    const audio = { codec: 'pcm_alaw' };
    expect(decideFfmpeg(wish(), { video, audio })).not.toHaveProperty('audio');
    expect(decideFfmpeg(wish({ audio: true }), { video, audio })).toMatchObject({
      audio: { codec: 'pcma', mode: 'copy' },
    });
    expect(decideFfmpeg(wish({ audio: true }), { video, audio: { ...audio, codec: 'aac' } })).toMatchObject({
      audio: { codec: 'opus', mode: 'opus' },
    });
  });
  it('reads what it needs from the SDP', () => {
    expect(cameraMedia(planPacketIngest(sdp(...H265, ...AAC)), 15)).toEqual({
      video: { codec: 'hevc', profile: '', fps: 15, bframes: false },
      audio: { codec: 'aac' },
    });
    expect(cameraMedia(planPacketIngest(sdp(...H264)), 0)).toEqual({
      video: { codec: 'h264', profile: '42e01f', fps: 0, bframes: false },
    });
  });
  it('says why a camera cannot be shown', () => {
    expect(decideFfmpeg(wish(), {})).toEqual({ error: 'camera sends no video track' });
    expect(decideFfmpeg(wish({ transcode: 'never' }), { video: { ...video, codec: 'hevc' } })).toEqual({
      error: "camera sends hevc and transcode is 'never'",
    });
  });
});
