// FFmpeg never talks to a camera: the gateway's own RTSP client pulls it and relays each track's RTP,
// as it is, to loopback ports FFmpeg reads, described by an SDP FFmpeg gets on its stdin. So no
// camera URL (or password) is on any command line, and a transcoded camera has one RTSP session. Pure.
import { playable } from './rtsp/plan.js';
import type { Sdp, SdpFormat, SdpMedia } from './rtsp/sdp.js';

export interface RawTrack {
  media: SdpMedia;
  format: SdpFormat;
}

/** The camera's first playable video track and, when wanted, audio track, whatever their codecs. */
export function rawTracks(sdp: Sdp, audio: boolean): { video: RawTrack | undefined; audio: RawTrack | undefined } {
  const first = (type: string): RawTrack | undefined => {
    const media = sdp.media.find((m) => m.type === type && playable(m) && m.formats.length > 0);
    const format = media?.formats[0];
    return media && format ? { media, format } : undefined;
  };
  return { video: first('video'), audio: audio ? first('audio') : undefined };
}

/** The SDP that tells FFmpeg what each relayed track carries and on which loopback port it arrives. */
export function ffmpegInputSdp(tracks: { track: RawTrack; port: number }[], name: string): string {
  const lines = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', `s=${name}`, 'c=IN IP4 127.0.0.1', 't=0 0'];
  for (const { track, port } of tracks) {
    const f = track.format;
    const channels = track.media.type === 'audio' && f.channels > 1 ? `/${f.channels}` : '';
    lines.push(`m=${track.media.type} ${port} RTP/AVP ${f.payloadType}`);
    if (f.encoding) lines.push(`a=rtpmap:${f.payloadType} ${f.encoding}/${f.clockRate}${channels}`);
    if (f.fmtpText) lines.push(`a=fmtp:${f.payloadType} ${f.fmtpText}`);
    if (track.media.framerate) lines.push(`a=framerate:${track.media.framerate}`);
  }
  return `${lines.join('\r\n')}\r\n`;
}
