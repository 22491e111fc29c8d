// SPS of real encoders: Debian's FFmpeg (libx264) with and without B-frames, in three profiles.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { spsReorderFrames } from './sps.js';

const FFMPEG = process.env['FFMPEG_BIN'] ?? '/usr/bin/ffmpeg';

/** The first SPS NAL unit of a few frames encoded by x264 with these settings. */
function x264Sps(profile: string, bframes: number, extra = ''): Buffer {
  const out = execFileSync(FFMPEG, [
    ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x96:rate=25'],
    ...['-frames:v', '5', '-c:v', 'libx264', '-profile:v', profile, '-bf', String(bframes)],
    ...(extra ? ['-x264-params', extra] : []),
    ...['-f', 'h264', 'pipe:1'],
  ]);
  for (let i = 0; i + 4 < out.length; i++) {
    if (out[i] === 0 && out[i + 1] === 0 && out[i + 2] === 1 && ((out[i + 3] as number) & 0x1f) === 7) {
      let end = i + 3;
      while (end + 3 < out.length && !(out[end] === 0 && out[end + 1] === 0 && (out[end + 2] as number) <= 1)) end++;
      return out.subarray(i + 3, end);
    }
  }
  throw new Error('no SPS in the encoder output');
}

describe('spsReorderFrames', () => {
  it('reads how many frames x264 may reorder, through High profile scaling lists and HRD', () => {
    expect(spsReorderFrames(x264Sps('baseline', 0))).toBe(0);
    expect(spsReorderFrames(x264Sps('main', 0))).toBe(0);
    expect(spsReorderFrames(x264Sps('high', 0))).toBe(0);
    expect(spsReorderFrames(x264Sps('main', 2, 'b-pyramid=none'))).toBe(1);
    expect(spsReorderFrames(x264Sps('high', 3))).toBeGreaterThanOrEqual(1);
    // HRD parameters in the VUI (a CBR encoder, as cameras run) come before the restriction.
    expect(spsReorderFrames(x264Sps('high', 2, 'nal-hrd=cbr:bitrate=300:vbv-maxrate=300:vbv-bufsize=300'))).toBe(2);
  });

  it('says nothing for what is not a readable SPS', () => {
    expect(spsReorderFrames(undefined)).toBeUndefined();
    expect(spsReorderFrames(Buffer.from([0x68, 1, 2, 3]))).toBeUndefined(); // a PPS
    expect(spsReorderFrames(Buffer.from([0x67, 0x4d, 0x00, 0x1f]))).toBeUndefined(); // cut short
  });
});
