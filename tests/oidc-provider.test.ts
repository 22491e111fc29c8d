// Self-test of the test identity provider (tests/support/oidc.ts): a relying party (openid-client v6, as the
// gateway uses it) runs the full authorization code + PKCE flow over plain http on loopback, driving the
// IdP's real login page with fetch and a hand-rolled cookie jar. No browser.
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestIdp, type TestIdp } from './support/oidc.js';

const CLIENT_ID = 'cctv-gateway';
const CLIENT_SECRET = 'test-secret-0123456789abcdef';
// Nothing listens here: only the Location header pointing at it is read.
const REDIRECT_URI = 'http://127.0.0.1:9/auth/callback';

/** name=value cookies from Set-Cookie, sent back on every request (paths/expiry ignored except deletion). */
class CookieJar {
  readonly #cookies = new Map<string, string>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(';', 1)[0] ?? '';
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

async function request(jar: CookieJar, url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const cookie = jar.header();
  if (cookie) headers.set('cookie', cookie);
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.take(res);
  return res;
}

/** Follow 3xx until the IdP renders a page (returned) or redirects to the RP's redirect_uri (returned as URL). */
async function follow(jar: CookieJar, url: string, init?: RequestInit): Promise<{ url: string; res: Response }> {
  let current = url;
  let res = await request(jar, current, init);
  for (let hops = 0; hops < 10; hops++) {
    const location = res.headers.get('location');
    if (res.status < 300 || res.status >= 400 || !location) return { url: current, res };
    await res.body?.cancel();
    current = new URL(location, current).href;
    if (current.startsWith(REDIRECT_URI)) return { url: current, res };
    res = await request(jar, current);
  }
  throw new Error(`too many redirects, last ${current}`);
}

const form = (fields: Record<string, string>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

describe('test OIDC identity provider', () => {
  let idp: TestIdp;
  let config: client.Configuration;

  beforeAll(async () => {
    idp = await startTestIdp({
      clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [REDIRECT_URI] }],
      users: {
        alice: {
          password: 'alice-pw',
          claims: { name: 'Alice Operator', email: 'alice@cctv.test', groups: ['cctv-operators'] },
        },
        bob: { password: 'bob-pw', claims: { name: 'Bob Nobody' } },
      },
      accessTokenTtlSec: 120,
    });
    config = await client.discovery(new URL(idp.issuer), CLIENT_ID, CLIENT_SECRET, undefined, {
      execute: [client.allowInsecureRequests],
    });
  });

  afterAll(async () => {
    await idp?.close();
  });

  /** Authorize → login page (→ wrong password) → right password → code → tokens. */
  async function signIn(login: string, password: string, wrongPasswordFirst: boolean) {
    const jar = new CookieJar();
    const pkceCodeVerifier = client.randomPKCECodeVerifier();
    const expectedState = client.randomState();
    const expectedNonce = client.randomNonce();
    const authUrl = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile email groups',
      code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
      code_challenge_method: 'S256',
      state: expectedState,
      nonce: expectedNonce,
    });

    const loginPage = await follow(jar, authUrl.href);
    expect(loginPage.res.status).toBe(200);
    expect(new URL(loginPage.url).pathname).toMatch(/^\/interaction\/[\w-]+$/);
    const html = await loginPage.res.text();
    expect(html).toContain('name="login"');
    expect(html).toContain('name="password"');
    expect(html).toContain('<button type="submit"');

    if (wrongPasswordFirst) {
      const again = await request(jar, loginPage.url, form({ login, password: `${password}-wrong` }));
      expect(again.status).toBe(200);
      const againHtml = await again.text();
      expect(againHtml).toContain('invalid login');
      expect(againHtml).toContain('name="password"');
      expect(idp.logins.get(login) ?? 0).toBe(0);
    }

    const done = await follow(jar, loginPage.url, form({ login, password }));
    expect(done.url.startsWith(REDIRECT_URI), `ended at ${done.url}`).toBe(true);
    const callback = new URL(done.url);
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(callback.searchParams.get('state')).toBe(expectedState);

    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier,
      expectedState,
      expectedNonce,
    });
    return { tokens, claims: tokens.claims()! };
  }

  it('serves discovery for an http issuer with code+PKCE S256 and the groups scope', () => {
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(idp.issuer);
    expect(meta.response_types_supported).toEqual(['code']);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    expect(meta.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'groups']));
    expect(meta.claims_supported).toEqual(expect.arrayContaining(['sub', 'name', 'email', 'groups']));
    expect(meta.id_token_signing_alg_values_supported).toContain('RS256');
  });

  it('rejects an authorization request without PKCE', async () => {
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state: client.randomState(),
    });
    const res = await request(new CookieJar(), url.href);
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(location.href.startsWith(REDIRECT_URI)).toBe(true);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('signs in a user with groups: groups in the ID token and userinfo', async () => {
    const { tokens, claims } = await signIn('alice', 'alice-pw', true);
    expect(claims.sub).toBe('alice');
    expect(claims['name']).toBe('Alice Operator');
    expect(claims['email']).toBe('alice@cctv.test');
    expect(claims['groups']).toEqual(['cctv-operators']);
    expect(claims.iss).toBe(idp.issuer);
    expect(claims.aud).toBe(CLIENT_ID);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.expires_in).toBeLessThanOrEqual(120);
    expect(tokens.expires_in).toBeGreaterThan(100);

    const userinfo = await client.fetchUserInfo(config, tokens.access_token, 'alice');
    expect(userinfo.sub).toBe('alice');
    expect(userinfo['name']).toBe('Alice Operator');
    expect(userinfo['groups']).toEqual(['cctv-operators']);
    expect(idp.logins.get('alice')).toBe(1);
  });

  it('signs in a user without groups: no groups claim', async () => {
    const { tokens, claims } = await signIn('bob', 'bob-pw', false);
    expect(claims.sub).toBe('bob');
    expect(claims['name']).toBe('Bob Nobody');
    expect(claims['groups'] ?? []).toEqual([]);
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, 'bob');
    expect(userinfo['groups'] ?? []).toEqual([]);
    expect(idp.logins.get('bob')).toBe(1);
    expect(idp.logins.get('alice')).toBe(1);
  });

  it('rejects an unknown user like a wrong password', async () => {
    const jar = new CookieJar();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const loginPage = await follow(jar, url.href);
    const res = await request(jar, loginPage.url, form({ login: 'mallory', password: 'x' }));
    expect(await res.text()).toContain('invalid login');
    expect(idp.logins.has('mallory')).toBe(false);
  });

  it('close() stops the server, keep-alive sockets included', async () => {
    const discovery = `${idp.issuer}/.well-known/openid-configuration`;
    expect((await fetch(discovery)).status).toBe(200);
    await idp.close();
    await expect(fetch(discovery)).rejects.toThrow();
  });
});
