// A real OpenID Connect provider (panva's oidc-provider, v9) on 127.0.0.1 for the SSO tests: authorization
// code flow with PKCE (S256) required for every client, an RS256 signing key generated at start (never on
// disk), and a small real login page that checks passwords. Consent is granted automatically for whatever
// the client asked for. Plain http on loopback: the relying party must allow insecure requests.
//
// The login page is served by a node:http handler in front of provider.callback() on /interaction/:uid;
// everything else is the provider itself (discovery, /auth, /token, /me, /jwks, /session/end).
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';

export interface TestUser {
  password: string;
  claims: { name?: string; email?: string; groups?: string[] };
}

export interface TestClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  /** Default 'client_secret_post' (what openid-client v6 uses when given a client_secret string). */
  token_endpoint_auth_method?: 'client_secret_post' | 'client_secret_basic';
  post_logout_redirect_uris?: string[];
}

export interface TestIdp {
  /** http://127.0.0.1:<port>, no trailing slash. Discovery: `${issuer}/.well-known/openid-configuration`. */
  issuer: string;
  close(): Promise<void>;
  /** sub → number of successful logins (correct password submitted on the login page). */
  logins: Map<string, number>;
}

export interface TestIdpOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (default) = any free port. */
  port?: number;
  clients: TestClient[];
  /** Key = login name = sub. */
  users: Record<string, TestUser>;
  /** Default 'groups': the claim name the users' groups are released as (under the `groups` scope). */
  groupsClaim?: string;
  /** Access token lifetime, default 3600. */
  accessTokenTtlSec?: number;
}

// oidc-provider ships no type declarations; this is the little of it used here.
interface OidcInteraction {
  uid: string;
  params: Record<string, unknown> & { client_id?: string };
  prompt: { name: string; details: Record<string, unknown> };
  session?: { accountId: string };
  grantId?: string;
}
interface OidcGrant {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(indicator: string, scope: string): void;
  save(): Promise<string>;
}
interface OidcProvider {
  callback(): (req: http.IncomingMessage, res: http.ServerResponse) => void;
  interactionDetails(req: http.IncomingMessage, res: http.ServerResponse): Promise<OidcInteraction>;
  interactionFinished(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    result: Record<string, unknown>,
    opts?: { mergeWithLastSubmission?: boolean },
  ): Promise<void>;
  Grant: {
    new (init: { accountId: string; clientId: string }): OidcGrant;
    find(id: string): Promise<OidcGrant | undefined>;
  };
}
type ProviderCtor = new (issuer: string, config: Record<string, unknown>) => OidcProvider;
// A non-literal specifier keeps tsc from demanding declarations for the untyped package.
const OIDC_PROVIDER_MODULE = 'oidc-provider';

type Payload = Record<string, unknown>;

// A per-IdP in-memory storage adapter (the provider's own one prints a "development-only" warning).
function memoryAdapter() {
  const store = new Map<string, { payload: Payload; exp: number | undefined }>();
  const now = () => Math.floor(Date.now() / 1000);
  const live = (key: string): Payload | undefined => {
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.exp !== undefined && entry.exp <= now()) {
      store.delete(key);
      return undefined;
    }
    return entry.payload;
  };
  return class MemoryAdapter {
    readonly #model: string;
    constructor(model: string) {
      this.#model = model;
    }
    #key(id: string) {
      return `${this.#model}:${id}`;
    }
    #findBy(field: string, value: string) {
      for (const key of store.keys()) {
        if (!key.startsWith(`${this.#model}:`)) continue;
        const payload = live(key);
        if (payload?.[field] === value) return payload;
      }
      return undefined;
    }
    async upsert(id: string, payload: Payload, expiresIn?: number) {
      store.set(this.#key(id), { payload: { ...payload }, exp: expiresIn ? now() + expiresIn : undefined });
    }
    async find(id: string) {
      return live(this.#key(id));
    }
    async findByUid(uid: string) {
      return this.#findBy('uid', uid);
    }
    async findByUserCode(userCode: string) {
      return this.#findBy('userCode', userCode);
    }
    async consume(id: string) {
      const payload = live(this.#key(id));
      if (payload) payload['consumed'] = now();
    }
    async destroy(id: string) {
      store.delete(this.#key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const [key, entry] of store) if (entry.payload['grantId'] === grantId) store.delete(key);
    }
  };
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body>${body}</body></html>`;
}

function loginPage(uid: string, clientId: string, login: string, error?: string): string {
  return page(
    'Sign in',
    `<h1>Sign in to ${esc(clientId)}</h1>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}" autocomplete="off">
  <label>Login <input name="login" type="text" value="${esc(login)}" required autofocus></label>
  <label>Password <input name="password" type="password" required></label>
  <button type="submit">Sign in</button>
</form>`,
  );
}

function send(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(html),
  });
  res.end(html);
}

async function readForm(req: http.IncomingMessage, limit = 64 * 1024): Promise<URLSearchParams> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error('form body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export async function startTestIdp(opts: TestIdpOptions): Promise<TestIdp> {
  const host = opts.host ?? '127.0.0.1';
  const groupsClaim = opts.groupsClaim ?? 'groups';
  const { users } = opts;
  const logins = new Map<string, number>();
  const findUser = (login: string): TestUser | undefined => (Object.hasOwn(users, login) ? users[login] : undefined);

  const { default: Provider } = (await import(OIDC_PROVIDER_MODULE)) as { default: ProviderCtor };
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: randomBytes(8).toString('hex') };

  let provider: OidcProvider | undefined;
  let providerCallback: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | undefined;

  async function grantConsent(res: http.ServerResponse, req: http.IncomingMessage, it: OidcInteraction) {
    const p = provider!;
    const accountId = it.session?.accountId;
    const clientId = it.params.client_id;
    if (!accountId || !clientId) throw new Error('consent prompt without a session or client');
    const grant = (it.grantId ? await p.Grant.find(it.grantId) : undefined) ?? new p.Grant({ accountId, clientId });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = it.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await p.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  async function interaction(req: http.IncomingMessage, res: http.ServerResponse, uid: string) {
    const p = provider!;
    let it: OidcInteraction;
    try {
      it = await p.interactionDetails(req, res);
    } catch (err) {
      // SessionNotFound etc.: no (or an expired) interaction cookie.
      send(res, 400, page('Error', `<p class="error">${esc((err as Error).message)}</p>`));
      return;
    }
    if (it.uid !== uid) {
      send(res, 400, page('Error', '<p class="error">interaction mismatch</p>'));
      return;
    }
    const clientId = it.params.client_id ?? '';
    if (it.prompt.name === 'consent') {
      await grantConsent(res, req, it);
      return;
    }
    if (it.prompt.name !== 'login') {
      send(res, 400, page('Error', `<p class="error">unsupported prompt ${esc(it.prompt.name)}</p>`));
      return;
    }
    if (req.method === 'GET') {
      const hint = typeof it.params['login_hint'] === 'string' ? it.params['login_hint'] : '';
      send(res, 200, loginPage(uid, clientId, hint));
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'GET, POST' }).end();
      return;
    }
    const form = await readForm(req);
    const login = form.get('login') ?? '';
    const user = findUser(login);
    if (!user || user.password !== (form.get('password') ?? '')) {
      send(res, 200, loginPage(uid, clientId, login, 'invalid login'));
      return;
    }
    logins.set(login, (logins.get(login) ?? 0) + 1);
    await p.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  }

  const server = http.createServer((req, res) => {
    const match = /^\/interaction\/([A-Za-z0-9_-]+)\/?$/.exec((req.url ?? '/').split('?')[0] ?? '/');
    if (match?.[1]) {
      interaction(req, res, match[1]).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, page('Error', `<p class="error">${esc(String(err))}</p>`));
        else res.destroy();
      });
      return;
    }
    if (!providerCallback) {
      res.writeHead(503).end();
      return;
    }
    providerCallback(req, res);
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as net.AddressInfo;
  const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const cookie = { httpOnly: true, sameSite: 'lax', secure: false, path: '/' };
  provider = new Provider(issuer, {
    adapter: memoryAdapter(),
    jwks: { keys: [jwk] },
    clients: opts.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      post_logout_redirect_uris: c.post_logout_redirect_uris ?? [],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: c.token_endpoint_auth_method ?? 'client_secret_post',
      id_token_signed_response_alg: 'RS256',
    })),
    responseTypes: ['code'],
    pkce: { required: () => true },
    claims: {
      openid: ['sub'],
      profile: ['name'],
      email: ['email', 'email_verified'],
      groups: [groupsClaim],
    },
    // Release scope-granted claims (name, email, groups) in the ID token too, not only from userinfo.
    conformIdTokenClaims: false,
    async findAccount(_ctx: unknown, sub: string) {
      const user = findUser(sub);
      if (!user) return undefined;
      const { name, email, groups } = user.claims;
      const claims: Record<string, unknown> = { sub };
      if (name !== undefined) claims['name'] = name;
      if (email !== undefined) {
        claims['email'] = email;
        claims['email_verified'] = true;
      }
      if (groups !== undefined) claims[groupsClaim] = [...groups];
      return { accountId: sub, claims: async () => claims };
    },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      long: { ...cookie },
      short: { ...cookie },
    },
    ttl: {
      AccessToken: opts.accessTokenTtlSec ?? 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx: { body: string }, form: string) {
          ctx.body = page(
            'Sign out',
            `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`,
          );
        },
        async postLogoutSuccessSource(ctx: { body: string }) {
          ctx.body = page('Signed out', '<p>Signed out.</p>');
        },
      },
    },
    clientBasedCORS: () => false,
    async renderError(ctx: { type: string; body: string }, out: Record<string, string>) {
      ctx.type = 'html';
      ctx.body = page(
        'Error',
        Object.entries(out)
          .map(([k, v]) => `<p class="error"><b>${esc(k)}</b>: ${esc(String(v))}</p>`)
          .join('\n'),
      );
    },
  });
  providerCallback = provider.callback();

  let closed: Promise<void> | undefined;
  return {
    issuer,
    logins,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      });
      return closed;
    },
  };
}
