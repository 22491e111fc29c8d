import { describe, expect, it } from 'vitest';
import { planPacketIngest } from './plan.js';
import { parseSdp } from './sdp.js';

const sdp = (...media: string[]) => parseSdp(['v=0', 's=x', 't=0 0', ...media].join('\r\n'));
const H264 =
  'm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z2QAKKzZQHgCJ+WEAAADAAQAAAMAyDxgxlg=,aOvjyyLA\r\na=control:trackID=1';

describe('planPacketIngest', () => {
  it('relays H.264 with G.711 audio; takes the profile from the SPS when fmtp has none', () => {
    const plan = planPacketIngest(sdp(H264, 'm=audio 0 RTP/AVP 0\r\na=control:trackID=2'));
    expect(plan.video?.format.payloadType).toBe(96);
    expect(plan.video?.profileLevelId).toBe('640028');
    expect(plan.video?.sps?.[0]).toBe(0x67);
    expect(plan.video?.pps?.[0]).toBe(0x68);
    expect(plan.audio?.codec).toBe('pcmu');
    expect(plan.audioCodec).toBe('pcm_mulaw');
  });

  it('relays Opus and PCMA; reports AAC as needing transcoding', () => {
    expect(planPacketIngest(sdp(H264, 'm=audio 0 RTP/AVP 97\r\na=rtpmap:97 opus/48000/2')).audio?.codec).toBe('opus');
    expect(planPacketIngest(sdp(H264, 'm=audio 0 RTP/AVP 8')).audio?.codec).toBe('pcma');
    const aac = planPacketIngest(sdp(H264, 'm=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/16000/1'));
    expect(aac.audio).toBeUndefined();
    expect(aac.audioCodec).toBe('aac');
  });

  it('refuses H.265, MJPEG and a missing video track, saying why', () => {
    const h265 = planPacketIngest(sdp('m=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000'));
    expect(h265.video).toBeUndefined();
    expect(h265.videoCodec).toBe('hevc');
    expect(h265.videoProblem).toBe('hevc needs transcoding');
    expect(planPacketIngest(sdp('m=video 0 RTP/AVP 26')).videoCodec).toBe('mjpeg');
    expect(planPacketIngest(sdp('m=audio 0 RTP/AVP 0')).videoProblem).toBe('the camera sends no video track');
    const interleavedMode = planPacketIngest(
      sdp('m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=2'),
    );
    expect(interleavedMode.videoProblem).toMatch(/packetization-mode 2/);
  });
});
