// Embedding from other origins (#18): a <cctv-player> on an origin missing from signaling.allowedOrigins
// is told E_FORBIDDEN_ORIGIN (within 2 s) and stops; *.wildcard entries admit subdomains, not look-alikes,
// alike for /ws, WHEP and the snapshot API; bad entries are refused by the config loader; every
// documented attribute of <cctv-player> is a property that changes the player; the iframe embed tells
// an allowed host page its state and errors (and a host page of another origin nothing).
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ConfigError, parseConfig } from '../config/load.js';
import { REFUSAL_PROTOCOL, REFUSED_CLOSE, SUBPROTOCOL } from '../signaling/src/SignalingServer.js';
import { browserOf, unsupportedText } from '../web-client/src/labels.js';
import { type Browser, launchBrowser } from './support/browser.js';
import { type HostServer, startHost } from './support/hostServer.js';
import { type Stack, sleep, startStack, waitFor } from './support/stack.js';

const CAM = 'cam-embed';
const CAM2 = 'cam-embed-2';
const WILDCARD = 'https://*.palembang.go.id';
let stack: Stack;
let browser: Browser;
/** In signaling.allowedOrigins. */
let allowed: HostServer;
/** Another origin (another port), not in the list. */
let refused: HostServer;

beforeAll(async () => {
  allowed = await startHost();
  refused = await startHost();
  stack = await startStack({
    cameras: [
      { id: CAM, profile: 'baseline', gop: 25, alwaysOn: true, ingest: 'packet' },
      { id: CAM2, profile: 'baseline', gop: 25, ingest: 'packet' },
    ],
    config: { signaling: { allowedOrigins: [`${allowed.origin}/`, WILDCARD] }, log: { level: 'info' } },
  });
  await waitFor('the camera live', () => stack.gateway.streams.get(CAM, 'main').state === 'live', 30_000);
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await allowed?.close();
  await refused?.close();
});

type Ev = { type: string; code: string | null; message: string | null; state: string | null; t: number };

/** A host page with one <cctv-player> (attributes as given) whose events land in window.events. */
function playerPage(attrs: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"></head><body>
<div id="box" style="width:640px;height:200px"><cctv-player id="p" ${attrs} gateway="${stack.base}"></cctv-player></div>
<script type="module">
  window.events = [];
  const el = document.querySelector('#p');
  for (const n of ['statechange', 'error', 'reconnecting', 'playing'])
    el.addEventListener(n, (e) => window.events.push({ type: n, code: e.detail?.code ?? null,
      message: e.detail?.message ?? null, state: e.detail?.state ?? null, t: performance.now() }));
</script>
<script type="module" src="${stack.base}/cctv-player.js"></script></body></html>`;
}

async function open(url: string): Promise<{ page: Page; sockets: string[]; sent: Record<string, unknown>[] }> {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  const sockets: string[] = [];
  const sent: Record<string, unknown>[] = [];
  page.on('websocket', (ws) => {
    sockets.push(ws.url());
    ws.on('framesent', (f) => {
      try {
        sent.push(JSON.parse(String(f.payload)) as Record<string, unknown>);
      } catch {}
    });
  });
  await page.goto(url);
  return { page, sockets, sent };
}

const events = (page: Page) => page.evaluate(() => (window as unknown as { events: Ev[] }).events);

describe('a <cctv-player> on an origin not in signaling.allowedOrigins', () => {
  it('gets an error event E_FORBIDDEN_ORIGIN within 2 s naming the setting, and stops', async () => {
    refused.pages.set('/player.html', playerPage(`stream="${CAM}" token="${stack.token([CAM])}"`));
    const { page, sockets } = await open(`${refused.origin}/player.html`);
    const err = await waitFor(
      'the error event',
      async () => (await events(page)).find((e) => e.type === 'error'),
      5000,
      50,
    );
    const start = (await events(page)).find((e) => e.type === 'statechange')?.t ?? 0;
    const ms = Math.round(err.t - start);
    console.log(`refused origin: error ${err.code} ${ms} ms after the player started: ${err.message}`);
    expect(err.code).toBe('E_FORBIDDEN_ORIGIN');
    expect(err.message).toContain('signaling.allowedOrigins');
    expect(ms).toBeLessThan(2000);
    // Not a network fault: no retry, no second socket, the words and the code on the player.
    await sleep(2500);
    const all = await events(page);
    expect(all.filter((e) => e.type === 'reconnecting')).toEqual([]);
    expect(all.filter((e) => e.type === 'error')).toHaveLength(1);
    expect(sockets).toHaveLength(1);
    const shown = await page.evaluate(() => {
      const el = document.querySelector('#p') as HTMLElement & { state: string };
      return { state: el.state, text: el.shadowRoot?.querySelector('.stage-msg')?.textContent ?? '' };
    });
    expect(shown.state).toBe('forbidden');
    expect(shown.text).toContain('signaling.allowedOrigins');
    expect(shown.text).toContain('E_FORBIDDEN_ORIGIN');
    expect(stack.gateway.streams.get(CAM, 'main').viewers).toBe(0);
    await page.close();
  });
});

/** Opens /ws with an Origin header; resolves with what came of it. */
function wsWith(
  origin: string,
  protocols: string[] = [SUBPROTOCOL],
): Promise<{ status?: number; open?: boolean; messages: string[]; close?: { code: number; reason: string } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${stack.base.replace('http', 'ws')}/ws`, protocols, { headers: { origin } });
    const messages: string[] = [];
    let opened = false;
    ws.on('message', (m) => messages.push(String(m)));
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, messages }));
    ws.once('open', () => {
      opened = true;
      // Asked of a refused socket: never read.
      ws.send(JSON.stringify({ id: 1, method: 'auth', data: { token: stack.token([CAM]) } }));
    });
    ws.once('close', (code, reason) => resolve({ open: opened, messages, close: { code, reason: String(reason) } }));
    ws.once('error', reject);
    // An admitted socket answers auth: then close it.
    ws.on('message', (m) => {
      if (String(m).includes('"id":1')) ws.close();
    });
  });
}

describe('signaling.allowedOrigins, *.wildcards and one check everywhere', () => {
  it('a refusal is one typed message and close 4403 for a client that offers cctv.refusal, else HTTP 403', async () => {
    const r = await wsWith('https://evil.example', [SUBPROTOCOL, REFUSAL_PROTOCOL]);
    expect(r.close?.code).toBe(REFUSED_CLOSE);
    expect(r.messages).toHaveLength(1);
    const msg = JSON.parse(r.messages[0] as string) as {
      id: null;
      ok: false;
      error: { code: string; message: string };
    };
    expect(msg).toMatchObject({ id: null, ok: false, error: { code: 'E_FORBIDDEN_ORIGIN' } });
    expect(msg.error.message).toContain('signaling.allowedOrigins');
    const plain = await wsWith('https://evil.example');
    expect(plain.status).toBe(403);
  });

  it('admits subdomains of a *. entry at any depth over /ws, not the bare domain or look-alikes', async () => {
    const verdict = async (origin: string) => {
      const r = await wsWith(origin, [SUBPROTOCOL, REFUSAL_PROTOCOL]);
      if (r.close?.code === REFUSED_CLOSE) return 'refused';
      return r.messages.some((m) => m.includes('"ok":true')) ? 'admitted' : `? ${JSON.stringify(r)}`;
    };
    const cases: Record<string, string> = {
      'https://opd.palembang.go.id': 'admitted',
      'https://a.b.palembang.go.id': 'admitted',
      'https://OPD.Palembang.go.id:443': 'admitted',
      'https://palembang.go.id': 'refused',
      'https://palembang.go.id.evil.com': 'refused',
      'https://evilpalembang.go.id': 'refused',
      'http://opd.palembang.go.id': 'refused',
      'https://opd.palembang.go.id:8443': 'refused',
      [allowed.origin]: 'admitted', // listed with a trailing slash
      [refused.origin]: 'refused',
    };
    const got: Record<string, string> = {};
    for (const origin of Object.keys(cases)) got[origin] = await verdict(origin);
    expect(got).toEqual(cases);
  });

  it('WHEP, the snapshot API and the embed origin check answer the same', async () => {
    const token = stack.token([CAM]);
    for (const [origin, ok] of [
      ['https://a.b.palembang.go.id', true],
      ['https://evilpalembang.go.id', false],
      ['https://palembang.go.id.evil.com', false],
    ] as const) {
      const pre = await fetch(`${stack.base}/whep/${CAM}`, { method: 'OPTIONS', headers: { origin } });
      expect(pre.status, `WHEP ${origin}`).toBe(ok ? 204 : 403);
      expect(pre.headers.get('access-control-allow-origin')).toBe(ok ? origin : null);
      const snap = await fetch(`${stack.base}/api/streams/${CAM}/snapshot.jpg`, {
        headers: { origin, authorization: `Bearer ${token}` },
      });
      expect(snap.headers.get('access-control-allow-origin'), `snapshot ${origin}`).toBe(ok ? origin : null);
      if (!ok) {
        expect(snap.status).toBe(403);
        const body = (await snap.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe('E_FORBIDDEN_ORIGIN');
        expect(body.error.message).toContain('signaling.allowedOrigins');
        expect(((await pre.json()) as { error: { code: string } }).error.code).toBe('E_FORBIDDEN_ORIGIN');
      }
      const check = await fetch(`${stack.base}/api/embed/origin?origin=${encodeURIComponent(origin)}`);
      expect(await check.json()).toEqual({ origin, allowed: ok });
    }
  });

  it('the config loader refuses a bad entry by its index, saying what is wrong', () => {
    const load = (allowedOrigins: string[]) => () =>
      parseConfig({ cameras: [], signaling: { allowedOrigins } }, 'c.yaml');
    expect(load(['https://opd.palembang.go.id', WILDCARD, 'HTTP://X.Example:80/'])).not.toThrow();
    for (const [bad, says] of [
      ['opd.palembang.go.id', /\/signaling\/allowedOrigins\/1 "opd.palembang.go.id" must be an origin/],
      ['https://opd.palembang.go.id/app', /\/signaling\/allowedOrigins\/1 .*path/],
      ['https://opd.*.go.id', /\/signaling\/allowedOrigins\/1 .*first label/],
      ['*', /\/signaling\/allowedOrigins\/1 "\*" must be an origin/],
      ['https://*.id', /top-level/],
    ] as const) {
      expect(load(['https://ok.example', bad]), bad).toThrow(ConfigError);
      expect(load(['https://ok.example', bad]), bad).toThrow(says);
    }
  });
});

describe('<cctv-player> attributes as properties', () => {
  it('setting each documented property reflects it and changes the player', async () => {
    allowed.pages.set(
      '/props.html',
      playerPage(`stream="${CAM}" token="${stack.token([CAM, CAM2])}" autoplay="false"`),
    );
    const { page, sockets, sent } = await open(`${allowed.origin}/props.html`);
    type El = HTMLElement & Record<string, unknown>;
    const el = <T>(fn: (p: El) => T): Promise<T> => page.$eval('#p', fn as unknown as (e: Element) => T);
    const consumes = () =>
      sent.filter((m) => m['method'] === 'consume').map((m) => m['data'] as Record<string, unknown>);
    const live = (what: string) => waitFor(what, async () => (await el((p) => p['state'])) === 'live', 20_000);

    // autoplay: false waits; true plays.
    await sleep(500);
    expect(await el((p) => [p['autoplay'], p['state']])).toEqual([false, 'idle']);
    await el((p) => {
      p['autoplay'] = true;
    });
    expect(await el((p) => p.getAttribute('autoplay'))).toBeNull();
    await live('playing after autoplay = true');
    expect(consumes().at(-1)).toMatchObject({ stream: CAM, variant: 'main', latency: 'smooth' });

    // latency: what is asked of the gateway.
    await el((p) => {
      p['latency'] = 'low';
    });
    expect(await el((p) => [p.getAttribute('latency'), p['latency']])).toEqual(['low', 'low']);
    await waitFor('a consume with latency low', async () => consumes().at(-1)?.['latency'] === 'low', 10_000);
    await live('live at low latency');

    // stats: a boolean; the overlay shows and hides.
    const overlay = () => el((p) => ((p.shadowRoot as ShadowRoot).querySelector('.stage-stats') as HTMLElement).hidden);
    expect(await overlay()).toBe(true);
    await el((p) => {
      p['stats'] = true;
    });
    expect(await el((p) => [p['stats'], p.hasAttribute('stats')])).toEqual([true, true]);
    expect(await overlay()).toBe(false);
    await el((p) => {
      p['stats'] = false;
    });
    expect(await el((p) => [p['stats'], p.hasAttribute('stats')])).toEqual([false, false]);
    expect(await overlay()).toBe(true);

    // fill: the stage takes the element's box (200 px high) instead of 16:9 of its width (360 px).
    const stageHeight = () =>
      el((p) =>
        Math.round(
          ((p.shadowRoot as ShadowRoot).querySelector('.stage') as HTMLElement).getBoundingClientRect().height,
        ),
      );
    expect(await stageHeight()).toBe(360);
    await el((p) => {
      p['fill'] = true;
    });
    expect(await el((p) => [p['fill'], p.hasAttribute('fill')])).toEqual([true, true]);
    expect(await stageHeight()).toBe(200);
    await el((p) => {
      p['fill'] = false;
    });
    expect(await stageHeight()).toBe(360);

    // variant and stream: consumed anew as asked.
    await el((p) => {
      p['variant'] = 'sub';
    });
    expect(await el((p) => p.getAttribute('variant'))).toBe('sub');
    await waitFor('a consume of sub', async () => consumes().at(-1)?.['variant'] === 'sub', 10_000);
    await el((p) => {
      p['variant'] = 'main';
      p['stream'] = 'cam-embed-2';
    });
    expect(await el((p) => p.getAttribute('stream'))).toBe(CAM2);
    await waitFor('a consume of the other camera', async () => consumes().at(-1)?.['stream'] === CAM2, 10_000);
    await live('the other camera live');

    // token: re-authenticates the open connection; gateway: a connection to it anew.
    const fresh = stack.token([CAM, CAM2], 900);
    const auths = sent.filter((m) => m['method'] === 'auth').length;
    await page.evaluate((t) => {
      (document.querySelector('#p') as unknown as { token: string }).token = t;
    }, fresh);
    expect(await el((p) => p.getAttribute('token'))).toBe(fresh);
    await waitFor('auth with the new token', async () => sent.filter((m) => m['method'] === 'auth').length > auths);
    const before = sockets.length;
    await page.evaluate((g) => {
      (document.querySelector('#p') as unknown as { gateway: string }).gateway = g;
    }, `${stack.base}/`);
    expect(await el((p) => p.getAttribute('gateway'))).toBe(`${stack.base}/`);
    await waitFor('a new socket', async () => sockets.length > before);
    await live('live through the new connection');
    await page.close();
  });
});

describe('the iframe embed tells its host page', () => {
  type Msg = { origin: string; data: Record<string, unknown> };
  const hostPage = (token: string) => `<!doctype html><html><head><meta charset="utf-8"></head><body>
<script>window.msgs = []; addEventListener('message', (e) => window.msgs.push({ origin: e.origin, data: e.data }));</script>
<iframe id="ok" style="width:480px;height:270px" src="${stack.base}/embed/${CAM}?token=${token}"></iframe>
<iframe id="bad" style="width:480px;height:270px" src="${stack.base}/embed/${CAM2}?token=${token}"></iframe>
</body></html>`;
  const msgs = (page: Page) => page.evaluate(() => (window as unknown as { msgs: Msg[] }).msgs);

  it('an allowed host gets state and error messages from the frame origin; another origin gets none', async () => {
    const token = stack.token([CAM]); // CAM2 outside its scope: the second frame errs
    allowed.pages.set('/embed.html', hostPage(token));
    refused.pages.set('/embed.html', hostPage(token));
    const { page } = await open(`${allowed.origin}/embed.html`);
    const { page: other } = await open(`${refused.origin}/embed.html`);
    const got = await waitFor(
      'live and error messages',
      async () => {
        const m = (await msgs(page)).filter((x) => x.data['type'] === 'cctv-player');
        const live = m.some((x) => x.data['event'] === 'state' && x.data['state'] === 'live');
        const err = m.some((x) => x.data['event'] === 'error');
        return live && err ? m : undefined;
      },
      20_000,
    );
    console.log(`host got: ${got.map((x) => `${x.data['event']}:${x.data['state'] ?? x.data['code']}`).join(' ')}`);
    for (const x of got) expect(x.origin).toBe(stack.base);
    expect(got.find((x) => x.data['state'] === 'connecting')?.data).toEqual({
      type: 'cctv-player',
      event: 'state',
      stream: CAM,
      state: 'connecting',
    });
    const err = got.find((x) => x.data['event'] === 'error')?.data;
    expect(err).toMatchObject({ type: 'cctv-player', event: 'error', stream: CAM2, code: 'E_FORBIDDEN_STREAM' });
    expect(String(err?.['message'])).toMatch(/tidak diizinkan/);
    // The other origin's frames play (and err) as well, but tell their host nothing.
    const frame = other.frames().find((f) => f.url().includes(`/embed/${CAM}`));
    await waitFor(
      "the other host's frame live",
      async () =>
        (await frame?.evaluate(() => (window as unknown as { cctvPlayer: { state: string } }).cctvPlayer.state)) ===
        'live',
      20_000,
    );
    expect(
      await frame?.evaluate(() => (window as unknown as { cctvHostOrigin: Promise<string | null> }).cctvHostOrigin),
    ).toBeNull();
    expect((await msgs(other)).filter((x) => x.data['type'] === 'cctv-player')).toEqual([]);
    await page.close();
    await other.close();
  });
});

describe('a browser without H.264 (E_UNSUPPORTED)', () => {
  const UA = {
    firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    chrome:
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    edge: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
    safari:
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
    headless:
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36',
  };

  it('names the browser from its user agent and says what to do', () => {
    expect(browserOf(UA.firefox)).toBe('Firefox');
    expect(browserOf(UA.chrome)).toBe('Google Chrome');
    expect(browserOf(UA.edge)).toBe('Microsoft Edge');
    expect(browserOf(UA.safari)).toBe('Safari');
    expect(browserOf(UA.headless)).toBe('Chromium (headless)');
    expect(browserOf('curl/8')).toBeNull();
    const ff = unsupportedText(UA.firefox);
    console.log(`Firefox is told: ${ff}`);
    expect(ff).toMatch(/^Firefox .*about:addons.*OpenH264.*Chrome, Edge, Chromium atau Safari/);
    expect(unsupportedText('curl/8')).toMatch(/^Peramban ini tidak dapat .*Chrome, Edge, Chromium atau Safari/);
  });
});
