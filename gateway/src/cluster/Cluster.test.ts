// The registry and leases against a real redis-server, reached directly and through a real Sentinel
// (redis-server --sentinel): one holder per camera, fencing, release, and a lease taken by another
// node while this one was away is given up (leaseLost), never fought over.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, sentinelsOf } from './Cluster.js';

const logger = pino({ level: 'silent' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cctv-cluster-unit-'));
const procs: ChildProcess[] = [];
let port: number;
let sentinelPort: number;

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });

async function until(what: string, fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const node = (id: string, url: string) =>
  new Cluster({
    redisUrl: url,
    node: { id, url: `http://127.0.0.1:1/${id}`, publicUrl: `http://127.0.0.1:1`, address: '127.0.0.1', startedAt: 0 },
    heartbeatMs: 200,
    leaseMs: 1000,
    load: () => ({ viewers: 0, cameras: 0 }),
    logger,
  });

beforeAll(async () => {
  port = await freePort();
  sentinelPort = await freePort();
  procs.push(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', ''], { stdio: 'ignore' }));
  const conf = path.join(dir, 'sentinel.conf');
  fs.writeFileSync(
    conf,
    `port ${sentinelPort}\nbind 127.0.0.1\nsentinel monitor cctv 127.0.0.1 ${port} 1\nsentinel down-after-milliseconds cctv 1000\n`,
  );
  procs.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
  await until('redis and its sentinel', async () => {
    const r = new Redis(sentinelPort, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0 });
    r.on('error', () => {}); // not up yet: tried again
    try {
      await r.connect();
      const master = (await r.call('SENTINEL', 'get-master-addr-by-name', 'cctv')) as string[] | null;
      return master?.[1] === String(port);
    } finally {
      r.disconnect();
    }
  });
}, 30_000);

afterAll(() => {
  for (const p of procs) p.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('sentinelsOf', () => {
  it('reads Sentinel URLs and leaves plain ones alone', () => {
    expect(sentinelsOf('redis-sentinel://a:26379,b:26380/mymaster')).toEqual({
      sentinels: [
        { host: 'a', port: 26379 },
        { host: 'b', port: 26380 },
      ],
      name: 'mymaster',
    });
    expect(sentinelsOf('redis-sentinel://:p%40ss@a/m')).toMatchObject({ password: 'p@ss', name: 'm' });
    expect(sentinelsOf('redis://a:6379')).toBeUndefined();
  });
});

describe('Cluster', () => {
  for (const via of ['direct', 'sentinel'] as const) {
    it(`one holder per camera, a new fence per grant, release (${via})`, async () => {
      const url = via === 'direct' ? `redis://127.0.0.1:${port}` : `redis-sentinel://127.0.0.1:${sentinelPort}/cctv`;
      const a = node(`a-${via}`, url);
      const b = node(`b-${via}`, url);
      await a.start();
      await b.start();
      await until('both connected', async () => a.state === 'connected' && b.state === 'connected');
      const cam = `cam-${via}`;
      expect(await a.claim(cam)).toBe(true);
      expect(await b.claim(cam)).toBe(false);
      expect(await b.owner(cam)).toBe(a.id);
      await until('b to list both nodes', async () => b.nodes.length >= 2);
      // Held past its TTL: renewals keep it.
      await new Promise((r) => setTimeout(r, 1500));
      expect(await b.owner(cam)).toBe(a.id);
      await a.release(cam);
      expect(await b.claim(cam)).toBe(true);
      const r = new Redis(port, '127.0.0.1');
      expect(Number(await r.get(`cctv:fence:${cam}`))).toBeGreaterThanOrEqual(2);
      r.disconnect();
      await a.close();
      await b.close();
    }, 20_000);
  }

  it('a lease another node took meanwhile is given up (leaseLost), not taken back', async () => {
    const url = `redis://127.0.0.1:${port}`;
    const a = node('a-lost', url);
    await a.start();
    await until('connected', async () => a.state === 'connected');
    expect(await a.claim('cam-lost')).toBe(true);
    const lost = new Promise<string>((r) => a.once('leaseLost', r));
    // Another node holds it now (as if this one's lease had run out while it was away).
    const r = new Redis(port, '127.0.0.1');
    await r.set('cctv:lease:cam-lost', 'other:99', 'PX', 5000);
    r.disconnect();
    expect(await lost).toBe('cam-lost');
    expect(a.owned).not.toContain('cam-lost');
    await a.close();
  }, 10_000);
});
