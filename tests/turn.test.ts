// Phones on networks that block direct connections: a Chromium viewer forced to relay-only ICE
// (`?ice=relay`) plays through a real coturn on 127.0.0.1 with the short-lived credential the gateway
// gives it with its transport (coturn's shared-secret REST scheme). With a wrong or an expired
// credential it does not play, and the page says why (E_ICE_FAILED, in words); coturn says 401.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TurnSettings } from '../gateway/src/viewing/turn.js';
import { type Browser, launchBrowser } from './support/browser.js';
import { type Coturn, startCoturn } from './support/coturn.js';
import { framesAfterFirst, probe } from './support/player.js';
import { type Stack, sleep, startStack, waitFor } from './support/stack.js';
import { WsClient } from './support/wsClient.js';

const SECRET = 'turn-secret-for-the-test-suite-only';
const CAM = 'cam-turn';
let coturn: Coturn;
let stack: Stack;
let browser: Browser;

/**
 * The TURN settings the running gateway hands out (test-only reach into its viewing deps). Every
 * viewer holds this same object: changed in place, it changes what open connections get too.
 */
const liveTurn = () => (stack.gateway.viewing as unknown as { deps: { turn: TurnSettings } }).deps.turn;

beforeAll(async () => {
  coturn = await startCoturn(SECRET);
  stack = await startStack({
    cameras: [{ id: CAM, profile: 'baseline', gop: 25, alwaysOn: true, ingest: 'packet' }],
    config: { turn: { urls: coturn.urls, secret: SECRET, ttlSec: 600 } },
  });
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  if (process.env['CCTV_TEST_COTURN_LOG'])
    (await import('node:fs')).writeFileSync(process.env['CCTV_TEST_COTURN_LOG'], coturn.log());
  await coturn?.stop();
});

async function statusText(page: Page): Promise<string> {
  return page.evaluate(() => document.getElementById('status')?.textContent ?? '');
}

/** The local candidate type of the selected pair, from the page's own peer connection stats. */
async function selectedLocalCandidateType(page: Page): Promise<string | null> {
  return page.evaluate(async () => {
    const v = document.querySelector('video') as HTMLVideoElement | null;
    const track = (v?.srcObject as MediaStream | null)?.getVideoTracks()[0];
    const pcs = (window as unknown as { __pcs?: RTCPeerConnection[] }).__pcs ?? [];
    for (const pc of pcs) {
      if (track && !pc.getReceivers().some((r) => r.track === track)) continue;
      const stats = await pc.getStats();
      for (const s of stats.values()) {
        if (s.type === 'transport' && s.selectedCandidatePairId) {
          const pair = stats.get(s.selectedCandidatePairId);
          return (stats.get(pair.localCandidateId)?.candidateType as string) ?? null;
        }
      }
    }
    return null;
  });
}

/** Keeps every RTCPeerConnection the page makes reachable for getStats (before any page script runs). */
async function trackPeerConnections(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const Orig = window.RTCPeerConnection;
    const pcs: RTCPeerConnection[] = [];
    (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs = pcs;
    window.RTCPeerConnection = class extends Orig {
      constructor(config?: RTCConfiguration) {
        super(config);
        pcs.push(this);
      }
    } as typeof RTCPeerConnection;
  });
}

async function openRelayPlayer(sub: string): Promise<Page> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  await trackPeerConnections(page);
  await page.goto(`${stack.base}/?token=${stack.token([CAM], 600, 'viewer', sub)}&stream=${CAM}&ice=relay`);
  return page;
}

describe('TURN relay for viewers behind firewalls', () => {
  it('createTransport answers with a per-viewer credential and never the secret', async () => {
    const c = await WsClient.connect(`${stack.base.replace('http', 'ws')}/ws`);
    try {
      expect((await c.request('auth', { token: stack.token([CAM], 600, 'viewer', 'ws-viewer') })).ok).toBe(true);
      const before = Math.floor(Date.now() / 1000);
      const r = await c.request('createTransport');
      expect(r.ok).toBe(true);
      const servers = r.data?.['iceServers'] as { urls: string[]; username: string; credential: string }[];
      expect(servers).toHaveLength(1);
      expect(servers[0]?.urls).toEqual(coturn.urls);
      const [expiry, sub] = (servers[0]?.username ?? '').split(':');
      expect(sub).toBe('ws-viewer');
      expect(Number(expiry) - before).toBeGreaterThanOrEqual(599);
      expect(Number(expiry) - before).toBeLessThanOrEqual(601);
      expect(JSON.stringify(r)).not.toContain(SECRET);
    } finally {
      c.close();
    }
  });

  it('a relay-only viewer plays through coturn with the gateway credential', async () => {
    const page = await openRelayPlayer('phone-relay');
    const t0 = Date.now();
    const { frames, p } = await framesAfterFirst(page, 2000, 20_000);
    const p0 = await probe(page);
    console.log(
      `[turn] relay-only: first frame ${Math.round((p0.firstFrameAt ?? 0) - (p0.requestedAt ?? 0))} ms after consume ` +
        `(${Date.now() - t0 - 2000} ms after page load, roughly), ${frames} frames in the next 2 s`,
    );
    expect(frames).toBeGreaterThan(20);
    expect(p.error).toBeNull();
    expect(await selectedLocalCandidateType(page)).toBe('relay');
    // coturn allocated a relay for exactly this viewer's REST username.
    expect(coturn.log()).toMatch(/user <\d+:phone-relay>: incoming packet ALLOCATE processed, success/);
    await page.close();
  });

  for (const [name, change] of [
    ['a wrong credential (another secret)', (t: TurnSettings) => ({ ...t, secret: 'not-the-secret-coturn-knows' })],
    ['an expired credential', (t: TurnSettings) => ({ ...t, ttlSec: -60 })],
  ] as const) {
    it(`with ${name} it does not play, and says why`, async () => {
      const turn = liveTurn();
      const good = { ...turn };
      Object.assign(turn, change(good));
      const sub = name.includes('wrong') ? 'phone-wrong' : 'phone-expired';
      try {
        const logAt = coturn.log().length;
        const page = await openRelayPlayer(sub);
        const t0 = Date.now();
        await waitFor('E_ICE_FAILED on the probe', async () => (await probe(page)).error === 'E_ICE_FAILED', 30_000);
        const p = await probe(page);
        const status = await statusText(page);
        console.log(
          `[turn] ${name}: E_ICE_FAILED (${p.reason}) after ${Date.now() - t0} ms from page load; #status: "${status}"`,
        );
        expect(p.firstFrameAt).toBeNull();
        expect(p.framesDecoded).toBe(0);
        // The browser saw TURN's 401 (icecandidateerror): the finer reason, in words on the page.
        expect(p.reason).toBe('turn_refused');
        expect(status).toMatch(/E_ICE_FAILED/);
        expect(status).toMatch(/TURN menolak kredensial/);
        expect(p.state).toBe('reconnecting'); // and it keeps trying (a fresh credential may work)
        const log = coturn.log().slice(logAt);
        // coturn refused this viewer's allocation: its REST username, 401 (wrong, or expired and so unknown).
        const refusal = new RegExp(`user <\\d+:${sub}>: incoming packet message processed, error 401`);
        console.log(
          `[turn] coturn: ${log
            .split('\n')
            .find((l) => refusal.test(l) || l.includes(`:${sub}>`))
            ?.trim()}`,
        );
        expect(log).toMatch(refusal);
        expect(log).not.toMatch(new RegExp(`user <\\d+:${sub}>: incoming packet ALLOCATE processed, success`));
        if (sub === 'phone-wrong') {
          // It keeps trying now and then without running out of transports (the gateway closes the
          // unreached ones): still this error, not E_LIMIT, 25 s on.
          await sleep(25_000);
          const later = await probe(page);
          expect(later.error).toBe('E_ICE_FAILED');
          expect(later.framesDecoded).toBe(0);
          const tries = coturn
            .log()
            .slice(logAt)
            .match(/error 401.*\n?/g)?.length;
          console.log(
            `[turn] 25 s later: still ${later.error} (${later.reason}), state ${later.state}; coturn 401 lines since: ${tries}`,
          );
        }
        if (sub === 'phone-expired') {
          // A fresh credential works again: the player's next try (10 s on) gets one with its new transport.
          Object.assign(turn, good);
          const fixedAt = Date.now();
          await waitFor(
            'a frame after the credential is good again',
            async () => (await probe(page)).framesDecoded > 0,
            20_000,
          );
          console.log(`[turn] good credential again: playing ${Date.now() - fixedAt} ms later, no reload`);
        }
        await page.close();
      } finally {
        Object.assign(turn, good);
      }
    });
  }

  it('the secret is in no gateway log', () => {
    expect(JSON.stringify(stack.logs)).not.toContain(SECRET);
  });
});
