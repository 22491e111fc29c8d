// Which tracks of a camera's SDP the packet relay can forward as they are: H.264 video
// (packetization-mode 0 or 1) and G.711 or Opus audio. Anything else needs FFmpeg. Pure; tested beside.
import type { AudioCodec } from '../../media/codecs.js';
import { spsProfileLevelId } from './h264.js';
import { type Sdp, type SdpFormat, type SdpMedia, spropParameterSets } from './sdp.js';
import { spsReorderFrames } from './sps.js';

export interface VideoTrackPlan {
  media: SdpMedia;
  format: SdpFormat;
  /** profile-level-id from the SDP (or from its SPS); undefined when the SDP says neither. */
  profileLevelId: string | undefined;
  sps: Buffer | undefined;
  pps: Buffer | undefined;
  /** Frames the decoder may reorder, from the SDP's SPS (> 0: B-frames); undefined when it does not say. */
  reorderFrames: number | undefined;
}

export interface AudioTrackPlan {
  media: SdpMedia;
  format: SdpFormat;
  codec: AudioCodec;
}

export interface PacketPlan {
  /** The camera's video codec as ffprobe would name it (h264, hevc, mjpeg, ...), for logs. */
  videoCodec: string;
  /** Set when the video can be relayed packet by packet. */
  video: VideoTrackPlan | undefined;
  /** Why it cannot (when video is undefined). */
  videoProblem: string | undefined;
  /** The camera's audio codec name ('' when it sends no audio). */
  audioCodec: string;
  /** Set when the camera's audio can be passed through. */
  audio: AudioTrackPlan | undefined;
}

const VIDEO_NAMES: Record<string, string> = {
  H264: 'h264',
  H265: 'hevc',
  JPEG: 'mjpeg',
  'MP4V-ES': 'mpeg4',
  MPV: 'mpeg2video',
};
const AUDIO_NAMES: Record<string, string> = {
  PCMU: 'pcm_mulaw',
  PCMA: 'pcm_alaw',
  OPUS: 'opus',
  'MPEG4-GENERIC': 'aac',
  'MP4A-LATM': 'aac',
  G726: 'g726',
  L16: 'pcm_s16be',
};

export const playable = (m: SdpMedia) => m.direction !== 'recvonly' && m.direction !== 'inactive';

export function planPacketIngest(sdp: Sdp): PacketPlan {
  const videos = sdp.media.filter((m) => m.type === 'video' && playable(m));
  const audios = sdp.media.filter((m) => m.type === 'audio' && playable(m));
  let video: VideoTrackPlan | undefined;
  for (const media of videos) {
    const format = media.formats.find(
      (f) => f.encoding === 'H264' && f.clockRate === 90000 && Number(f.fmtp['packetization-mode'] ?? '0') <= 1,
    );
    if (!format) continue;
    const sets = spropParameterSets(format.fmtp['sprop-parameter-sets']);
    const sps = sets.find((n) => ((n[0] as number) & 0x1f) === 7);
    const pps = sets.find((n) => ((n[0] as number) & 0x1f) === 8);
    const plid = format.fmtp['profile-level-id'];
    const profileLevelId = plid && /^[0-9a-f]{6}$/i.test(plid) ? plid.toLowerCase() : spsProfileLevelId(sps);
    video = { media, format, profileLevelId, sps, pps, reorderFrames: spsReorderFrames(sps) };
    break;
  }
  const first = videos[0]?.formats[0];
  const videoCodec = video
    ? 'h264'
    : first
      ? (VIDEO_NAMES[first.encoding] ?? (first.encoding.toLowerCase() || 'unknown'))
      : 'none';
  let videoProblem: string | undefined;
  if (!video) {
    const h264 = videos.flatMap((m) => m.formats).find((f) => f.encoding === 'H264');
    videoProblem = !first
      ? 'the camera sends no video track'
      : h264
        ? `H.264 packetization-mode ${h264.fmtp['packetization-mode']} is not supported`
        : `${videoCodec} needs transcoding`;
  }

  let audio: AudioTrackPlan | undefined;
  for (const media of audios) {
    for (const format of media.formats) {
      const codec = audioCodecOf(format);
      if (codec) {
        audio = { media, format, codec };
        break;
      }
    }
    if (audio) break;
  }
  const a0 = audios[0]?.formats[0];
  const audioCodec = audio
    ? (AUDIO_NAMES[audio.format.encoding] ?? '')
    : a0
      ? (AUDIO_NAMES[a0.encoding] ?? (a0.encoding.toLowerCase() || 'unknown'))
      : '';
  return { videoCodec, video, videoProblem, audioCodec, audio };
}

function audioCodecOf(f: SdpFormat): AudioCodec | undefined {
  if (f.encoding === 'PCMU' && f.clockRate === 8000 && f.channels === 1) return 'pcmu';
  if (f.encoding === 'PCMA' && f.clockRate === 8000 && f.channels === 1) return 'pcma';
  if (f.encoding === 'OPUS' && f.clockRate === 48000) return 'opus';
  return undefined;
}
