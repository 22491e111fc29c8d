// Readiness and shutdown against real parts: /readyz asks the real Redis the test runner started, a
// Redis that accepts and never answers is "not ready" within a second, and a gateway stops promptly
// while a browser-like keep-alive connection has an answer in flight (the answer still arrives).
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentServer } from './support/silentServer.js';
import { type Stack, startStack } from './support/stack.js';

/** A hung Redis: accepts connections and never answers. */
async function silentRedis(): Promise<{ url: string; close(): void }> {
  const server = await silentServer();
  return { url: `redis://127.0.0.1:${server.port}`, close: server.close };
}

/** GET over a keep-alive agent, as a browser does: status, Connection header, body. */
function get(url: string, agent: http.Agent): Promise<{ status: number; connection?: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            ...(res.headers.connection ? { connection: res.headers.connection } : {}),
            body,
          }),
        );
      })
      .on('error', reject);
  });
}

describe('readiness', () => {
  let hung: Awaited<ReturnType<typeof silentRedis>>;
  let up: Stack;
  let down: Stack;

  beforeAll(async () => {
    hung = await silentRedis();
    const cameras = [{ id: 'cam-r', profile: 'baseline' as const }];
    up = await startStack({ cameras, config: { redis: { url: 'redis://127.0.0.1:6379' } } });
    down = await startStack({ cameras, config: { redis: { url: hung.url } } });
  });

  afterAll(async () => {
    await up?.close();
    await down?.close();
    hung?.close();
  });

  it('is ready when the configured Redis answers', async () => {
    const res = await fetch(`${up.base}/readyz`);
    const body = (await res.json()) as { ready: boolean; dependencies: Record<string, boolean> };
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ ready: true, dependencies: { redis: true } });
  });

  it('is not ready, within a second, when Redis accepts but never answers', async () => {
    const t0 = Date.now();
    const res = await fetch(`${down.base}/readyz`);
    const ms = Date.now() - t0;
    console.log(`/readyz with a hung Redis answered ${res.status} in ${ms} ms`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ ready: false, dependencies: { redis: false } });
    expect(ms).toBeLessThan(1000);
  });
});

describe('shutdown', () => {
  let hung: Awaited<ReturnType<typeof silentRedis>>;
  let gw: Stack;

  beforeAll(async () => {
    // Its own hung Redis, so the first /readyz really waits (later ones fail fast).
    hung = await silentRedis();
    gw = await startStack({ cameras: [{ id: 'cam-s', profile: 'baseline' }], config: { redis: { url: hung.url } } });
  });

  afterAll(async () => {
    await gw?.close();
    hung?.close();
  });

  it('stops promptly with an answer in flight on a keep-alive connection, and the answer arrives', async () => {
    const agent = new http.Agent({ keepAlive: true });
    // Warm the connection so the next request reuses it, as a page polling the API does.
    expect((await get(`${gw.base}/healthz`, agent)).status).toBe(200);
    const inFlight = get(`${gw.base}/readyz`, agent); // held ~500 ms by the hung Redis
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await gw.gateway.close();
    const ms = Date.now() - t0;
    const res = await inFlight;
    console.log(`gateway closed in ${ms} ms with a request in flight; it was answered ${res.status}`);
    expect(res.status).toBe(503);
    expect(res.connection).toBe('close');
    // Node alone would keep that connection, and close() waiting, for keepAliveTimeout (72 s).
    expect(ms).toBeLessThan(1500);
    agent.destroy();
  });
});
