// Who may watch what: every way in is tried with real WebSocket and HTTP clients while a valid viewer
// in a real browser keeps watching. Then token expiry mid-session, and the audit trail.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { parseConfig } from '../config/load.js';
import type { AuditRecord } from '../gateway/src/audit/AuditLog.js';
import { TokenVerifier } from '../gateway/src/auth/tokens.js';
import { Gateway } from '../gateway/src/Gateway.js';
import { createLogger } from '../gateway/src/log.js';
import { type Browser, launchBrowser } from './support/browser.js';
import { probe } from './support/player.js';
import { type Stack, sleep, startStack, TEST_SECRET, waitFor } from './support/stack.js';
import { WsClient } from './support/wsClient.js';

let stack: Stack;
let browser: Browser;
let watcher: Page;

const wsUrl = () => `${stack.base.replace('http', 'ws')}/ws`;
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const sign = (claims: object, opts: jwt.SignOptions = {}, secret = TEST_SECRET) =>
  jwt.sign({ role: 'viewer', streams: ['*'], ...claims }, secret, {
    algorithm: 'HS256',
    subject: 'someone',
    issuer: 'cctv-gateway',
    audience: 'cctv-gateway',
    expiresIn: 600,
    ...opts,
  });

async function openPlayer(stream: string, token: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${stack.base}/?token=${token}&stream=${stream}`);
  await waitFor(`${stream} playing`, async () => (await probe(page)).framesDecoded > 5, 20_000);
  return page;
}

async function authWith(token: string) {
  const c = await WsClient.connect(wsUrl());
  const r = await c.request('auth', { token });
  c.close();
  return r;
}

beforeAll(async () => {
  stack = await startStack({
    cameras: [
      { id: 'cam-a', profile: 'baseline', gop: 25, alwaysOn: true },
      { id: 'cam-b', profile: 'baseline', gop: 25 },
    ],
    config: { signaling: { authTimeoutSec: 1, ratePerSec: 20 } },
  });
  browser = await launchBrowser();
  watcher = await openPlayer('cam-a', stack.token(['cam-a'], 3600));
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('authentication and protocol hardening', () => {
  let framesBefore = 0;
  let startedAt = 0;
  beforeAll(async () => {
    framesBefore = (await probe(watcher)).framesDecoded;
    startedAt = Date.now();
  });

  it('refuses requests without a token, on WebSocket and HTTP', async () => {
    const c = await WsClient.connect(wsUrl());
    const r = await c.request('getRouterRtpCapabilities');
    expect(r.error).toMatchObject({ code: 'E_UNAUTHENTICATED', reason: 'missing' });
    c.close();
    const res = await fetch(`${stack.base}/api/streams`);
    expect(res.status).toBe(401);
    expect((await res.json()).error).toMatchObject({ code: 'E_UNAUTHENTICATED', reason: 'missing' });
  });

  it('closes a socket that does not authenticate in time', async () => {
    const c = await WsClient.connect(wsUrl());
    const code = await new Promise<number>((r) => c.ws.once('close', (code) => r(code)));
    expect(code).toBe(4401);
  });

  it('names each bad token', async () => {
    const cases: [string, string, string, RegExp][] = [
      ['bad signature', sign({}, {}, 'not-the-gateway-secret-at-all'), 'bad_signature', /signature does not match/],
      [
        'alg none',
        `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'x', role: 'admin', streams: ['*'], exp: 9e9, iss: 'cctv-gateway', aud: 'cctv-gateway' })}.`,
        'unsigned',
        /alg "none"/,
      ],
      ['expired', sign({}, { expiresIn: -60 }), 'expired', /expired at/],
      ['not yet valid', sign({}, { notBefore: 3600 }), 'not_yet_valid', /not valid before/],
      ['wrong audience', sign({}, { audience: 'another-app' }), 'wrong_audience', /another audience/],
      ['wrong issuer', sign({}, { issuer: 'someone-else' }), 'wrong_issuer', /another issuer/],
      ['not a JWT', 'hello.world', 'malformed', /not a JWT/],
    ];
    for (const [what, token, reason, message] of cases) {
      const r = await authWith(token);
      expect(r.ok, what).toBe(false);
      expect(r.error?.code, what).toBe(reason === 'expired' ? 'E_AUTH_EXPIRED' : 'E_UNAUTHENTICATED');
      expect(r.error?.reason, what).toBe(reason);
      expect(r.error?.message, what).toMatch(message);
      expect(JSON.stringify(r), what).not.toContain(token.slice(0, 30) || '§');
    }
    const metrics = await (await fetch(`${stack.base}/metrics`)).text();
    for (const reason of ['bad_signature', 'unsigned', 'expired', 'not_yet_valid', 'wrong_audience', 'wrong_issuer']) {
      expect(metrics).toMatch(new RegExp(`cctv_auth_failures_total\\{reason="${reason}"\\} [1-9]`));
    }
  });

  it('refuses a stream outside the token scope', async () => {
    const c = await WsClient.connect(wsUrl());
    await c.request('auth', { token: stack.token(['cam-b']) });
    const t = await c.request('createTransport');
    const caps = (await c.request('getRouterRtpCapabilities')).data?.['rtpCapabilities'];
    const r = await c.request('consume', { transportId: t.data?.['id'], stream: 'cam-a', rtpCapabilities: caps });
    expect(r.error).toMatchObject({ code: 'E_FORBIDDEN_STREAM' });
    expect(r.error?.message).toContain('cam-a');
    c.close();
  });

  it('answers oversize, malformed, invalid and unknown messages with their own codes and keeps the socket', async () => {
    const c = await WsClient.connect(wsUrl());
    await c.request('auth', { token: stack.token() });
    const big = await c.raw(JSON.stringify({ id: 1, method: 'listStreams', data: { pad: 'x'.repeat(20_000) } }));
    expect(big.error?.code).toBe('E_TOO_LARGE');
    expect((await c.raw('{"id": 2, "method": ')).error?.code).toBe('E_BAD_JSON');
    expect((await c.request('fly', {})).error?.code).toBe('E_UNKNOWN_METHOD');
    expect((await c.request('consume', { stream: 7 })).error).toMatchObject({ code: 'E_BAD_REQUEST' });
    expect((await c.raw('[1,2,3]')).error?.code).toBe('E_BAD_REQUEST');
    const fast = await c.request('consume', {
      transportId: 'x',
      stream: 'cam-a',
      rtpCapabilities: {},
      latency: 'fast',
    });
    expect(fast.error).toMatchObject({ code: 'E_BAD_REQUEST' });
    expect(fast.error?.message).toContain('latency');
    expect((await c.request('listStreams')).ok).toBe(true);
    c.close();
  });

  it('rate-limits a flood and serves the connection again once it slows down', async () => {
    const c = await WsClient.connect(wsUrl());
    await c.request('auth', { token: stack.token() });
    const replies = await Promise.all(Array.from({ length: 200 }, () => c.request('listStreams')));
    const limited = replies.filter((r) => r.error?.code === 'E_RATE_LIMITED').length;
    expect(limited).toBeGreaterThan(100);
    expect(replies.filter((r) => r.ok).length).toBeGreaterThanOrEqual(20);
    await sleep(1500);
    expect((await c.request('listStreams')).ok).toBe(true);
    c.close();
  });

  it('refuses an admin route to a viewer', async () => {
    const res = await fetch(`${stack.base}/api/audit`, { headers: { authorization: `Bearer ${stack.token()}` } });
    expect(res.status).toBe(403);
    expect((await res.json()).error).toMatchObject({ code: 'E_FORBIDDEN' });
    const mint = await fetch(`${stack.base}/api/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.token()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'opd-app', streams: ['cam-a'] }),
    });
    expect(mint.status).toBe(403);
  });

  it('lets an integrator mint embed tokens within its own scope only, and nothing of the admin', async () => {
    const integrator = { authorization: `Bearer ${stack.token(['cam-a*'], 600, 'integrator', 'opd-app')}` };
    const mint = (streams: string[]) =>
      fetch(`${stack.base}/api/tokens`, {
        method: 'POST',
        headers: { ...integrator, 'content-type': 'application/json' },
        body: JSON.stringify({ sub: 'opd-kiosk', streams }),
      });
    const ok = await mint(['cam-a']);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ role: 'viewer', streams: ['cam-a'] });
    for (const wider of [['cam-*'], ['*'], ['cam-a', 'cam-b']]) {
      const res = await mint(wider);
      expect(res.status).toBe(403);
      expect((await res.json()).error).toMatchObject({ code: 'E_FORBIDDEN_STREAM' });
    }
    const listed = await fetch(`${stack.base}/api/streams`, { headers: integrator });
    expect(((await listed.json()) as { streams: { id: string }[] }).streams.map((s) => s.id)).toEqual(['cam-a']);
    for (const path of ['/api/audit', '/api/ops']) {
      expect((await fetch(`${stack.base}${path}`, { headers: integrator })).status).toBe(403);
    }
  });

  it('refuses a socket from an origin not on the allow-list', async () => {
    const res = await new Promise<number>((resolve) => {
      const ws = new WebSocket(wsUrl(), { headers: { origin: 'https://evil.example' } });
      ws.on('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => {});
    });
    expect(res).toBe(403);
  });

  it('kept the valid viewer playing throughout', async () => {
    const p = await probe(watcher);
    const seconds = (Date.now() - startedAt) / 1000;
    console.log(`valid viewer: ${p.framesDecoded - framesBefore} frames in ${seconds.toFixed(1)} s of attacks`);
    expect(p.error).toBeNull();
    expect(p.framesDecoded - framesBefore).toBeGreaterThan(seconds * 25 * 0.8);
  });
});

describe('RS256 configuration', () => {
  it('accepts its RS256 tokens and refuses an HS256 token', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cctv-rs256-'));
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    fs.writeFileSync(path.join(dir, 'pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    fs.writeFileSync(path.join(dir, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const { config } = parseConfig(
      {
        server: { host: '127.0.0.1', port: 0 },
        media: { workers: 1, listenIp: '127.0.0.1', rtcPort: 0 },
        auth: {
          algorithm: 'RS256',
          publicKeyFile: path.join(dir, 'pub.pem'),
          privateKeyFile: path.join(dir, 'key.pem'),
        },
        audit: { file: path.join(dir, 'audit.jsonl') },
        log: { level: 'warn' },
      },
      'test',
      {},
    );
    const verifier = TokenVerifier.fromConfig(config.auth);
    const gw = await Gateway.start({ config, cameras: [], verifier, logger: createLogger('silent') });
    try {
      const url = `ws://127.0.0.1:${gw.port}/ws`;
      const ok = await WsClient.connect(url);
      expect(
        (await ok.request('auth', { token: verifier.sign({ sub: 'x', role: 'viewer', streams: ['*'] }, 60) })).ok,
      ).toBe(true);
      ok.close();
      const bad = await WsClient.connect(url);
      const r = await bad.request('auth', { token: sign({}) });
      expect(r.error).toMatchObject({ code: 'E_UNAUTHENTICATED', reason: 'bad_algorithm' });
      expect(r.error?.message).toMatch(/HS256.*RS256 only/);
      bad.close();
    } finally {
      await gw.close();
    }
  });
});

describe('token expiry mid-session', () => {
  it("ends the expired viewer's consumers with E_AUTH_EXPIRED while a refreshed viewer keeps going", async () => {
    // 12 s: long enough for both pages to start playing on a loaded machine, short enough to expire here.
    const short = () => stack.token(['cam-a'], 12);
    const expiring = await openPlayer('cam-a', short());
    const refreshed = await openPlayer('cam-a', short());
    await sleep(1000);
    await refreshed.evaluate(
      (t) => (window as unknown as { cctvSetToken: (t: string) => Promise<void> }).cctvSetToken(t),
      stack.token(['cam-a'], 600),
    );
    await waitFor('expiry', async () => (await probe(expiring)).error === 'E_AUTH_EXPIRED', 20_000);
    const a = (await probe(refreshed)).framesDecoded;
    await sleep(2000);
    const p = await probe(refreshed);
    expect(p.error).toBeNull();
    expect(p.framesDecoded - a).toBeGreaterThan(25);
    const e1 = (await probe(expiring)).framesDecoded;
    await sleep(1000);
    expect((await probe(expiring)).framesDecoded).toBe(e1);
    await expiring.close();
    await refreshed.close();
  });
});

describe('audit trail', () => {
  const admin = () => ({ authorization: `Bearer ${stack.token(['*'], 600, 'admin', 'kominfo-admin')}` });
  const audit = async (query: string) => {
    const res = await fetch(`${stack.base}/api/audit?${query}`, { headers: admin() });
    expect(res.status).toBe(200);
    return (await res.json()) as { total: number; records: AuditRecord[] };
  };

  async function view(stream: string, ms: number): Promise<number> {
    const c = await WsClient.connect(wsUrl());
    await c.request('auth', { token: stack.token(['*'], 600, 'viewer', 'auditor-test') });
    const t = await c.request('createTransport');
    const caps = (await c.request('getRouterRtpCapabilities')).data?.['rtpCapabilities'];
    const r = await c.request('consume', { transportId: t.data?.['id'], stream, rtpCapabilities: caps });
    const t0 = Date.now();
    await sleep(ms);
    const consumers = r.data?.['consumers'] as { id: string }[];
    await c.request('closeConsumer', { consumerId: consumers[0]?.id });
    const real = Date.now() - t0;
    c.close();
    return real;
  }

  it('writes one record per view with its stream and true duration, keeps them over a restart, and filters', async () => {
    const real = await view('cam-a', 2500);
    let rec = await waitFor('audit record', async () => (await audit('sub=auditor-test')).records[0]);
    expect(rec).toMatchObject({
      sub: 'auditor-test',
      stream: 'cam-a',
      variant: 'main',
      endReason: 'closed_by_viewer',
      client: '127.0.0.1',
    });
    expect(Math.abs(rec.durationMs - real)).toBeLessThan(1000);

    await view('cam-b', 1000);
    await stack.restartGateway();
    await view('cam-a', 500);
    const all = await audit('sub=auditor-test');
    expect(all.total).toBe(3);
    const onlyA = await audit('sub=auditor-test&stream=cam-a');
    expect(onlyA.records.map((r) => r.stream)).toEqual(['cam-a', 'cam-a']);
    rec = (await audit('sub=auditor-test&stream=cam-b')).records[0] as AuditRecord;
    expect(rec.stream).toBe('cam-b');
    const lines = fs.readFileSync(stack.config.audit.file, 'utf8').trim().split('\n');
    // Every line is a whole record; each ended view names who watched (the trail's own records name no one).
    const records = lines.map((l) => JSON.parse(l) as { kind?: string; sub?: string });
    expect(records.filter((r) => (r.kind ?? 'view') === 'view').every((r) => r.sub)).toBe(true);
    const bad = await fetch(`${stack.base}/api/audit?limit=5000`, { headers: admin() });
    expect(bad.status).toBe(400);
  });
});
