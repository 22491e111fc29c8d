// WHEP against the real stack: a plain RTCPeerConnection page and a WHEP player that is not ours
// (whip-whep) play a camera from another origin (CORS), DELETE ends the view in the audit trail; the
// refusals have the project's codes and WHEP's statuses; an offer nobody connects is gone after the
// Viewer's 20 s unreached-transport timeout, its session URL 404.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, launchBrowser } from './support/browser.js';
import { type HostServer, startHost } from './support/hostServer.js';
import { type Stack, sleep, startStack, waitFor } from './support/stack.js';
import {
  auditRecords,
  CHROMIUM_OFFER,
  OFF_ROUTER_NUMBERS,
  outcome,
  plainPage,
  whep,
  whipWhepPage,
} from './support/whep.js';

const CAM = 'kel-sekip-jaya';
const OTHER = 'kel-talang-aman';
const FULL = 'kec-kemuning';
const OFFER = CHROMIUM_OFFER; // Chromium's own numbering: H.264 42e01f on 108
let stack: Stack;
let host: HostServer;
let browser: Browser;

const transports = () => stack.gateway.pool.workers.reduce((n, w) => n + w.transports, 0);
const url = (stream: string, q = '') => `${stack.base}/whep/${stream}${q}`;
const session = (location: string | null) => new URL(location ?? '/', stack.base).href;

beforeAll(async () => {
  host = await startHost();
  host.pages.set('/plain.html', plainPage());
  host.pages.set('/whip-whep.html', await whipWhepPage());
  stack = await startStack({
    cameras: [
      { id: CAM, profile: 'baseline', gop: 25, alwaysOn: true, ingest: 'packet' },
      { id: OTHER, profile: 'baseline', gop: 25, ingest: 'packet' },
      { id: FULL, profile: 'baseline', gop: 25, ingest: 'packet' },
    ],
    config: {
      signaling: { allowedOrigins: [host.origin] },
      capacity: { viewersPerStream: 2 },
      // Nothing listens there: the answers carry the Link, the players' host candidates still win.
      turn: { urls: ['turn:127.0.0.1:3478?transport=udp'], secret: 'whep-test-turn-secret', ttlSec: 600 },
      log: { level: 'info' },
    },
  });
  await waitFor('the camera live', () => stack.gateway.streams.get(CAM, 'main').state === 'live', 30_000);
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await host?.close();
});

async function openPage(name: string): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  await page.goto(`${host.origin}/${name}`);
  return page;
}

describe('a plain RTCPeerConnection (no code of ours), from another origin', () => {
  it('plays ≥ 50 frames in 5 s with H.264 moved to a payload type the router does not use; DELETE ends the view in the audit trail', async () => {
    const page = await openPage('plain.html');
    const before = transports();
    const token = stack.token([CAM], 600, 'viewer', 'opd-dishub-wall');
    const r = await page.evaluate(
      (a) => (window as never as { whepPlay: (x: unknown) => Promise<never> }).whepPlay(a),
      {
        url: url(CAM),
        bearer: token,
        renumber: OFF_ROUTER_NUMBERS,
      },
    );
    const got = r as { status: number; location: string; offer: string; answer: string; etag: string };
    expect(got.status).toBe(201);
    expect(got.location).toMatch(/\/whep\/sessions\/[0-9a-f]{32}$/);
    expect(got.etag).toMatch(/^".+"$/);
    // The offer really is renumbered: VP8 is not on Chromium's 96, H.264 42e01f not on its 108 but on
    // 120 (its rtx on 121), numbers the stream's router does not use; the answer and the packets are on them.
    expect(got.offer).not.toMatch(/a=rtpmap:96 VP8/);
    expect(got.offer).toMatch(/a=fmtp:120 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f/);
    const routerPts = (stack.gateway.pool.rtpCapabilities.codecs ?? []).map((c) => c.preferredPayloadType);
    expect(routerPts).not.toContain(120);
    expect(routerPts).not.toContain(121);
    expect(got.answer).toMatch(/^m=video 9 UDP\/TLS\/RTP\/SAVPF 120 121\r?$/m);
    expect(got.answer).toMatch(/a=fmtp:120 .*profile-level-id=42e01f/);
    expect(got.answer).toMatch(/a=fmtp:121 apt=120/);
    expect(got.answer).toMatch(/^m=audio 0 /m); // the camera has no audio
    const stats = () => page.evaluate(() => (window as never as { whepStats: () => Promise<never> }).whepStats());
    await sleep(5000);
    const s = (await stats()) as { framesDecoded: number; codec: string; payloadType: number };
    console.log(`whep plain: ${s.framesDecoded} frames decoded in 5 s, ${s.codec} on payload type ${s.payloadType}`);
    expect(s.framesDecoded).toBeGreaterThanOrEqual(50);
    expect(s.codec).toBe('video/H264');
    expect(s.payloadType).toBe(120);
    expect(stack.gateway.streams.get(CAM, 'main').viewers).toBe(1);

    const deleted = await page.evaluate(() => (window as never as { whepStop: () => Promise<number> }).whepStop());
    expect(deleted).toBe(200);
    await waitFor('the view to be audited', () =>
      auditRecords(stack.config.audit.file).find((a) => a.sub === 'opd-dishub-wall'),
    );
    const rec = auditRecords(stack.config.audit.file).filter((a) => a.sub === 'opd-dishub-wall');
    expect(rec).toHaveLength(1);
    expect(rec[0]).toMatchObject({ stream: CAM, variant: 'main', role: 'viewer', endReason: 'closed_by_viewer' });
    expect(rec[0]?.durationMs).toBeGreaterThan(4000);
    expect(rec[0]?.userAgent).toMatch(/Chrome/);
    expect(stack.gateway.streams.get(CAM, 'main').viewers).toBe(0);
    await waitFor('its transport closed', () => transports() === before);
    expect((await whep(got.location, { method: 'DELETE', token })).status).toBe(404);
    await page.close();
  }, 30_000);

  it("plays Chromium's stock offer (H.264 on 108) as it is; such players share one WHEP router", async () => {
    const pages = [await openPage('plain.html'), await openPage('plain.html')];
    const token = stack.token([CAM], 600, 'viewer', 'stock-offer');
    type P = { whepPlay: (x: unknown) => Promise<never>; whepStats: () => Promise<never> };
    const routers = () =>
      Promise.all(stack.gateway.pool.workers.map(async (w) => (await w.worker.dump()).routerIds as string[]));
    const routersBefore = await routers();
    const rs = (await Promise.all(
      pages.map((page) =>
        page.evaluate((a) => (window as never as P).whepPlay(a), { url: url(CAM), bearer: token, audio: false }),
      ),
    )) as { status: number; answer: string; body?: string }[];
    expect(rs.map((r) => r.status)).toEqual([201, 201]);
    for (const r of rs) expect(r.answer).toMatch(/^m=video 9 UDP\/TLS\/RTP\/SAVPF 108 109\r?$/m);
    await sleep(3000);
    for (const page of pages) {
      const s = (await page.evaluate(() => (window as never as P).whepStats())) as {
        framesDecoded: number;
        payloadType: number;
      };
      console.log(`whep stock Chromium offer: ${s.framesDecoded} frames in 3 s on payload type ${s.payloadType}`);
      expect(s.framesDecoded).toBeGreaterThanOrEqual(30);
      expect(s.payloadType).toBe(108);
    }
    // Per worker at most one router more: the one numbered as this browser numbers its offers.
    const added = (await routers()).map((ids, i) => ids.filter((id) => !routersBefore[i]?.includes(id)).length);
    console.log(`whep stock Chromium offers: routers added per worker ${JSON.stringify(added)}`);
    expect(added.every((n) => n <= 1)).toBe(true);
    expect(added.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1);
    for (const page of pages) {
      await page.evaluate(() => (window as never as { whepStop: () => Promise<number> }).whepStop());
      await page.close();
    }
    await waitFor('the views to end', () => stack.gateway.streams.get(CAM, 'main').viewers === 0);
  }, 30_000);
});

describe('a WHEP player that is not ours', () => {
  it('whip-whep 1.2.0 plays a camera in Chromium and ends it', async () => {
    const page = await openPage('whip-whep.html');
    const token = stack.token([CAM], 600, 'viewer', 'whip-whep-player');
    type W = {
      playerView: (x: unknown) => Promise<{ resource: string }>;
      playerStats: () => Promise<{ framesDecoded: number }>;
      playerStop: () => Promise<void>;
    };
    const v = await page.evaluate((a) => (window as never as W).playerView(a), {
      url: url(CAM),
      bearer: token,
    });
    expect(v.resource).toMatch(/\/whep\/sessions\/[0-9a-f]{32}$/);
    await sleep(3000);
    const s = await page.evaluate(() => (window as never as W).playerStats());
    console.log(`whip-whep: ${s.framesDecoded} frames decoded in 3 s`);
    expect(s.framesDecoded).toBeGreaterThanOrEqual(30);
    // Its trickled candidates were PATCHed (and accepted: 204) while it played.
    await page.evaluate(() => (window as never as W).playerStop());
    await waitFor('its view audited', () =>
      auditRecords(stack.config.audit.file).find((a) => a.sub === 'whip-whep-player'),
    );
    expect((await whep(v.resource, { method: 'DELETE', token })).status).toBe(404);
    await page.close();
  }, 30_000);
});

describe('refusals: the project codes, WHEP statuses', () => {
  it('bad SDP 400, wrong type 415, no common codec 422, forbidden stream 403, unknown 404, no token 401, expired 401', async () => {
    const token = stack.token([CAM]);
    expect(outcome(await whep(url(CAM), { token, body: 'hello' }))).toBe('400 E_BAD_REQUEST bad_offer');
    expect(outcome(await whep(url(CAM), { token, body: OFFER, type: 'application/json' }))).toBe(
      '415 E_BAD_REQUEST content_type',
    );
    const vp8 = OFFER.replace(/^m=video 9 UDP\/TLS\/RTP\/SAVPF .*$/m, 'm=video 9 UDP/TLS/RTP/SAVPF 96 97').replace(
      /^m=audio 9 UDP\/TLS\/RTP\/SAVPF .*$/m,
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    );
    expect(outcome(await whep(url(CAM), { token, body: vp8 }))).toBe('422 E_UNSUPPORTED no_common_codec');
    expect(outcome(await whep(url(OTHER), { token, body: OFFER }))).toBe('403 E_FORBIDDEN_STREAM');
    expect(outcome(await whep(url('no-such-camera'), { token: stack.token(), body: OFFER }))).toBe('404 E_NOT_FOUND');
    expect(outcome(await whep(url(CAM, '?variant=hd'), { token, body: OFFER }))).toBe('400 E_BAD_REQUEST');
    const none = await whep(url(CAM), { body: OFFER });
    expect(outcome(none)).toMatch(/^401 E_UNAUTHENTICATED/);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(outcome(await whep(url(CAM), { token: stack.token([CAM], -60), body: OFFER }))).toBe(
      '401 E_AUTH_EXPIRED expired',
    );
    // None of them left a transport or a view behind.
    await waitFor('no transport left', () => transports() === 0);
    expect(stack.gateway.streams.get(CAM, 'main').viewers).toBe(0);
  });

  it('over capacity: 503 E_CAPACITY with Retry-After; the sessions it had are DELETEd', async () => {
    const token = stack.token([FULL], 600, 'viewer', 'capacity-test');
    const ok = [await whep(url(FULL), { token, body: OFFER }), await whep(url(FULL), { token, body: OFFER })];
    expect(ok.map(outcome)).toEqual(['201', '201']);
    const full = await whep(url(FULL), { token, body: OFFER });
    expect(outcome(full)).toBe('503 E_CAPACITY');
    expect(full.headers.get('retry-after')).toMatch(/^\d+$/);
    for (const r of ok)
      expect((await whep(session(r.headers.get('location')), { method: 'DELETE', token })).status).toBe(200);
    expect(stack.gateway.streams.get(FULL, 'main').viewers).toBe(0);
  });

  it('a session URL wants its own identity: 401 without a token, 403 for another sub, 404 unknown', async () => {
    const token = stack.token([CAM], 600, 'viewer', 'owner');
    const r = await whep(url(CAM), { token, body: OFFER });
    expect(r.status).toBe(201);
    const loc = session(r.headers.get('location'));
    expect(outcome(await whep(loc, { method: 'DELETE' }))).toMatch(/^401 E_UNAUTHENTICATED/);
    expect(outcome(await whep(loc, { method: 'DELETE', token: stack.token([CAM], 600, 'viewer', 'intruder') }))).toBe(
      '403 E_FORBIDDEN',
    );
    expect(outcome(await whep(`${stack.base}/whep/sessions/${'0'.repeat(32)}`, { method: 'DELETE', token }))).toBe(
      '404 E_NOT_FOUND',
    );
    expect((await whep(loc, { method: 'DELETE', token })).status).toBe(200);
  });
});

describe('PATCH (trickle ICE) and CORS', () => {
  it('accepts and ignores candidates (204), refuses an ICE restart (422) and a stale If-Match (412)', async () => {
    const token = stack.token([CAM]);
    const r = await whep(url(CAM), { token, body: OFFER });
    expect(r.status).toBe(201);
    expect(r.headers.get('accept-patch')).toBe('application/trickle-ice-sdpfrag');
    // The Viewer's TURN credential for this sub, as RFC 9725 §4.4 spells the Link.
    expect(r.headers.get('link')).toMatch(
      /^<turn:127\.0\.0\.1:3478\?transport=udp>; rel="ice-server"; username="\d+:test-viewer"; credential="[A-Za-z0-9+/=]+"; credential-type="password"$/,
    );
    const loc = session(r.headers.get('location'));
    const ufrag = /a=ice-ufrag:(\S+)/.exec(OFFER)?.[1];
    const frag = (u: string) =>
      `a=ice-ufrag:${u}\r\na=ice-pwd:x\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n` +
      'a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\na=end-of-candidates\r\n';
    const type = 'application/trickle-ice-sdpfrag';
    expect((await whep(loc, { method: 'PATCH', token, type, body: frag(String(ufrag)) })).status).toBe(204);
    expect(
      (
        await whep(loc, {
          method: 'PATCH',
          token,
          type,
          body: frag(String(ufrag)),
          headers: { 'if-match': r.headers.get('etag') ?? '' },
        })
      ).status,
    ).toBe(204);
    expect(outcome(await whep(loc, { method: 'PATCH', token, type, body: frag('newufrag') }))).toBe(
      '422 E_UNSUPPORTED ice_restart',
    );
    expect(
      outcome(
        await whep(loc, { method: 'PATCH', token, type, body: frag(String(ufrag)), headers: { 'if-match': '"old"' } }),
      ),
    ).toBe('412 E_BAD_REQUEST etag');
    expect((await whep(loc, { method: 'DELETE', token })).status).toBe(200);
  });

  it('answers preflights of allowed origins, exposing Location, ETag and Link; refuses other origins', async () => {
    const pre = await fetch(url(CAM), {
      method: 'OPTIONS',
      headers: {
        origin: host.origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(host.origin);
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect(pre.headers.get('access-control-expose-headers')).toMatch(/Location.*ETag.*Link/);
    const evil = await fetch(url(CAM), { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
    expect(evil.status).toBe(403);
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('an offer nobody connects', () => {
  it('is gone after the unreached-transport timeout: no transport, its session URL 404, audited', async () => {
    const token = stack.token([CAM], 600, 'viewer', 'never-connects');
    const before = transports();
    const r = await whep(url(CAM), { token, body: OFFER });
    expect(r.status).toBe(201);
    const loc = session(r.headers.get('location'));
    expect(transports()).toBe(before + 1);
    const t0 = Date.now();
    const ufrag = /a=ice-ufrag:(\S+)/.exec(OFFER)?.[1];
    const patch = () =>
      whep(loc, { method: 'PATCH', token, type: 'application/trickle-ice-sdpfrag', body: `a=ice-ufrag:${ufrag}\r\n` });
    expect((await patch()).status).toBe(204);
    await waitFor('the session to end', async () => (await patch()).status === 404, 30_000, 500);
    const after = Date.now() - t0;
    console.log(`whep: an unconnected session ended after ${after} ms`);
    expect(after).toBeGreaterThan(15_000);
    expect(transports()).toBe(before);
    expect(stack.gateway.streams.get(CAM, 'main').viewers).toBe(0);
    const rec = auditRecords(stack.config.audit.file).find((a) => a.sub === 'never-connects');
    expect(rec?.endReason).toBe('transport_closed');
  }, 40_000);
});
