// Which codecs routers offer and how a camera's H.264 profile is signalled to browsers.
//
// mediasoup matches H.264 by profile (level-asymmetry-allowed=1 lets any level through), and a
// Consumer is signalled with the router codec its Producer matched. Debian's Chromium receives only
// 42001f, 42e01f and 4d001f (no High); Safari is reported to offer 42e01f and 640c1f. So:
// - Constrained Baseline and Baseline cameras are signalled 42e01f: every browser plays it.
// - Main and High cameras are signalled Main (4d001f). A High bitstream signalled as Main decodes in
//   Chromium's software decoder (checked here); a High router codec could not be consumed at all.
//   Safari with Main/High cameras is untested here; the `sub` variant (usually Baseline) is the fallback.
import type { types } from 'mediasoup';

export const H264_BASELINE = '42e01f';
export const H264_MAIN = '4d001f';
export const VIDEO_PT = 102;
export const AUDIO_PT = { pcmu: 0, pcma: 8, opus: 111 } as const;

export const ROUTER_CODECS: types.RtpCodecCapability[] = [
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': H264_BASELINE, 'level-asymmetry-allowed': 1 },
  },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': H264_MAIN, 'level-asymmetry-allowed': 1 },
  },
  { kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000, channels: 1 },
  { kind: 'audio', mimeType: 'audio/PCMA', clockRate: 8000, channels: 1 },
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
];

/**
 * The playout-delay RTP header extension (min = max = 0: render each frame as soon as it is
 * decoded, no smoothing delay). The ingest stamps it on each video frame's first packet
 * (FrameStartStamp) and the worker proxies it
 * (scripts/build-mediasoup-worker.mjs backports that); only a viewer that asks for low latency
 * negotiates it, so others ignore it. Id 14 in the router, the Producers and on the wire.
 */
export const PLAYOUT_DELAY: types.RtpHeaderExtension = {
  kind: 'video',
  uri: 'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay',
  preferredId: 14,
  preferredEncrypt: false,
  direction: 'sendrecv',
};

/** ffprobe's profile name (or an SDP profile-level-id) to the profile-level-id browsers are told. */
export function signalledProfileLevelId(profile: string): string {
  const p = profile.trim().toLowerCase();
  if (/^[0-9a-f]{6}$/.test(p)) return p.startsWith('42') ? H264_BASELINE : H264_MAIN;
  if (p.includes('baseline')) return H264_BASELINE;
  return H264_MAIN;
}

export function videoProducerCodec(profileLevelId: string): types.RtpCodecParameters {
  return {
    mimeType: 'video/H264',
    payloadType: VIDEO_PT,
    clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': profileLevelId, 'level-asymmetry-allowed': 1 },
    rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
  };
}

export type AudioCodec = keyof typeof AUDIO_PT;

export function audioProducerCodec(codec: AudioCodec): types.RtpCodecParameters {
  if (codec === 'opus') return { mimeType: 'audio/opus', payloadType: AUDIO_PT.opus, clockRate: 48000, channels: 2 };
  return {
    mimeType: codec === 'pcmu' ? 'audio/PCMU' : 'audio/PCMA',
    payloadType: AUDIO_PT[codec],
    clockRate: 8000,
    channels: 1,
  };
}

/** A stable SSRC per stream variant and kind, kept within FFmpeg 5.1's signed `-ssrc` range. */
export function ssrcFor(key: string): number {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return ((h >>> 0) % 2147483000) + 1;
}
