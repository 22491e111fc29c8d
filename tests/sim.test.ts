// Camera simulator against real FFmpeg clients: codecs, profiles, audio, digest auth, outages, clean stop.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator } from '../gateway/src/sim/CameraSimulator.js';

const FFPROBE = '/usr/bin/ffprobe';
const FFMPEG = '/usr/bin/ffmpeg';

interface ProbedStream {
  codec_type: string;
  codec_name: string;
  profile?: string;
  width?: number;
  height?: number;
}

function ffprobe(url: string): Promise<ProbedStream[]> {
  const args = ['-v', 'error', '-rtsp_transport', 'tcp', '-timeout', '5000000'];
  args.push('-show_entries', 'stream=codec_type,codec_name,profile,width,height', '-of', 'json', url);
  return new Promise((resolve, reject) => {
    execFile(FFPROBE, args, { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ffprobe ${url}: ${String(stderr).trim() || err.message}`));
      else resolve((JSON.parse(stdout) as { streams: ProbedStream[] }).streams);
    });
  });
}

/** Sends one bare DESCRIBE and returns the status code and header block. */
function describeRequest(port: number, path: string): Promise<{ status: number; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('DESCRIBE timed out')));
    socket.on('connect', () =>
      socket.write(`DESCRIBE rtsp://127.0.0.1:${port}${path} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n`),
    );
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.destroy();
      resolve({ status: Number(data.split(' ')[1]), head: data.slice(0, end) });
    });
    socket.on('error', reject);
  });
}

describe('CameraSimulator', () => {
  let sim: CameraSimulator;

  beforeAll(async () => {
    // First run encodes five short clips into .cache/sim; later runs reuse them.
    sim = await CameraSimulator.start({
      cameras: [
        { id: 'base', profile: 'baseline', width: 640, height: 360 },
        { id: 'high', profile: 'high', width: 1280, height: 720, bitrateKbps: 2000 },
        { id: 'secure', profile: 'main', auth: { method: 'digest', user: 'admin', password: 'Secret123' } },
        { id: 'hevc', codec: 'h265', profile: 'main', width: 640, height: 360 },
        { id: 'talk', profile: 'main', width: 320, height: 240, audio: 'pcmu' },
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await sim?.stop();
  });

  it('serves each codec, profile and size, with G.711 audio where asked', async () => {
    const [base, high, hevc, talk] = await Promise.all(
      ['base', 'high', 'hevc', 'talk'].map((id) => ffprobe(sim.url(id))),
    );
    expect(base).toEqual([
      expect.objectContaining({ codec_name: 'h264', profile: 'Constrained Baseline', width: 640, height: 360 }),
    ]);
    expect(high).toEqual([expect.objectContaining({ codec_name: 'h264', profile: 'High', width: 1280, height: 720 })]);
    expect(hevc).toEqual([expect.objectContaining({ codec_name: 'hevc', profile: 'Main', width: 640, height: 360 })]);
    expect(talk).toHaveLength(2);
    expect(talk).toContainEqual(expect.objectContaining({ codec_type: 'video', codec_name: 'h264', width: 320 }));
    expect(talk).toContainEqual(expect.objectContaining({ codec_type: 'audio', codec_name: 'pcm_mulaw' }));
  });

  it('answers 401 with a digest challenge without credentials and streams with them', async () => {
    const url = sim.url('secure');
    expect(url).toBe(`rtsp://127.0.0.1:${sim.port}/secure`);
    expect(sim.urlWithCredentials('secure')).toBe(`rtsp://admin:Secret123@127.0.0.1:${sim.port}/secure`);

    const bare = await describeRequest(sim.port, '/secure');
    expect(bare.status).toBe(401);
    expect(bare.head).toMatch(/^WWW-Authenticate: Digest /im);
    expect(bare.head).not.toMatch(/^WWW-Authenticate: Basic/im);
    expect((await describeRequest(sim.port, '/nope')).status).toBe(404);
    await expect(ffprobe(url)).rejects.toThrow(/401/);

    const streams = await ffprobe(sim.urlWithCredentials('secure'));
    expect(streams).toEqual([expect.objectContaining({ codec_name: 'h264', profile: 'Main', width: 640 })]);
  });

  it('stopCamera drops the viewer mid-stream and startCamera brings the camera back', async () => {
    const viewer = await startViewer('base');
    try {
      await sim.stopCamera('base');
      // The viewer sees its connection closed, as when a camera reboots.
      expect(await viewer.exited(8000)).toBe(true);
      expect((await describeRequest(sim.port, '/base')).status).toBe(404);
      expect(await ffprobe(sim.url('high'))).toHaveLength(1);
      await sim.startCamera('base');
      expect(await ffprobe(sim.url('base'))).toEqual([expect.objectContaining({ codec_name: 'h264' })]);
    } finally {
      viewer.kill();
    }
  });

  it('restart() mid-stream comes back on the same port and stop() leaves no process', async () => {
    const { port } = sim;
    const firstPid = sim.pid;
    const viewer = await startViewer('high');
    try {
      // A server-side close leaves TIME_WAIT sockets: the port must still rebind at once.
      await sim.restart();
      expect(await viewer.exited(8000)).toBe(true);
    } finally {
      viewer.kill();
    }
    expect(sim.port).toBe(port);
    expect(sim.pid).not.toBe(firstPid);
    expect(existsSync(`/proc/${firstPid}`)).toBe(false);
    expect(await ffprobe(sim.url('hevc'))).toEqual([expect.objectContaining({ codec_name: 'hevc' })]);

    const pid = sim.pid;
    expect(pid).toBeGreaterThan(0);
    await sim.stop();
    await sim.stop(); // idempotent
    expect(sim.running).toBe(false);
    expect(sim.pid).toBeUndefined();
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(() => process.kill(pid!, 0)).toThrow();
  });

  /** An FFmpeg pulling a camera with -c copy, resolved once its media is up. */
  async function startViewer(id: string): Promise<{ exited: (ms: number) => Promise<boolean>; kill: () => void }> {
    const mediaUp = sim.waitForEvent((e) => e.event === 'media-up' && e.id === id);
    const child = spawn(FFMPEG, `-v error -rtsp_transport tcp -i ${sim.url(id)} -c copy -f null -`.split(' '));
    const exit = new Promise<true>((resolve) => child.once('exit', () => resolve(true)));
    await mediaUp;
    return {
      exited: (ms) => Promise.race([exit, new Promise<false>((resolve) => setTimeout(() => resolve(false), ms))]),
      kill: () => child.kill('SIGKILL'),
    };
  }
});
