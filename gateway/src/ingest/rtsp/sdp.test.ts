import { describe, expect, it } from 'vitest';
import { controlUrl, parseSdp, spropParameterSets } from './sdp.js';

// As GStreamer's RTSP server (the simulator) answers.
const GST = `v=0
o=- 17344650747106788687 1 IN IP4 127.0.0.1
s=Session streamed with GStreamer
t=0 0
a=control:*
a=range:npt=now-
m=video 0 RTP/AVP 96
c=IN IP4 0.0.0.0
a=rtpmap:96 H264/90000
a=framerate:25
a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LAHtoCgL/lwEQAAAMABAAAAwDIPFi6gA==,aM48gA==;profile-level-id=42c01e;level-asymmetry-allowed=1
a=control:stream=0
m=audio 0 RTP/AVP 0
c=IN IP4 0.0.0.0
a=rtpmap:0 PCMU/8000
a=control:stream=1
`.replace(/\n/g, '\r\n');

// Shaped like a Hikvision answer: absolute session control, trackID controls, static PT without rtpmap.
const HIK = `v=0
o=- 1 1 IN IP4 192.168.1.64
s=Media Presentation
a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/?transportmode=unicast
m=video 0 RTP/AVP 96
a=rtpmap:96 H264/90000
a=fmtp:96 profile-level-id=420029; packetization-mode=1; sprop-parameter-sets=Z01AKI2NQDwBE/LCAAAOEAACvyAI,aO44gA==
a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast
a=recvonly
m=audio 0 RTP/AVP 8
a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=2?transportmode=unicast
a=recvonly
`;

describe('parseSdp', () => {
  it('reads media, rtpmap, fmtp and controls', () => {
    const sdp = parseSdp(GST);
    expect(sdp.control).toBe('*');
    expect(sdp.media).toHaveLength(2);
    const [v, a] = sdp.media;
    expect(v?.type).toBe('video');
    expect(v?.control).toBe('stream=0');
    expect(v?.formats[0]).toMatchObject({ payloadType: 96, encoding: 'H264', clockRate: 90000 });
    expect(v?.formats[0]?.fmtp['profile-level-id']).toBe('42c01e');
    expect(v?.formats[0]?.fmtp['packetization-mode']).toBe('1');
    expect(a?.formats[0]).toMatchObject({ payloadType: 0, encoding: 'PCMU', clockRate: 8000, channels: 1 });
  });

  it('knows static payload types without rtpmap and trims fmtp keys', () => {
    const sdp = parseSdp(HIK);
    expect(sdp.media[1]?.formats[0]).toMatchObject({ payloadType: 8, encoding: 'PCMA', clockRate: 8000 });
    expect(sdp.media[0]?.formats[0]?.fmtp['packetization-mode']).toBe('1');
    expect(sdp.media[0]?.direction).toBe('recvonly');
  });

  it('decodes sprop-parameter-sets into SPS and PPS', () => {
    const f = parseSdp(GST).media[0]?.formats[0];
    const [sps, pps] = spropParameterSets(f?.fmtp['sprop-parameter-sets']);
    expect((sps?.[0] ?? 0) & 0x1f).toBe(7);
    expect((pps?.[0] ?? 0) & 0x1f).toBe(8);
    expect(spropParameterSets(undefined)).toEqual([]);
  });
});

describe('controlUrl', () => {
  it('extends the base with a relative control, as FFmpeg does', () => {
    expect(controlUrl('rtsp://h:554/cam/', '*', 'stream=0')).toBe('rtsp://h:554/cam/stream=0');
    expect(controlUrl('rtsp://h:554/cam', '*', 'trackID=1')).toBe('rtsp://h:554/cam/trackID=1');
    expect(controlUrl('rtsp://h/cam?x=1', '', 'track1')).toBe('rtsp://h/cam?x=1/track1');
  });
  it('uses absolute controls as they are, and the base for * or none', () => {
    const sdp = parseSdp(HIK);
    expect(controlUrl('rtsp://192.168.1.64/x', sdp.control, sdp.media[0]?.control ?? '')).toBe(
      'rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast',
    );
    expect(controlUrl('rtsp://h/cam/', '*', '*')).toBe('rtsp://h/cam/');
    expect(controlUrl('rtsp://h/cam/', '*', '')).toBe('rtsp://h/cam/');
    expect(controlUrl('rtsp://h/base/', sdp.control, '')).toBe(sdp.control);
  });
});
