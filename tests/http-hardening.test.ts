// The public HTTP port under hostile clients, against the real gateway: traversal and malformed
// static paths, connections that never finish their headers, one address opening too many
// connections; WebSockets keep working past the HTTP timeouts.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type Stack, sleep, startStack } from './support/stack.js';

const LIMITS = { headersTimeoutSec: 2, requestTimeoutSec: 4, idleTimeoutSec: 5, maxConnectionsPerAddress: 16 };

let stack: Stack;
const port = () => new URL(stack.base).port;

beforeAll(async () => {
  stack = await startStack({
    cameras: [{ id: 'cam-a', profile: 'baseline', gop: 25 }],
    config: { server: LIMITS, signaling: { authTimeoutSec: 30 } },
  });
});

afterAll(async () => {
  await stack?.close();
});

/** Sends `path` byte for byte (no client-side normalisation) and returns the status line and body. */
function rawGet(path: string, localAddress = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port: Number(port()), host: '127.0.0.1', localAddress }, () =>
      s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`),
    );
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d) => {
      text += d;
    });
    s.on('error', reject);
    s.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      resolve({ status: Number(head.split(' ')[1]), body });
    });
  });
}

describe('static files', () => {
  // Each one climbs out of the web root, smuggles a NUL or a backslash, or does not decode.
  const hostile = [
    '/..%2f..%2f..%2fetc%2fpasswd',
    '/..%2F..%2F..%2Fetc%2Fpasswd',
    '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/.%2e/.%2e/.%2e/etc/passwd',
    '/..%5c..%5c..%5cetc%5cpasswd',
    '/%2e%2e%5c%2e%2e%5cetc%5cpasswd',
    '/../../../etc/passwd',
    '/..\\..\\..\\etc\\passwd',
    '/index.html%00',
    '/index.html%00.js',
    '/%00',
    '/%00/../../etc/passwd',
    '/%252e%252e%252f%252e%252e%252fetc%252fpasswd',
    '/..%252f..%252fetc%252fpasswd',
    '/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd',
    '/..%c0%af..%c0%afetc%c0%afpasswd',
    '/%ff',
    '/%',
    '/%zz/index.html',
    '/..%2fbuild.mjs',
    '/..%2f..%2fpackage.json',
    '/%2e%2e/README.md',
    '/index.html/..%2f..%2f..%2fpackage.json',
    '/.%2e/.%2e/config/default.yaml',
    '/embed/..%2f..%2fetc%2fpasswd',
    '/embed/%2e%2e',
    '/m/%00',
    '/m/..%5c..%5cpackage.json',
    '/cctv-player.js%00.html',
  ];

  it(`answers ${hostile.length} traversal and malformed paths with 404 or 400, logs no error, serves nothing outside`, async () => {
    const logsBefore = stack.logs.length;
    const seen: string[] = [];
    for (const path of hostile) {
      const { status, body } = await rawGet(path);
      seen.push(`${status} ${path}`);
      expect([400, 404], path).toContain(status);
      const error = (JSON.parse(body) as { error: { code: string } }).error;
      expect(['E_NOT_FOUND', 'E_BAD_REQUEST'], path).toContain(error.code);
      // What lies beside the web root: /etc/passwd, the repository's package.json, web-client/build.mjs.
      expect(body, path).not.toMatch(/root:x:0|"name": "cctv-gateway"|esbuild|<!doctype/i);
    }
    console.log(`static paths:\n  ${seen.join('\n  ')}`);
    const since = stack.logs.slice(logsBefore);
    expect(since.filter((l) => l.level >= 50)).toEqual([]);
    expect(JSON.stringify(since)).not.toMatch(/ForbiddenError|BadRequestError|stack/);
  });

  it('still serves the web client, its pages and the web component', async () => {
    for (const path of ['/', '/index.html', '/cctv-player.js', '/embed/cam-a', '/m/cam-a']) {
      const { status, body } = await rawGet(path);
      expect(status, path).toBe(200);
      expect(body.length, path).toBeGreaterThan(100);
    }
  });
});

describe('slow clients', () => {
  it('closes 100 connections that never finish their headers after the timeout while /healthz stays fast', async () => {
    await (await fetch(`${stack.base}/healthz`)).text(); // the first fetch loads the client library: not timed
    const t0 = Date.now();
    const closedAfter: number[] = [];
    const answers: string[] = [];
    const sockets: net.Socket[] = [];
    const tricklers: NodeJS.Timeout[] = [];
    // Ten addresses, ten each: under the per-address cap, so only the timeout can close them.
    for (let i = 0; i < 100; i++) {
      const s = net.connect({ port: Number(port()), host: '127.0.0.1', localAddress: `127.0.0.${10 + (i % 10)}` });
      s.on('error', () => {});
      s.on('data', (d) => answers.push(String(d).split('\r\n')[0] ?? ''));
      s.on('close', () => closedAfter.push(Date.now() - t0));
      // Half say nothing at all; half start a request and add a header line every 500 ms, forever.
      if (i % 2) {
        s.once('connect', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'));
        tricklers.push(setInterval(() => s.writable && s.write(`X-Slow-${Date.now()}: 1\r\n`), 500));
      }
      sockets.push(s);
    }
    const healthMs: number[] = [];
    while (closedAfter.length < 100 && Date.now() - t0 < 15_000) {
      const h0 = performance.now();
      const res = await fetch(`${stack.base}/healthz`);
      expect(res.status).toBe(200);
      await res.text();
      healthMs.push(performance.now() - h0);
      await sleep(100);
    }
    for (const t of tricklers) clearInterval(t);
    for (const s of sockets) s.destroy();
    closedAfter.sort((a, b) => a - b);
    healthMs.sort((a, b) => a - b);
    const p = (a: number[], q: number) => a[Math.min(a.length - 1, Math.floor(a.length * q))] ?? Number.NaN;
    console.log(
      `slow headers (headersTimeoutSec ${LIMITS.headersTimeoutSec}): 100 connections closed after ` +
        `${closedAfter[0]}–${closedAfter[99]} ms; answers ${[...new Set(answers)].join(', ') || 'none'}; ` +
        `/healthz during it: ${healthMs.length} requests, p50 ${p(healthMs, 0.5).toFixed(1)} ms, max ${p(healthMs, 1).toFixed(1)} ms`,
    );
    expect(closedAfter).toHaveLength(100);
    // Node checks the timeout once a second: closed in [timeout, timeout + 1 s], with slack for load.
    expect(closedAfter[0]).toBeGreaterThanOrEqual(LIMITS.headersTimeoutSec * 1000 - 100);
    expect(closedAfter[99]).toBeLessThan(LIMITS.headersTimeoutSec * 1000 + 2500);
    expect(p(healthMs, 1)).toBeLessThan(100);
  });
});

describe('connections per address', () => {
  const openWs = (localAddress: string): Promise<WebSocket> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${stack.base.replace('http', 'ws')}/ws`, { localAddress });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  const ask = (ws: WebSocket, id: number, method: string, data: object = {}) =>
    new Promise<{ ok: boolean }>((resolve) => {
      const onMessage = (raw: Buffer) => {
        const msg = JSON.parse(String(raw)) as { id?: number; ok: boolean };
        if (msg.id !== id) return;
        ws.off('message', onMessage);
        resolve(msg);
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id, method, data }));
    });
  /** Whether a new connection from `localAddress` is answered at all. */
  const answered = async (localAddress: string) =>
    rawGet('/healthz', localAddress).then(
      (r) => r.status === 200,
      () => false,
    );

  it('refuses connections over the cap, serves other addresses, and keeps WebSockets past the HTTP timeouts', async () => {
    const cap = LIMITS.maxConnectionsPerAddress;
    const sockets = await Promise.all(Array.from({ length: cap }, () => openWs('127.0.0.30')));
    for (const [i, ws] of sockets.entries())
      expect((await ask(ws, 1, 'auth', { token: stack.token(['*'], 600, 'viewer', `cap-${i}`) })).ok).toBe(true);

    const refused = await Promise.all(Array.from({ length: 5 }, () => answered('127.0.0.30')));
    expect(refused).toEqual([false, false, false, false, false]);
    expect(await answered('127.0.0.31')).toBe(true);

    // Longer than requestTimeoutSec and idleTimeoutSec with no traffic: the sockets are still there.
    await sleep((LIMITS.idleTimeoutSec + 1.5) * 1000);
    const replies = await Promise.all(sockets.map((ws) => ask(ws, 2, 'listStreams')));
    expect(replies.every((r) => r.ok)).toBe(true);

    // One closes: its address may connect again.
    const first = sockets[0] as WebSocket;
    await new Promise((r) => {
      first.once('close', r);
      first.close();
    });
    await sleep(100);
    expect(await answered('127.0.0.30')).toBe(true);
    console.log(
      `per-address cap ${cap}: ${cap} WebSockets held ${LIMITS.idleTimeoutSec + 1.5} s and answered; ` +
        `5 more refused; another address served; one closed, one accepted`,
    );
    for (const ws of sockets) ws.close();
  });
});
