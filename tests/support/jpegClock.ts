// Reads what a picture shows: decodes a JPEG with the real FFmpeg to grey pixels and reads the clock
// camera's drawn time (three rows of 16 blocks, see ClockFeeder in gateway/src/sim/camsim.py).
import { execFile } from 'node:child_process';

const FFMPEG = process.env['FFMPEG_BIN'] ?? '/usr/bin/ffmpeg';

export interface Picture {
  width: number;
  height: number;
  grey: Buffer;
}

/** The JPEG's size and grey pixels; rejects when it is not a picture FFmpeg can decode. */
export async function decodeJpeg(jpeg: Buffer): Promise<Picture> {
  const probe = await run(
    ['-hide_banner', '-f', 'image2pipe', '-c:v', 'mjpeg', '-i', 'pipe:0', '-f', 'null', '-'],
    jpeg,
  );
  const m = /Video: mjpeg.*?, (\d+)x(\d+)/.exec(probe.stderr.toString());
  if (!m) throw new Error(`not a JPEG FFmpeg can read: ${probe.stderr.toString().slice(-300)}`);
  const grey = await run(
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'image2pipe',
      '-c:v',
      'mjpeg',
      '-i',
      'pipe:0',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'gray',
      'pipe:1',
    ],
    jpeg,
  );
  return { width: Number(m[1]), height: Number(m[2]), grey: grey.stdout };
}

/** The time (ms mod 2^32) a clock camera drew into the picture, or null when its check row fails. */
export function readClock(p: Picture): number | null {
  const block = Math.floor(p.width / 16);
  const row = (r: number): number => {
    let v = 0;
    const y = Math.floor(block / 2 + r * block + block / 2);
    for (let b = 0; b < 16; b++)
      v = (v << 1) | ((p.grey[y * p.width + Math.floor(b * block + block / 2)] as number) > 128 ? 1 : 0);
    return v;
  };
  const hi = row(0);
  const lo = row(1);
  if (((hi ^ lo ^ 0xa5a5) & 0xffff) !== row(2)) return null;
  return hi * 65536 + lo;
}

/** `ms` (a clock reading) minus `now`'s clock value, on the 2^32 ms circle. */
export function clockDiff(ms: number, now: number): number {
  const mod = 2 ** 32;
  const d = (((ms - (now % mod)) % mod) + mod) % mod;
  return d > mod / 2 ? d - mod : d;
}

function run(args: string[], input: Buffer): Promise<{ stdout: Buffer; stderr: Buffer }> {
  return new Promise((resolve, reject) => {
    const child = execFile(FFMPEG, args, { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err && !stderr.length) reject(err);
      else resolve({ stdout, stderr });
    });
    child.stdin?.end(input);
  });
}
