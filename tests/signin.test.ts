// People sign in, in Chromium, against real parts: the city's identity provider (oidc-provider, a
// real OpenID provider on loopback: tests/support/oidc.ts) and local accounts made with the CLI.
// An operator reaches the wall and it plays; a person without a mapped role gets a clear page; a
// tampered or expired cookie is refused; sign-out ends the WebSocket's views; the mayor's bookmark
// of /m/<id> reopens that camera after sign-in; five wrong passwords lock an account.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { SignInRecord } from '../gateway/src/audit/AuditLog.js';
import { SESSION_COOKIE } from '../gateway/src/auth/sessions.js';
import { SESSION_PROTOCOL, SUBPROTOCOL } from '../signaling/src/SignalingServer.js';
import type { PlayerProbe } from '../web-client/src/LivePlayer.js';
import { type Browser, launchBrowser } from './support/browser.js';
import { gatewayConsumers, PALEMBANG_OFFICES, startCityStack } from './support/cityStack.js';
import { type HostServer, startHost } from './support/hostServer.js';
import { freePort } from './support/nginx.js';
import { startTestIdp, type TestIdp } from './support/oidc.js';
import { wallPlays, wallSnap } from './support/player.js';
import { type Stack, sleep, waitFor } from './support/stack.js';

const run = promisify(execFile);
const OFFICES = PALEMBANG_OFFICES.slice(0, 4);
const CAMERA = OFFICES[1]?.id as string;
const OTHER = OFFICES[2]?.id as string;
const CLIENT = { client_id: 'cctv-gateway', client_secret: 'idp-client-secret-for-the-tests' };
let base: string;
let idp: TestIdp;
let stack: Stack;
let browser: Browser;
let usersFile: string;

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  idp = await startTestIdp({
    clients: [{ ...CLIENT, redirect_uris: [`${base}/auth/oidc/callback`] }],
    users: {
      alice: {
        password: 'alice-password-1',
        claims: { name: 'Alice Operator', groups: ['kominfo', 'cctv-operators'] },
      },
      bob: { password: 'bob-password-12', claims: { name: 'Bob Staf', groups: ['kominfo'] } },
    },
  });
  usersFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cctv-users-')), 'users.json');
  stack = await startCityStack({
    offices: OFFICES,
    config: {
      server: { port, publicUrl: base },
      auth: {
        accounts: { file: usersFile, lockoutSec: 60 },
        // The shortest access token the config allows: the renewal test outlives one.
        sessions: { accessTtlSec: 30 },
        oidc: {
          issuer: idp.issuer,
          clientId: CLIENT.client_id,
          clientSecret: CLIENT.client_secret,
          label: 'SSO Pemkot',
          scopes: 'openid profile email groups',
          roleClaim: 'groups',
          roles: [{ value: 'cctv-operators', role: 'operator', streams: ['*'] }],
          allowHttp: true,
        },
      },
    },
  });
  browser = await launchBrowser();
  for (const [user, role] of [
    ['walikota', 'viewer'],
    ['camat', 'viewer'],
  ] as const)
    await users(
      ['add', user, '--role', role, '--streams', 'kel-*,kec-*', '--name', `Pak ${user}`],
      `password-of-${user}`,
    );
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await idp?.close();
});

/** The accounts CLI, for real (`npm run users -- …`), on this stack's file. */
async function users(args: string[], password?: string): Promise<string> {
  const child = run('node', [
    '--import',
    'tsx',
    'gateway/src/cli/users.ts',
    ...args,
    '--file',
    usersFile,
    ...(password ? ['--password-stdin'] : []),
  ]);
  child.child.stdin?.end(password ? `${password}\n` : '');
  return (await child).stdout;
}

const probe = (page: Page): Promise<PlayerProbe> =>
  page.evaluate(() => ({ ...(window as unknown as { cctvPlayer: PlayerProbe }).cctvPlayer }));

async function playerPlays(page: Page, stream: string): Promise<PlayerProbe> {
  return waitFor(
    `the phone view to play ${stream}`,
    async () => {
      const p = await probe(page).catch(() => undefined);
      return p?.stream === stream && p.state === 'live' && p.framesDecoded > 0 ? p : undefined;
    },
    30_000,
    250,
  );
}

/** Signs in on the gateway's /login page with a local account. */
async function localSignIn(page: Page, user: string, password: string): Promise<void> {
  await page.waitForSelector('input[name=username]');
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}

async function idpSignIn(page: Page, user: string, password: string): Promise<void> {
  await page.waitForURL(/\/login\?next=/, { timeout: 15_000 });
  await page.click('[data-testid=login-oidc]');
  await page.waitForSelector('input[name=login]');
  await page.fill('input[name=login]', user);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}

async function signInRecords(): Promise<SignInRecord[]> {
  const res = await fetch(`${base}/api/audit?kind=signin&limit=100`, {
    headers: { authorization: `Bearer ${stack.token(['*'], 600, 'admin', 'kominfo-admin')}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { records: SignInRecord[] }).records;
}

const sessionCookie = async (ctx: BrowserContext) => (await ctx.cookies()).find((c) => c.name === SESSION_COOKIE);
const getSession = (cookie: string) =>
  fetch(`${base}/auth/session`, { headers: { cookie: `${SESSION_COOKIE}=${cookie}` } });

/** A WebSocket that asks to authenticate with the cookie; what listStreams answers. */
async function wsWithCookie(cookie: string): Promise<{ ok: boolean; error?: { code: string } }> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`, [SUBPROTOCOL, SESSION_PROTOCOL], {
    headers: { cookie: `${SESSION_COOKIE}=${cookie}`, origin: base },
  });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  await sleep(300); // the upgrade's authentication is under way
  ws.send(JSON.stringify({ id: 1, method: 'listStreams', data: {} }));
  const answer = await new Promise<{ ok: boolean; error?: { code: string } }>((r) =>
    ws.on('message', (m) => {
      const msg = JSON.parse(String(m));
      if (msg.id === 1) r(msg);
    }),
  );
  ws.close();
  return answer;
}

describe('sign-in with the city identity provider (OpenID Connect)', () => {
  let operator: Page;

  it('an operator signs in and reaches the wall; its tiles play; the cookie is HttpOnly, Secure, SameSite', async () => {
    operator = await browser.newPage();
    operator.on('pageerror', (e) => console.error('[pageerror]', e.message));
    await operator.goto(`${base}/`);
    await idpSignIn(operator, 'alice', 'alice-password-1');
    await operator.waitForURL(`${base}/`, { timeout: 15_000 });
    const s = await wallPlays(operator);
    console.log(`oidc: alice on the wall, ${s.tiles.filter((t) => t.visible).length} tiles playing`);
    const cookie = await sessionCookie(operator.context());
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict' });
    expect(idp.logins.get('alice')).toBe(1);
    const me = (await (await getSession(cookie?.value as string)).json()) as Record<string, unknown>;
    expect(me).toMatchObject({ sub: 'alice', name: 'Alice Operator', role: 'operator', via: 'oidc' });
    expect(await signInRecords()).toContainEqual(
      expect.objectContaining({
        kind: 'signin',
        sub: 'alice',
        via: 'oidc',
        role: 'operator',
        result: 'ok',
        client: '127.0.0.1',
      }),
    );
  }, 90_000);

  it('a person whose groups map to no role is refused with a page that says so', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/m/${CAMERA}`);
    await idpSignIn(page, 'bob', 'bob-password-12');
    const title = await page.waitForSelector('[data-testid=refusal-title]', { timeout: 15_000 });
    expect(await title.textContent()).toMatch(/belum memiliki akses/);
    expect(await page.textContent('[data-testid=refusal-detail]')).toMatch(/Bob Staf.*kominfo/);
    expect(await sessionCookie(page.context())).toBeUndefined();
    expect(await signInRecords()).toContainEqual(
      expect.objectContaining({ sub: 'bob', via: 'oidc', result: 'no_role' }),
    );
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/cctv_signins_total\{method="oidc",result="no_role"\} 1/);
    await page.close();
  }, 60_000);

  it('a tampered or expired session cookie is refused, on HTTP and on the WebSocket', async () => {
    const cookie = (await sessionCookie(operator.context()))?.value as string;
    expect((await getSession(cookie)).status).toBe(200);
    expect((await wsWithCookie(cookie)).ok).toBe(true);
    // The value is base64url(session).signature: make the session an admin's and keep the signature.
    const [value, sig] = decodeURIComponent(cookie).split('.') as [string, string];
    const session = JSON.parse(Buffer.from(value, 'base64url').toString());
    const forged = `${Buffer.from(JSON.stringify({ ...session, role: 'admin' })).toString('base64url')}.${sig}`;
    const tampered = await getSession(encodeURIComponent(forged));
    expect(tampered.status).toBe(401);
    expect(await tampered.json()).toMatchObject({ error: { code: 'E_UNAUTHENTICATED', reason: 'tampered' } });
    expect(await wsWithCookie(encodeURIComponent(forged))).toMatchObject({
      ok: false,
      error: { code: 'E_UNAUTHENTICATED' },
    });
    // A session the gateway itself signed, 13 hours ago: past auth.sessions.ttlSec (12 h).
    const { sessions, app } = stack.gateway;
    const old = sessions.create(
      { sub: 'alice', name: null, role: 'operator', streams: ['*'], via: 'oidc' },
      Date.now() - 13 * 3600_000,
    );
    const expired = await getSession(encodeURIComponent(app.signCookie(sessions.encode(old))));
    expect(expired.status).toBe(401);
    expect(await expired.json()).toMatchObject({ error: { reason: 'expired' } });
    // In the browser: a page with a tampered cookie shows the one banner, not an outage.
    const page = await browser.newPage();
    await page.context().addCookies([
      {
        name: SESSION_COOKIE,
        value: encodeURIComponent(forged),
        url: base,
        httpOnly: true,
        secure: true,
        sameSite: 'Strict',
      },
    ]);
    await page.goto(`${base}/`);
    await page.waitForSelector('[data-testid=session-banner]', { timeout: 15_000 });
    const snap = await wallSnap(page).catch(() => undefined);
    expect(snap?.offline ?? 0).toBe(0);
    await page.close();
  }, 60_000);

  it('sign-out ends the views of every WebSocket of that session; the wall says so in one banner', async () => {
    await wallPlays(operator);
    const held = gatewayConsumers(stack);
    expect(held).toBeGreaterThan(0);
    const cookie = (await sessionCookie(operator.context()))?.value as string;
    // Sign out in another tab of the same browser.
    const tab = await operator.context().newPage();
    await tab.goto(`${base}/login`);
    const status = await tab.evaluate(async () => (await fetch('/auth/logout', { method: 'POST' })).status);
    expect(status).toBe(204);
    const t0 = Date.now();
    await waitFor('the views to end', () => (gatewayConsumers(stack) === 0 ? true : undefined), 10_000, 50);
    console.log(`sign-out: ${held} consumers ended ${Date.now() - t0} ms after POST /auth/logout`);
    await operator.waitForSelector('[data-testid=session-banner]', { timeout: 10_000 });
    const snap = await wallSnap(operator);
    expect(snap.authEnded).toBe(true);
    expect(snap.offline).toBe(0);
    expect(await (await getSession(cookie)).json()).toMatchObject({ error: { reason: 'signed_out' } });
    expect(await signInRecords()).toContainEqual(expect.objectContaining({ kind: 'signout', sub: 'alice' }));
    const views = await fetch(`${base}/api/audit?sub=alice&limit=100`, {
      headers: { authorization: `Bearer ${stack.token(['*'], 600, 'admin', 'kominfo-admin')}` },
    });
    const ended = ((await views.json()) as { records: { endReason: string }[] }).records.filter(
      (r) => r.endReason === 'signed_out',
    );
    expect(ended.length).toBe(held);
    await operator.close();
  }, 60_000);
});

describe('sign-in with local accounts', () => {
  it('a CLI-made account signs in on the phone view; a bookmark of /m/<id> reopens that camera', async () => {
    const listed = await users(['list']);
    expect(listed).toMatch(/walikota/);
    expect(listed).not.toMatch(/scrypt/);
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    page.on('pageerror', (e) => console.error('[pageerror]', e.message));
    await page.goto(`${base}/m/${CAMERA}`);
    await page.waitForURL(/\/login\?next=/, { timeout: 15_000 });
    await localSignIn(page, 'walikota', 'password-of-walikota');
    await page.waitForURL(`${base}/m/${CAMERA}`, { timeout: 15_000 });
    const p = await playerPlays(page, CAMERA);
    console.log(
      `local: walikota on /m/${CAMERA}, first frame ${p.firstFrameAt && p.requestedAt ? p.firstFrameAt - p.requestedAt : '?'} ms after asking`,
    );
    // The home-screen icon: the page's manifest starts at this camera.
    const manifest = await page.evaluate(async () => {
      const href = document.querySelector<HTMLLinkElement>('link[rel=manifest]')?.href;
      return href ? ((await (await fetch(href)).json()) as { start_url: string; display: string }) : undefined;
    });
    expect(manifest).toMatchObject({ start_url: `/m/${CAMERA}`, display: 'standalone' });

    // The bookmark, opened in a new browser context (no cookie yet): sign in, land on that camera.
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await phone.goto(`${base}/m/${OTHER}`);
    await phone.waitForURL(/\/login\?next=/, { timeout: 15_000 });
    await localSignIn(phone, 'walikota', 'password-of-walikota');
    await phone.waitForURL(`${base}/m/${OTHER}`, { timeout: 15_000 });
    await playerPlays(phone, OTHER);
    // The same browser later (its cookie kept): the bookmark opens straight on the camera.
    const state = await phone.context().storageState();
    const later = await browser.newPage({ storageState: state });
    await later.goto(`${base}/m/${CAMERA}`);
    await playerPlays(later, CAMERA);
    expect(later.url()).toBe(`${base}/m/${CAMERA}`);
    for (const pg of [page, phone, later]) await pg.close();
  }, 90_000);

  it('access renews without a reload: the phone view plays on past its first access token', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    const renewals: number[] = [];
    page.on('response', (r) => {
      if (r.url().endsWith('/auth/session')) renewals.push(r.status());
    });
    await page.goto(`${base}/login?next=${encodeURIComponent(`/m/${CAMERA}`)}`);
    await localSignIn(page, 'walikota', 'password-of-walikota');
    await page.waitForURL(`${base}/m/${CAMERA}`, { timeout: 15_000 });
    await playerPlays(page, CAMERA);
    await page.evaluate(() => {
      (window as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    const firstExpiry = (await (await getSession((await sessionCookie(page.context()))?.value as string)).json()) as {
      expiresAt: number;
    };
    // Past that token's expiry (30 s) with a margin: without renewal the gateway would have ended the view.
    await sleep(Math.max(0, firstExpiry.expiresAt * 1000 - Date.now()) + 4000);
    const a = await probe(page);
    await sleep(1000);
    const b = await probe(page);
    console.log(
      `renewal: ${renewals.length} answers from /auth/session (${renewals.join(',')}), frames ${a.framesDecoded}→${b.framesDecoded} after the first token expired`,
    );
    expect(b.state).toBe('live');
    expect(b.framesDecoded - a.framesDecoded).toBeGreaterThan(10);
    expect(renewals.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await page.close();
  }, 90_000);

  it('five wrong passwords lock the account: the sixth, correct one is refused with the reason; all are audited', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/login?next=${encodeURIComponent(`/m/${CAMERA}`)}`);
    for (let i = 0; i < 5; i++) {
      await localSignIn(page, 'camat', `wrong-password-${i}`);
      await waitFor(
        `refusal ${i + 1}`,
        async () => ((await page.textContent('[data-testid=login-error]')) ?? '').includes('salah') || undefined,
        10_000,
        50,
      );
      await page.evaluate(() => {
        const e = document.querySelector('[data-testid=login-error]');
        if (e) e.textContent = '';
      });
    }
    await localSignIn(page, 'camat', 'password-of-camat');
    const said = await waitFor(
      'the lockout to be said',
      async () => {
        const t = (await page.textContent('[data-testid=login-error]')) ?? '';
        return /dikunci/.test(t) ? t : undefined;
      },
      10_000,
      50,
    );
    console.log(`lockout: "${said}"`);
    expect(page.url()).toMatch(/\/login/);
    expect(await sessionCookie(page.context())).toBeUndefined();
    const mine = (await signInRecords()).filter((r) => r.sub === 'camat');
    expect(mine.filter((r) => r.result === 'bad_credentials')).toHaveLength(5);
    expect(mine.filter((r) => r.result === 'locked')).toHaveLength(1);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/cctv_signins_total\{method="local",result="bad_credentials"\} 5/);
    expect(metrics).toMatch(/cctv_signins_total\{method="local",result="locked"\} 1/);
    // The API says how long: the lock is auth.accounts.lockoutSec (60 s) from the fifth failure.
    const api = await fetch(`${base}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'camat', password: 'password-of-camat' }),
    });
    expect(api.status).toBe(429);
    const body = (await api.json()) as { error: { code: string; retryAfterSec: number } };
    expect(body.error.code).toBe('E_LOCKED');
    expect(body.error.retryAfterSec).toBeGreaterThan(30);
    expect(body.error.retryAfterSec).toBeLessThanOrEqual(60);
    await page.close();
  }, 60_000);

  it('a disabled account cannot sign in, and its session ends at the next renewal', async () => {
    const login = () =>
      fetch(`${base}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'walikota', password: 'password-of-walikota' }),
      });
    const ok = await login();
    expect(ok.status).toBe(200);
    const cookie = /cctv_session=([^;]+)/.exec(ok.headers.get('set-cookie') ?? '')?.[1] as string;
    expect((await getSession(cookie)).status).toBe(200);
    await sleep(1100); // the account's changedAt is after the session's issuedAt (ms), and the file's mtime moves
    await users(['disable', 'walikota']);
    expect(await (await getSession(cookie)).json()).toMatchObject({ error: { reason: 'disabled' } });
    const refused = await login();
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: { code: 'E_SIGNIN_FAILED', reason: 'disabled' } });
    await users(['enable', 'walikota']);
  }, 30_000);
});

describe('an embed whose access ends', () => {
  let host: HostServer;
  afterAll(() => host?.close());

  it('tells its host page (postMessage and the event) and shows the banner, not a camera failure', async () => {
    host = await startHost();
    const token = stack.token([CAMERA], 8, 'viewer', 'opd-dinkes');
    host.pages.set(
      '/opd.html',
      `<!doctype html><title>OPD</title><script>window.said = []; addEventListener('message', (e) => window.said.push(e.data));</script>
       <iframe id="cam" allow="autoplay" src="${base}/embed/${CAMERA}?token=${token}"></iframe>`,
    );
    const page = await browser.newPage();
    await page.goto(`${host.origin}/opd.html`);
    const frame = async () => page.frames().find((f) => f.url().includes(`/embed/${CAMERA}`));
    await waitFor(
      'the embed to play',
      async () => {
        const p = await (await frame())?.evaluate(() => (window as unknown as { cctvPlayer?: PlayerProbe }).cctvPlayer);
        return p?.state === 'live' && p.framesDecoded > 0 ? true : undefined;
      },
      20_000,
      200,
    );
    const said = await waitFor(
      'the host page to be told',
      async () => {
        const msgs = await page.evaluate(() => (window as unknown as { said: { type?: string }[] }).said);
        return msgs.find((m) => m?.type === 'cctv:auth-expired');
      },
      20_000,
      200,
    );
    console.log(`embed told its host: ${JSON.stringify(said)}`);
    expect(said).toMatchObject({
      type: 'cctv:auth-expired',
      stream: CAMERA,
      code: 'E_AUTH_EXPIRED',
      reason: 'expired',
    });
    const f = await frame();
    const banner = await f?.waitForSelector('[data-testid=session-banner]', { timeout: 5000 });
    expect(await banner?.textContent()).toMatch(/Token akses berakhir/);
    await page.close();
  }, 60_000);
});
