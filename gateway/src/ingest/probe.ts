// Asks ffprobe what a camera sends, to choose passthrough or transcode and the H.264 profile to signal.
import { execFile } from 'node:child_process';
import { redact, urlSecrets } from './ffmpegArgs.js';

export interface ProbeResult {
  video?: { codec: string; profile: string; width: number; height: number; fps: number };
  audio?: { codec: string; sampleRate: number; channels: number };
}

interface FfprobeStream {
  codec_type?: string;
  codec_name?: string;
  profile?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
}

function rate(r: string | undefined): number {
  const [n, d] = (r ?? '0/1').split('/').map(Number);
  return n && d ? n / d : 0;
}

export function probe(
  ffprobePath: string,
  url: string,
  rtspTransport: 'tcp' | 'udp',
  timeoutSec: number,
): Promise<ProbeResult> {
  const args = ['-v', 'error', '-rtsp_transport', rtspTransport, '-timeout', String(Math.round(timeoutSec * 1e6))];
  args.push('-analyzeduration', '1000000', '-probesize', '1000000', '-show_entries');
  args.push(
    'stream=codec_type,codec_name,profile,width,height,avg_frame_rate,r_frame_rate,sample_rate,channels',
    '-of',
    'json',
    url,
  );
  return new Promise((resolve, reject) => {
    execFile(ffprobePath, args, { timeout: (timeoutSec + 5) * 1000 }, (err, stdout, stderr) => {
      if (err) {
        const why = redact(`${stderr}`.trim().split('\n').pop() || err.message, urlSecrets(url));
        reject(new Error(`ffprobe: ${why}`));
        return;
      }
      let streams: FfprobeStream[];
      try {
        streams = (JSON.parse(stdout) as { streams?: FfprobeStream[] }).streams ?? [];
      } catch {
        // ffprobe killed by its timeout exits 0 with nothing on stdout: say so, never throw here.
        reject(new Error(`ffprobe: no answer within ${timeoutSec + 5} s`));
        return;
      }
      const v = streams.find((s) => s.codec_type === 'video');
      const a = streams.find((s) => s.codec_type === 'audio');
      resolve({
        ...(v && {
          video: {
            codec: v.codec_name ?? 'unknown',
            profile: v.profile ?? '',
            width: v.width ?? 0,
            height: v.height ?? 0,
            fps: rate(v.avg_frame_rate) || rate(v.r_frame_rate),
          },
        }),
        ...(a && {
          audio: {
            codec: a.codec_name ?? 'unknown',
            sampleRate: Number(a.sample_rate ?? 0),
            channels: a.channels ?? 1,
          },
        }),
      });
    });
  });
}
