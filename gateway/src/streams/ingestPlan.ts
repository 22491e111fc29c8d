// What a stream variant's ingest will be, decided from what the camera says (its SDP) and its
// config. Pure: StreamVariant does the I/O and acts on the answer.
import type { PacketPlan } from '../ingest/rtsp/plan.js';
import { type AudioCodec, H264_BASELINE, signalledProfileLevelId } from '../media/codecs.js';

export type IngestMode = 'auto' | 'packet' | 'ffmpeg';
export type Transcode = 'auto' | 'always' | 'never';

export interface IngestWish {
  mode: IngestMode;
  transcode: Transcode;
  /** The camera's audio is wanted. */
  audio: boolean;
  /** The camera was seen sending H.264 with B-frames (frames out of display order). */
  bframes?: boolean;
}

export const BFRAMES_WHY = 'the camera sends B-frames, which browsers show at about 1 frame per second';

/** The packet relay's decision for a described camera. */
export type PacketDecision =
  | { use: 'packet'; audio: AudioCodec | undefined; warning?: string }
  | { use: 'ffmpeg'; why: string }
  | { use: 'none'; why: string };

export function decidePacket(wish: IngestWish, plan: PacketPlan): PacketDecision {
  const bframes = !!wish.bframes || (plan.video?.reorderFrames ?? 0) > 0;
  const audioNeedsFfmpeg = wish.audio && plan.audioCodec !== '' && !plan.audio;
  const why =
    wish.transcode === 'always'
      ? "transcode is 'always'"
      : !plan.video
        ? plan.videoProblem
        : audioNeedsFfmpeg
          ? `${plan.audioCodec} audio needs transcoding`
          : bframes && wish.transcode === 'auto'
            ? BFRAMES_WHY
            : undefined;
  if (wish.mode === 'auto' && why) return { use: 'ffmpeg', why };
  if (!plan.video || wish.transcode === 'always') {
    return { use: 'none', why: `ingest 'packet' cannot relay this camera: ${why ?? 'no video'}` };
  }
  const warning = audioNeedsFfmpeg
    ? `camera audio (${plan.audioCodec}) needs transcoding; not relayed`
    : bframes
      ? `${BFRAMES_WHY}; relayed as it is because ${wish.mode === 'packet' ? "ingest is 'packet'" : "transcode is 'never'"}`
      : undefined;
  return { use: 'packet', audio: wish.audio ? plan.audio?.codec : undefined, ...(warning ? { warning } : {}) };
}

/** What the FFmpeg path needs to know of a camera (codec names as FFmpeg calls them). */
export interface CameraMedia {
  /** bframes: the camera's SPS says it reorders frames. */
  video?: { codec: string; profile: string; fps: number; bframes?: boolean };
  audio?: { codec: string };
}

/** The camera's media as its SDP describes it; `fps` from a=framerate (0 when the SDP does not say). */
export function cameraMedia(plan: PacketPlan, framerate: number): CameraMedia {
  return {
    ...(plan.videoCodec !== 'none'
      ? {
          video: {
            codec: plan.videoCodec,
            profile: plan.video?.profileLevelId ?? '',
            fps: framerate,
            bframes: (plan.video?.reorderFrames ?? 0) > 0,
          },
        }
      : {}),
    ...(plan.audioCodec ? { audio: { codec: plan.audioCodec } } : {}),
  };
}

export interface FfmpegTracks {
  video: { mode: 'copy' | 'transcode'; profileLevelId: string; fps: number };
  audio?: { codec: AudioCodec; mode: 'copy' | 'opus' };
}

/** The FFmpeg path's tracks for a described camera, or why it cannot be shown. */
export function decideFfmpeg(wish: IngestWish, info: CameraMedia): FfmpegTracks | { error: string } {
  const v = info.video;
  if (!v) return { error: 'camera sends no video track' };
  const transcode =
    wish.transcode === 'always' || (wish.transcode === 'auto' && (v.codec !== 'h264' || !!wish.bframes || !!v.bframes));
  if (!transcode && v.codec !== 'h264') return { error: `camera sends ${v.codec} and transcode is 'never'` };
  const tracks: FfmpegTracks = {
    video: {
      mode: transcode ? 'transcode' : 'copy',
      profileLevelId: transcode ? H264_BASELINE : signalledProfileLevelId(v.profile),
      fps: Math.round(v.fps) || 25,
    },
  };
  const a = info.audio;
  if (wish.audio && a) {
    const codec: AudioCodec = a.codec === 'pcm_mulaw' ? 'pcmu' : a.codec === 'pcm_alaw' ? 'pcma' : 'opus';
    tracks.audio = { codec, mode: codec === 'opus' ? 'opus' : 'copy' };
  }
  return tracks;
}
