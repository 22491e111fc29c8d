import { describe, expect, it } from 'vitest';
import { classifyFfmpegLine, ffmpegArgs, type IngestPlan, redact, urlSecrets } from './ffmpegArgs.js';

const target = {
  ip: '127.0.0.1',
  rtpPort: 42000,
  rtcpPort: 42001,
  localRtpPort: 43000,
  localRtcpPort: 43001,
  ssrc: 1234,
  payloadType: 102,
};
const plan: IngestPlan = {
  name: 'kel-a/main',
  video: { ...target, mode: 'copy' },
};

describe('ffmpegArgs', () => {
  it('passes H.264 through with SPS/PPS on keyframes, a fixed SSRC/PT and fixed local ports', () => {
    const a = ffmpegArgs(plan);
    const s = a.join(' ');
    // The camera's RTP comes relayed, described by an SDP on stdin: no camera URL on the command line.
    expect(s).toContain('-protocol_whitelist pipe,udp,rtp -f sdp -i pipe:0');
    expect(s).not.toContain('rtsp');
    expect(s).toContain('-metadata title=kel-a/main');
    expect(s).toContain('-analyzeduration 1000000');
    expect(ffmpegArgs({ ...plan, analyzeUs: 200_000 }).join(' ')).toContain('-analyzeduration 200000');
    expect(s).toContain('-c:v copy -bsf:v dump_extra -f rtp -ssrc 1234 -payload_type 102');
    expect(a.at(-1)).toBe('rtp://127.0.0.1:42000?rtcpport=42001&localrtpport=43000&localrtcpport=43001&pkt_size=1200');
    expect(a.indexOf('-i')).toBeLessThan(a.indexOf('-map'));
    expect(s).not.toContain('libx264');
  });

  it('transcodes to Baseline H.264 with no B-frames when asked', () => {
    const s = ffmpegArgs({ ...plan, video: { ...target, mode: 'transcode', fps: 12, bitrateKbps: 1500 } }).join(' ');
    expect(s).toContain('-c:v libx264');
    expect(s).toContain('-profile:v baseline');
    expect(s).toContain('-bf 0 -g 12 -b:v 1500k');
  });

  it('adds an audio output: G.711 copied, AAC to Opus', () => {
    const audio = { ...target, rtpPort: 42002, ssrc: 99, payloadType: 0 };
    const copy = ffmpegArgs({ ...plan, audio: { ...audio, mode: 'copy' } }).join(' ');
    expect(copy).toContain('-map 0:a:0 -c:a copy -f rtp -ssrc 99 -payload_type 0 rtp://127.0.0.1:42002');
    const opus = ffmpegArgs({ ...plan, audio: { ...audio, mode: 'opus' } }).join(' ');
    expect(opus).toContain('-c:a libopus -ar 48000 -ac 2');
  });
});

describe('redact', () => {
  it('removes credentials from URLs and known secrets anywhere', () => {
    const url = 'rtsp://admin:s3cr%40t@10.0.0.1:554/Streaming';
    const line = `[tcp @ 0x1] Connection to ${url} failed; password s3cr@t`;
    const out = redact(line, urlSecrets(url));
    expect(out).toBe('[tcp @ 0x1] Connection to rtsp://***@10.0.0.1:554/Streaming failed; password ***');
  });
});

describe('classifyFfmpegLine', () => {
  it('names the common camera failures', () => {
    expect(classifyFfmpegLine('[rtsp @ 0x5] method DESCRIBE failed: 401 Unauthorized')).toBe('auth');
    expect(classifyFfmpegLine('[rtsp @ 0x5] method DESCRIBE failed: 404 Not Found')).toBe('not_found');
    expect(classifyFfmpegLine('[tcp @ 0x5] Connection to tcp://127.0.0.1:1 failed: Connection refused')).toBe(
      'unreachable',
    );
    expect(classifyFfmpegLine('frame=  10 fps=0.0')).toBeNull();
  });
});
