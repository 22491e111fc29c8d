// The gateway behind a real reverse proxy (Debian's nginx, config/deploy/nginx.conf.template) with TLS
// on 127.0.0.1 and Host rewritten to the upstream: the wall plays through it, the audit records the
// browser's address (not nginx's: nginx connects from 127.0.0.2, the only trusted proxy), a forged
// X-Forwarded-For from an untrusted peer is ignored, and the gateway serves TLS itself (server.tls).
import fs from 'node:fs';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SUBPROTOCOL } from '../signaling/src/SignalingServer.js';
import { type Browser, launchBrowser } from './support/browser.js';
import { PALEMBANG_OFFICES, startCityStack } from './support/cityStack.js';
import { freePort, type Nginx, selfSignedCert, startNginx } from './support/nginx.js';
import { wallPlays, wallSnap } from './support/player.js';
import { gatewayOnSim, type LogRecord, type Stack, sleep, waitFor } from './support/stack.js';
import { auditRecords } from './support/whep.js';

const PROXY = '127.0.0.2';
let stack: Stack;
let nginx: Nginx;
let browser: Browser;
let publicUrl: string;
/** Addresses that opened a TCP connection to the gateway. */
const gatewaySaw = new Set<string>();

beforeAll(async () => {
  const port = await freePort();
  publicUrl = `https://127.0.0.1:${port}`;
  stack = await startCityStack({
    offices: PALEMBANG_OFFICES.slice(0, 6),
    config: { server: { trustProxy: [PROXY], publicUrl }, log: { level: 'info' } },
  });
  stack.gateway.app.server.on('connection', (s: { remoteAddress?: string }) => gatewaySaw.add(String(s.remoteAddress)));
  nginx = await startNginx({ upstream: `127.0.0.1:${stack.gateway.port}`, bind: PROXY, port });
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await nginx?.close();
  await stack?.close();
});

/** GET over TLS trusting only `ca`; `localAddress` picks the loopback address it comes from. */
function httpsGet(
  url: string,
  ca: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: fs.readFileSync(ca), headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      })
      .on('error', reject);
  });
}

/** A WebSocket to /ws; resolves with it open, or with the HTTP status that refused the upgrade. */
function openWs(
  url: string,
  opts: { headers?: Record<string, string>; localAddress?: string; ca?: string },
): Promise<{ ws?: WebSocket; status?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [SUBPROTOCOL], {
      headers: opts.headers ?? {},
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      ...(opts.ca ? { ca: fs.readFileSync(opts.ca) } : {}),
    });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
    ws.once('error', reject);
  });
}

/**
 * The peer address the gateway logged for a connection that sent garbage (its refusal line). A refusal
 * is logged once per peer and code in 10 s: `garbage` picks another code for a peer seen before.
 */
async function loggedPeer(logs: LogRecord[], ws: WebSocket, garbage = 'not json'): Promise<string> {
  const before = logs.length;
  ws.send(garbage);
  const line = await waitFor('the refusal in the log', () =>
    logs.slice(before).find((l) => l.msg === 'signaling request refused'),
  );
  ws.close();
  return String(line['peer']);
}

describe('behind nginx with TLS', () => {
  it('plays the wall through the proxy and audits the browser, not the proxy', async () => {
    const page = await browser.newPage({ ignoreHTTPSErrors: true });
    page.on('pageerror', (e) => console.error('[pageerror]', e.message));
    const res = await page.goto(`${publicUrl}/?token=${stack.token(['*'], 600, 'viewer', 'proxy-viewer')}`);
    expect(res?.status()).toBe(200);
    const h = res?.headers() ?? {};
    expect(h['cache-control']).toBe('no-store');
    expect(h['content-security-policy']).toContain("default-src 'self'");
    expect(h['x-content-type-options']).toBe('nosniff');
    expect(h['referrer-policy']).toBe('no-referrer');

    const first = await wallPlays(page, 'the visible tiles to play through nginx');
    await sleep(2000);
    const later = await wallSnap(page);
    const before = new Map(first.tiles.map((t) => [t.id, t.framesDecoded]));
    const playing = later.tiles.filter((t) => t.visible && t.framesDecoded - (before.get(t.id) ?? 0) >= 20);
    console.log(
      `via nginx: ${later.tiles.length} tiles, ${playing.length} with ≥20 new frames in 2 s, ${later.connections} signaling connection(s)`,
    );
    expect(playing.length).toBe(later.tiles.filter((t) => t.visible).length);
    expect(playing.length).toBeGreaterThan(0);

    await page.close();
    const file = stack.config.audit.file;
    const mine = await waitFor(
      'the views to be audited',
      () => {
        const r = auditRecords(file).filter((a) => a.sub === 'proxy-viewer');
        return r.length >= playing.length ? r : undefined;
      },
      15_000,
    );
    console.log(`audit: ${mine.length} views, clients ${[...new Set(mine.map((a) => a.client))].join(', ')}`);
    expect(new Set(mine.map((a) => a.client))).toEqual(new Set(['127.0.0.1']));
    // Not a pass by accident: everything reached the gateway from nginx's address, none from the browser's.
    expect([...gatewaySaw]).toEqual([PROXY]);
    expect(nginx.errorLog()).not.toMatch(/\[(crit|alert|emerg)\]/);
  }, 90_000);

  it('serves the web client compressed through the proxy', async () => {
    const r = await httpsGet(`${publicUrl}/app.js`, nginx.cert, { 'accept-encoding': 'gzip' });
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBe('gzip');
    const plain = await httpsGet(`${publicUrl}/app.js`, nginx.cert);
    expect(plain.headers['content-encoding']).toBeUndefined();
    console.log(`app.js: ${plain.body.length} bytes, ${r.body.length} gzipped`);
    expect(r.body.length).toBeLessThan(plain.body.length / 2);
  });

  it('believes X-Forwarded-* only from the trusted proxy', async () => {
    const direct = `ws://127.0.0.1:${stack.gateway.port}/ws`;
    // Untrusted peer (127.0.0.1, straight to the gateway) forging a client address and host.
    const forged = await openWs(direct, {
      headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
    });
    expect(await loggedPeer(stack.logs, forged.ws as WebSocket)).toBe('127.0.0.1');
    const forgedHost = await openWs(direct, {
      headers: { origin: 'https://evil.example', 'x-forwarded-host': 'evil.example' },
    });
    expect(forgedHost.status).toBe(403);
    // The refusal is logged with the real peer, not the forged one.
    const refused = stack.logs.filter((l) => l.msg === 'websocket refused: origin not allowed');
    expect(refused.at(-1)?.['peer']).toBe('127.0.0.1');

    // The same headers from the trusted proxy's address are believed.
    const viaProxy = await openWs(direct, { localAddress: PROXY, headers: { 'x-forwarded-for': '6.6.6.6, 10.1.2.3' } });
    expect(await loggedPeer(stack.logs, viaProxy.ws as WebSocket)).toBe('10.1.2.3');
    const chain = await openWs(direct, { localAddress: PROXY, headers: { 'x-forwarded-for': '6.6.6.6, 127.0.0.2' } });
    expect(await loggedPeer(stack.logs, chain.ws as WebSocket)).toBe('6.6.6.6');
    // RFC 7239 Forwarded: the same rules.
    const rfc = await openWs(direct, {
      localAddress: PROXY,
      headers: { forwarded: 'for="10.9.8.7:5123";proto=https;host=cctv.example, for=127.0.0.2' },
    });
    expect(await loggedPeer(stack.logs, rfc.ws as WebSocket)).toBe('10.9.8.7');
    const rfcForged = await openWs(direct, { headers: { forwarded: 'for=6.6.6.6' } });
    expect(await loggedPeer(stack.logs, rfcForged.ws as WebSocket, '{}')).toBe('127.0.0.1');
    // Host rewritten by the proxy, no X-Forwarded-Host: the public origin (server.publicUrl) is admitted.
    const pub = await openWs(direct, { localAddress: PROXY, headers: { origin: publicUrl } });
    expect(pub.ws).toBeDefined();
    pub.ws?.close();
    const other = await openWs(direct, { localAddress: PROXY, headers: { origin: 'https://evil.example' } });
    expect(other.status).toBe(403);
  });
});

describe('the gateway serving TLS itself (server.tls)', () => {
  it('answers HTTPS and WSS with its certificate', async () => {
    const dir = fs.mkdtempSync(`${nginx.dir}-own-`);
    const { cert, key } = selfSignedCert(dir);
    const own = await gatewayOnSim(
      stack.sim,
      [{ id: 'cam-tls', main: { url: stack.sim.url(PALEMBANG_OFFICES[0]?.id ?? '') } }],
      {
        server: { tls: { cert, key } },
        media: { workers: 1 },
      },
    );
    try {
      const base = `https://127.0.0.1:${own.gateway.port}`;
      // The HTTP hardening (slow headers) holds on the TLS server too.
      expect((own.gateway.app.server as { headersTimeout?: number }).headersTimeout).toBe(
        own.config.server.headersTimeoutSec * 1000,
      );
      const r = await httpsGet(`${base}/healthz`, cert);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body.toString())).toEqual({ ok: true });
      expect(r.headers['strict-transport-security']).toContain('max-age=');
      const page = await httpsGet(`${base}/?token=x`, cert);
      expect(page.headers['cache-control']).toBe('no-store');
      const wss = await openWs(`wss://127.0.0.1:${own.gateway.port}/ws`, { ca: cert, headers: { origin: base } });
      expect(wss.ws).toBeDefined();
      wss.ws?.close();
    } finally {
      await own.gateway.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
