// FFmpeg command lines (pure; tested beside): the input is the camera's RTP as the gateway's RTSP
// client relays it, described by an SDP on stdin (ffmpegInput.ts); the output goes to the receive
// sockets of FfmpegSource, which hand it to the tracks' RtpForwarders. No camera URL on the line.
export interface RtpTarget {
  ip: string;
  rtpPort: number;
  rtcpPort: number;
  /** Fixed local ports: a comedia PlainTransport only accepts the source it learned first. */
  localRtpPort: number;
  localRtcpPort: number;
  ssrc: number;
  payloadType: number;
}

export interface IngestPlan {
  /** Which stream this FFmpeg serves (shown in `ps`; never a URL). */
  name: string;
  /** How long FFmpeg may analyse the input before sending (µs); every 100 ms here delays each start. */
  analyzeUs?: number;
  video: RtpTarget & { mode: 'copy' | 'transcode'; fps?: number; bitrateKbps?: number };
  audio?: RtpTarget & { mode: 'copy' | 'opus' };
}

function rtpUrl(t: RtpTarget): string {
  // Local ports 0: the system picks them (FFmpeg sends to FfmpegSource's receive sockets, which accept any source).
  const local = t.localRtpPort ? `&localrtpport=${t.localRtpPort}&localrtcpport=${t.localRtcpPort}` : '';
  return `rtp://${t.ip}:${t.rtpPort}?rtcpport=${t.rtcpPort}${local}&pkt_size=1200`;
}

export function ffmpegArgs(plan: IngestPlan): string[] {
  const input = [
    '-hide_banner',
    '-nostats',
    '-nostdin',
    '-loglevel',
    'level+warning',
    '-fflags',
    'nobuffer',
    '-flags',
    'low_delay',
    // FFmpeg analyses up to this long before it sends anything: it delays every (re)start.
    '-analyzeduration',
    String(plan.analyzeUs ?? 1_000_000),
    '-probesize',
    '1000000',
    // The SDP comes on stdin (pipe:0); the RTP on the loopback ports it names.
    '-protocol_whitelist',
    'pipe,udp,rtp',
    '-f',
    'sdp',
    '-i',
    'pipe:0',
  ];
  const v = plan.video;
  const video =
    v.mode === 'copy'
      ? ['-map', '0:v:0', '-c:v', 'copy']
      : [
          '-map',
          '0:v:0',
          '-c:v',
          'libx264',
          '-preset',
          'veryfast',
          '-tune',
          'zerolatency',
          '-profile:v',
          'baseline',
          '-pix_fmt',
          'yuv420p',
          '-bf',
          '0',
          '-g',
          String(v.fps ?? 25),
          '-b:v',
          `${v.bitrateKbps ?? 2000}k`,
          '-maxrate',
          `${v.bitrateKbps ?? 2000}k`,
          '-bufsize',
          `${Math.round((v.bitrateKbps ?? 2000) / 2)}k`,
        ];
  // mediasoup spots an H.264 keyframe only by an in-band SPS: put SPS/PPS before every keyframe.
  const out = [
    ...video,
    '-bsf:v',
    'dump_extra',
    '-f',
    'rtp',
    '-ssrc',
    String(v.ssrc),
    '-payload_type',
    String(v.payloadType),
    rtpUrl(v),
  ];
  const a = plan.audio;
  if (a) {
    const codec =
      a.mode === 'copy'
        ? ['-c:a', 'copy']
        : ['-c:a', 'libopus', '-ar', '48000', '-ac', '2', '-b:a', '32k', '-application', 'lowdelay'];
    out.push(
      '-map',
      '0:a:0',
      ...codec,
      '-f',
      'rtp',
      '-ssrc',
      String(a.ssrc),
      '-payload_type',
      String(a.payloadType),
      rtpUrl(a),
    );
  }
  return [...input, '-metadata', `title=${plan.name}`, ...out];
}

// Credentials out of text (kept importable from here, where the ingest code has always taken them).
export { redact, urlSecrets } from './secrets.js';

export type FailureReason = 'auth' | 'not_found' | 'unreachable' | 'timeout' | 'bad_stream' | 'exit';

/** Classifies an FFmpeg stderr line into a restart reason, or null when it says nothing decisive. */
export function classifyFfmpegLine(line: string): FailureReason | null {
  if (/401 Unauthorized|403 Forbidden/i.test(line)) return 'auth';
  if (/404 Not Found|Server returned 4\d\d/i.test(line)) return 'not_found';
  if (/Connection refused|No route to host|Network is unreachable|Name or service not known/i.test(line))
    return 'unreachable';
  if (/timed out|Timeout|Operation not permitted/i.test(line)) return 'timeout';
  if (/Invalid data found|could not find codec parameters|no video stream/i.test(line)) return 'bad_stream';
  return null;
}
