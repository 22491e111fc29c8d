// Two gateways of one cluster in this process (127.0.0.1 and .2, a real Redis, one simulator): the
// edge's copy of a piped Producer pauses and resumes with the owner's, and ends with it.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CameraSimulator } from '../gateway/src/sim/CameraSimulator.js';
import { freePort } from './support/nginx.js';
import { gatewayOnSim, type Stack, waitFor } from './support/stack.js';
import { WsClient } from './support/wsClient.js';

const CAM = 'kel-pause';
let redis: ChildProcess;
let sim: CameraSimulator;
const stacks: Stack[] = [];

async function node(id: string, host: string, redisPort: number): Promise<Stack> {
  const s = await gatewayOnSim(sim, [{ id: CAM, name: 'Kantor', main: { url: sim.url(CAM) }, ingest: 'packet' }], {
    server: { host, port: await freePort(host) },
    media: { workers: 1, listenIp: host },
    cluster: {
      redis: `redis://127.0.0.1:${redisPort}`,
      secret: 'pause-test-secret-pause-test-secret',
      nodeId: id,
      heartbeatSec: 0.5,
      leaseSec: 3,
    },
  });
  s.base = `http://${host}:${s.gateway.port}`;
  stacks.push(s);
  return s;
}

async function consume(s: Stack): Promise<WsClient> {
  const c = await WsClient.connect(`${s.base.replace('http', 'ws')}/ws`);
  await c.request('auth', { token: s.token() });
  const caps = (await c.request('getRouterRtpCapabilities')).data?.['rtpCapabilities'];
  const t = await c.request('createTransport', {});
  const r = await c.request('consume', { transportId: t.data?.['id'], stream: CAM, rtpCapabilities: caps });
  expect(r.ok, JSON.stringify(r.error)).toBe(true);
  return c;
}

beforeAll(async () => {
  const redisPort = await freePort();
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', ''], {
    stdio: 'ignore',
  });
  sim = await CameraSimulator.start({ cameras: [{ id: CAM, profile: 'baseline', gop: 25, label: CAM }] });
  await node('node-a', '127.0.0.1', redisPort);
  await node('node-b', '127.0.0.2', redisPort);
  await waitFor(
    'both nodes to see each other',
    async () =>
      (await Promise.all(stacks.map((s) => fetch(`${s.base}/metrics`).then((r) => r.text())))).every((t) =>
        t.includes('cctv_cluster_nodes 2'),
      ),
    15_000,
  );
}, 60_000);

afterAll(async () => {
  for (const s of stacks) await s.gateway.close();
  await sim?.stop();
  redis?.kill('SIGKILL');
});

describe('a piped Producer', () => {
  it("pauses, resumes and ends with the owner's", async () => {
    const [a, b] = stacks as [Stack, Stack];
    const owner = await consume(a); // node-a takes the camera
    const edge = await consume(b); // node-b gets it piped
    const own = a.gateway.streams.get(CAM, 'main');
    const piped = b.gateway.streams.get(CAM, 'main');
    expect(piped.piped).toBe(true);
    const video = () => piped.producers.find((p) => p.kind === 'video');
    await own.producers.find((p) => p.kind === 'video')?.pause();
    await waitFor('the edge copy paused', async () => video()?.paused === true, 5000, 50);
    await own.producers.find((p) => p.kind === 'video')?.resume();
    await waitFor('the edge copy resumed', async () => video()?.paused === false, 5000, 50);
    // The owner's ingest goes (its lease handed over, say): the edge's copy ends, its viewers move.
    const closed = new Promise<void>((r) => video()?.observer.once('close', () => r()));
    await own.handOver('test');
    await closed;
    owner.ws.close();
    edge.ws.close();
  }, 30_000);
});
