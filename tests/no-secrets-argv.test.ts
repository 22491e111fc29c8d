// No camera password on any command line: FFmpeg gets the camera's RTP relayed by the gateway's own
// RTSP client (an SDP on its stdin), never the camera URL, so `ps` and /proc/<pid>/cmdline show no
// credentials. Cameras with basic and digest auth, a password with URL-special characters, and an
// H.265 camera that FFmpeg transcodes; every process on the machine is read while they all run.
import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegProcesses, type Stack, startStack, waitFor } from './support/stack.js';

const CAMS = [
  { id: 'sec-basic', password: 'Basic-Rahasia-91', method: 'basic' as const },
  { id: 'sec-digest', password: 'Digest-Rahasia-92', method: 'digest' as const },
  { id: 'sec-special', password: 'p@ss:w/rd#1%Zz', method: 'digest' as const },
  { id: 'sec-h265', password: 'Hevc-Rahasia-93', method: 'basic' as const, codec: 'h265' as const },
];
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    cameras: CAMS.map((c) => ({
      id: c.id,
      label: 'secrets',
      gop: 25,
      alwaysOn: true,
      ingest: c.codec ? ('auto' as const) : ('ffmpeg' as const),
      ...(c.codec ? { codec: c.codec, profile: 'main' as const, label: 'secrets-h265' } : {}),
      auth: { method: c.method, user: `admin-${c.id}`, password: c.password },
    })),
  });
  await waitFor(
    'every camera live through FFmpeg',
    () => CAMS.every((c) => stack.gateway.streams.get(c.id, 'main').state === 'live'),
    40_000,
  );
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

/** Every process's argv, as any local user can read it. */
async function commandLines(): Promise<{ pid: number; argv: string[] }[]> {
  const out: { pid: number; argv: string[] }[] = [];
  for (const d of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const raw = await fs.readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
    if (raw) out.push({ pid: Number(d), argv: raw.split('\0').filter(Boolean) });
  }
  return out;
}

describe('camera credentials on command lines', () => {
  it('runs one FFmpeg per camera, and no process argv holds a password in any encoding', async () => {
    for (const c of CAMS) expect(await ffmpegProcesses(`${c.id}/main`), c.id).toHaveLength(1);
    const lines = await commandLines();
    const ffmpeg = lines.filter((l) => l.argv[0]?.endsWith('ffmpeg'));
    console.log(`${lines.length} processes read, ${ffmpeg.length} FFmpeg; e.g.: ${ffmpeg[0]?.argv.join(' ')}`);
    for (const c of CAMS) {
      const forms = [
        c.password,
        encodeURIComponent(c.password),
        Buffer.from(`admin-${c.id}:${c.password}`).toString('base64'),
      ];
      for (const l of lines)
        for (const f of forms) expect(l.argv.join(' '), `${c.id} in pid ${l.pid}`).not.toContain(f);
    }
    // Nor any camera URL: FFmpeg reads an SDP from stdin, not rtsp://.
    for (const l of ffmpeg) expect(l.argv.join(' ')).not.toMatch(/rtsps?:\/\//);
  });
});
