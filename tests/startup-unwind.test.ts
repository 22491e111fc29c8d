// A start that fails half-way unwinds what it had started: the HTTP port is taken, so Gateway.start
// rejects naming the port, and no mediasoup worker, FFmpeg or other child process it spawned and no
// handle (socket, pipe, timer) it opened is left. The cameras are always-on, so an ingest started
// before the listen would be caught too.
import fs from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator, type SimEvent } from '../gateway/src/sim/CameraSimulator.js';
import { gatewayOnSim, waitFor } from './support/stack.js';

let sim: CameraSimulator;
let blocker: net.Server;
let port: number;
const events: SimEvent[] = [];

const cameras = () => [
  {
    id: 'unwind-relay',
    name: 'Kantor unwind-relay',
    main: { url: sim.url('unwind-relay') },
    alwaysOn: true,
    ingest: 'packet',
  },
  {
    id: 'unwind-ffmpeg',
    name: 'Kantor unwind-ffmpeg',
    main: { url: sim.url('unwind-ffmpeg') },
    alwaysOn: true,
    ingest: 'ffmpeg',
  },
];

/** This process's live children (zombies excluded): pid and program name. */
async function children(): Promise<{ pid: number; prog: string }[]> {
  const out: { pid: number; prog: string }[] = [];
  for (const d of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const stat = await fs.readFile(`/proc/${d}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(ppid) !== process.pid || state === 'Z') continue;
    const argv0 = (await fs.readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')).split('\0')[0] ?? '';
    out.push({ pid: Number(d), prog: argv0.split('/').at(-1) ?? argv0 });
  }
  return out;
}

/** Active libuv resources by kind (TCPServerWrap, PipeWrap, ProcessWrap, Timeout, ...). */
function handles(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

/** Kinds with more resources now than in `before`. */
function grown(before: Map<string, number>): string[] {
  return [...handles()].filter(([k, n]) => n > (before.get(k) ?? 0)).map(([k, n]) => `${k} ${before.get(k) ?? 0}→${n}`);
}

beforeAll(async () => {
  const cam = { profile: 'baseline' as const, gop: 25, label: 'unwind' };
  sim = await CameraSimulator.start({
    cameras: [
      { id: 'unwind-relay', ...cam },
      { id: 'unwind-ffmpeg', ...cam },
    ],
  });
  sim.onEvent((e) => events.push(e));
  blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  port = (blocker.address() as AddressInfo).port;
}, 60_000);

afterAll(async () => {
  blocker?.close();
  await sim?.stop();
});

describe('Gateway.start unwinds a failed start', () => {
  it('rejects on a taken HTTP port, naming it, and leaves no process or handle behind', async () => {
    const kids0 = await children();
    const handles0 = handles();
    const t0 = Date.now();
    const result = await gatewayOnSim(sim, cameras(), { server: { port } }).then(
      async (s) => {
        await s.gateway.close();
        return new Error('Gateway.start resolved on a taken port');
      },
      (err: Error) => err,
    );
    console.log(`Gateway.start rejected after ${Date.now() - t0} ms: ${result.message}`);
    expect(result.message).toMatch(/EADDRINUSE/);
    expect(result.message).toContain(String(port));

    const pids0 = new Set(kids0.map((k) => k.pid));
    const left = async () => (await children()).filter((k) => !pids0.has(k.pid));
    // Closing is asynchronous at the edges (a worker's exit, a socket's close): give it a moment.
    await waitFor(
      'no new child process and no new handle',
      async () => (await left()).length === 0 && grown(handles0).length === 0,
      5000,
    ).catch(() => {});
    const sessions = events.filter((e) => e.event === 'media-up').length;
    const ended = events.filter((e) => e.event === 'media-down').length;
    console.log(
      `children before: ${kids0.map((k) => k.prog).join(', ')}; left by the start: ${JSON.stringify(await left())}; ` +
        `handles grown: ${grown(handles0).join(', ') || 'none'}; RTSP sessions opened ${sessions}, ended ${ended}`,
    );
    expect(await left()).toEqual([]);
    expect(grown(handles0)).toEqual([]);
    expect(ended).toBe(sessions);
  });

  it('starts on that port once it is free (nothing of the failed start holds it)', async () => {
    await new Promise<void>((r) => blocker.close(() => r()));
    const handles0 = handles();
    const s = await gatewayOnSim(sim, cameras(), { server: { port } });
    try {
      expect(s.gateway.port).toBe(port);
      expect((await fetch(`${s.base}/healthz`)).status).toBe(200);
      // The scans above see a running gateway: its two workers, the always-on camera's FFmpeg, its handles.
      const progs = await waitFor('the workers and FFmpeg', async () => {
        const p = (await children()).map((k) => k.prog);
        return p.filter((x) => x === 'mediasoup-worker').length === 2 && p.includes('ffmpeg') ? p : undefined;
      });
      console.log(`a running gateway: children ${progs.join(', ')}; handles grown: ${grown(handles0).join(', ')}`);
      expect(grown(handles0).length).toBeGreaterThan(0);
    } finally {
      await s.gateway.close();
    }
  });
});
