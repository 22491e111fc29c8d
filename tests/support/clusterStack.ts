// A real cluster for tests and benchmarks: a redis-server, one camera simulator, and gateway
// processes (node --import tsx gateway/src/main.ts) on their own loopback addresses (127.0.0.1, .2,
// .3 …), each a node of the cluster; and the viewers and probes the cluster tests share.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Page } from 'playwright-core';
import { type Role, TokenVerifier } from '../../gateway/src/auth/tokens.js';
import { CameraSimulator, type SimEvent } from '../../gateway/src/sim/CameraSimulator.js';
import type { Browser } from './browser.js';
import { freePort } from './nginx.js';
import { probe } from './player.js';
import { sleep, waitFor } from './stack.js';
import { WsClient } from './wsClient.js';

export const CLUSTER_SECRET = 'cluster-test-secret-cluster-test-secret';
export const CLUSTER_CAM = 'kel-sekip-jaya';
const JWT = 'test-secret-for-the-cluster-test-only';
const root = path.resolve(import.meta.dirname, '../..');

export interface NodeProc {
  id: string;
  address: string;
  port: number;
  base: string;
  child: ChildProcess;
  log: string[];
}

export class ClusterStack {
  readonly nodes = new Map<string, NodeProc>();
  readonly simEvents: SimEvent[] = [];
  readonly #tokens = TokenVerifier.fromConfig({
    algorithm: 'HS256',
    jwtSecret: JWT,
    issuer: 'cctv-gateway',
    audience: 'cctv-gateway',
    clockToleranceSec: 5,
  });
  redis: ChildProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly redisPort: number,
    readonly sim: CameraSimulator,
    readonly leaseSec: number,
  ) {}

  /** Redis, the simulator (one always-on camera), and a node per [id, address]. */
  static async start(opts: { nodes: [string, string][]; leaseSec: number }): Promise<ClusterStack> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cctv-cluster-'));
    const sim = await CameraSimulator.start({
      cameras: [
        {
          id: CLUSTER_CAM,
          profile: 'baseline',
          gop: 25,
          fps: 25,
          width: 640,
          height: 360,
          bitrateKbps: 600,
          label: CLUSTER_CAM,
        },
      ],
    });
    const stack = new ClusterStack(dir, await freePort(), sim, opts.leaseSec);
    sim.onEvent((e) => stack.simEvents.push(e));
    stack.startRedis();
    await Promise.all(opts.nodes.map(([id, address]) => stack.startNode(id, address)));
    return stack;
  }

  token(sub = 'cluster-viewer', role: Role = 'viewer'): string {
    return this.#tokens.sign({ sub, role, streams: ['*'] }, 600);
  }

  /** RTSP sessions the camera has seen play (media-up). */
  sessions(): number {
    return this.simEvents.filter((e) => e.event === 'media-up' && e.id === CLUSTER_CAM).length;
  }

  startRedis(): void {
    this.redis = spawn(
      'redis-server',
      ['--port', String(this.redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
  }

  /** A node process; `again`: the same node started again on its port. */
  async startNode(id: string, address: string, again?: NodeProc): Promise<NodeProc> {
    const port = again?.port ?? (await freePort(address));
    const config = {
      server: { host: address, port, maxConnectionsPerAddress: 0 },
      media: { workers: 1, listenIp: address, rtcPort: await freePort(address) },
      ingest: { idleTimeoutSec: 30 },
      log: { level: 'info' },
      audit: { file: path.join(this.dir, `${id}-audit.jsonl`) },
      auth: {
        accounts: { file: path.join(this.dir, 'users.json') },
        sessions: { revokedFile: path.join(this.dir, `${id}-revoked.jsonl`) },
      },
      cluster: {
        redis: `redis://127.0.0.1:${this.redisPort}`,
        nodeId: id,
        heartbeatSec: 0.5,
        leaseSec: this.leaseSec,
      },
      cameras: [
        {
          id: CLUSTER_CAM,
          name: 'Kantor Kelurahan Sekip Jaya',
          main: { url: this.sim.url(CLUSTER_CAM) },
          alwaysOn: true,
        },
      ],
    };
    const file = path.join(this.dir, `${id}.json`);
    fs.writeFileSync(file, JSON.stringify(config));
    const child = spawn('node', ['--import', 'tsx', 'gateway/src/main.ts', '--config', file], {
      cwd: root,
      env: { ...process.env, CCTV_JWT_SECRET: JWT, CCTV_CLUSTER_SECRET: CLUSTER_SECRET, NODE_ENV: 'test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node: NodeProc = { id, address, port, base: `http://${address}:${port}`, child, log: [] };
    for (const s of [child.stdout, child.stderr])
      s?.setEncoding('utf8').on('data', (c: string) => node.log.push(...c.split('\n').filter(Boolean)));
    this.nodes.set(id, node);
    await waitFor(
      `node ${id} ready`,
      async () => ((await fetch(`${node.base}/readyz`).catch(() => undefined))?.ok ? true : undefined),
      30_000,
      200,
    );
    return node;
  }

  /** The node holding the camera's lease, from Redis itself. */
  async owner(): Promise<string | undefined> {
    const r = new Redis(this.redisPort, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await r.connect();
      const v = await r.get(`cctv:lease:${CLUSTER_CAM}`);
      return v ? v.slice(0, v.lastIndexOf(':')) : undefined;
    } finally {
      r.disconnect();
    }
  }

  /** One sample of a metric line (`name{labels}` as printed) on a node; 0 when absent. */
  async metric(n: NodeProc, name: string): Promise<number> {
    const text = await (await fetch(`${n.base}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(name));
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  /** SIGKILL a node, forget it; resolves once it is gone. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<NodeProc> {
    const n = this.nodes.get(id) as NodeProc;
    const gone = new Promise((r) => n.child.once('exit', r));
    n.child.kill(signal);
    await gone;
    this.nodes.delete(id);
    return n;
  }

  async close(): Promise<void> {
    for (const n of this.nodes.values()) n.child.kill('SIGKILL');
    this.redis?.kill('SIGKILL');
    await this.sim.stop();
    if (process.env['CCTV_TEST_LOG'])
      for (const n of this.nodes.values())
        fs.writeFileSync(`${process.env['CCTV_TEST_LOG']}.${n.id}`, n.log.join('\n'));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A Chromium page playing the camera on `n` (the phone view), once it shows frames. */
export async function viewerOn(browser: Browser, n: NodeProc, token: string): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  if (process.env['CCTV_DEBUG']) page.on('console', (m) => console.log('[page]', m.text()));
  await page.goto(`${n.base}/m/${CLUSTER_CAM}?token=${token}`);
  await waitFor(
    `the camera to play on ${n.id}`,
    async () => ((await probe(page)).framesDecoded > 10 ? true : undefined),
    30_000,
    200,
  );
  return page;
}

/** Frames the page shows within `ms`. */
export async function framesIn(page: Page, ms: number): Promise<number> {
  const a = (await probe(page)).framesDecoded;
  await sleep(ms);
  return (await probe(page)).framesDecoded - a;
}

/** From now, the longest wait between two painted frames (requestVideoFrameCallback): read with maxGap. */
export async function startGapWatch(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { maxGap: number; gapWatch?: boolean };
    w.maxGap = 0;
    if (w.gapWatch) return;
    w.gapWatch = true;
    const v = document.querySelector('video') as HTMLVideoElement;
    let last = performance.now();
    const f = () => {
      const now = performance.now();
      w.maxGap = Math.max(w.maxGap, now - last);
      last = now;
      v.requestVideoFrameCallback(f);
    };
    v.requestVideoFrameCallback(f);
  });
}

export const maxGap = (page: Page): Promise<number> =>
  page.evaluate(() => (window as unknown as { maxGap: number }).maxGap);

/** A signaling client on `n` that consumes the camera (no media flows to it: no ICE). */
export async function consumeOn(n: NodeProc, token: string): Promise<WsClient> {
  const c = await WsClient.connect(`${n.base.replace('http', 'ws')}/ws`);
  const auth = await c.request('auth', { token });
  if (!auth.ok) throw new Error(`auth on ${n.id}: ${JSON.stringify(auth.error)}`);
  const caps = (await c.request('getRouterRtpCapabilities')).data?.['rtpCapabilities'];
  const t = await c.request('createTransport', {});
  const r = await c.request('consume', { transportId: t.data?.['id'], stream: CLUSTER_CAM, rtpCapabilities: caps });
  if (!r.ok) {
    c.ws.close();
    throw new Error(`consume on ${n.id}: ${JSON.stringify(r.error)}`);
  }
  return c;
}
