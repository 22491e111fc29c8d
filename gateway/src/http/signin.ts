// Sign-in routes for people. /auth/login (local accounts) and /auth/oidc/* (the city's identity
// provider) end in the session cookie (HttpOnly, Secure, SameSite=Strict, signed by @fastify/cookie);
// /auth/session turns it into a short-lived access token each time the page asks (that is renewal);
// /auth/logout ends it on every connection. Every attempt is counted and written to the audit trail.
import type { EventEmitter } from 'node:events';
import { Type as T } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../../signaling/src/errors.js';
import type { SignInRecord } from '../audit/AuditLog.js';
import type { AccountStore } from '../auth/accounts.js';
import type { OidcSignIn, OidcTransaction } from '../auth/oidc.js';
import { isRefusal, SESSION_COOKIE, type Session, type SessionManager } from '../auth/sessions.js';
import { isLoopbackHost } from '../auth/setup.js';
import type { Role } from '../auth/tokens.js';
import type { Logger } from '../log.js';
import type { SignInEvents } from './metrics.js';

export interface SignInDeps {
  sessions: SessionManager;
  accounts?: AccountStore | undefined;
  oidc?: OidcSignIn | undefined;
  /** On disk before the answer; rejects (E_UNAVAILABLE) when it cannot be and auditing is required. */
  audit: (record: SignInRecord) => void | Promise<void>;
  observer: EventEmitter<SignInEvents>;
  logger: Logger;
}

const OIDC_COOKIE = 'cctv_oidc';

/** A path on this site to return to after sign-in; anything else (another site, `//x`, `/\x`) is `/`. */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || next.length > 2048) return '/';
  if (!next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  if (/[\u0000-\u001f]/.test(next)) return '/';
  return next;
}

/** The session cookie of a request, as the session manager reads it (signature checked by @fastify/cookie). */
export function sessionOf(app: FastifyInstance, sessions: SessionManager, cookieHeader: string | undefined) {
  const raw = cookieHeader ? app.parseCookie(cookieHeader)[SESSION_COOKIE] : undefined;
  return sessions.decode(raw === undefined ? undefined : app.unsignCookie(raw));
}

export function registerSignIn(app: FastifyInstance, deps: SignInDeps): void {
  const { sessions, accounts, oidc, logger } = deps;
  const log = logger.child({ component: 'signin' });

  const record = async (req: FastifyRequest, r: Omit<SignInRecord, 'at' | 'client' | 'userAgent'>) => {
    deps.observer.emit('signIn', r.via, r.result);
    await deps.audit({
      ...r,
      at: new Date().toISOString(),
      client: req.ip,
      userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
    });
  };

  /** Secure cookies need https; on plain http only a loopback address (development) can keep one. */
  const requireSecureOrigin = (req: FastifyRequest) => {
    if (req.protocol === 'https' || isLoopbackHost(req.hostname)) return;
    throw new GatewayError(
      'E_BAD_REQUEST',
      'sign-in needs HTTPS: open the gateway at its https:// address (server.publicUrl), or behind a TLS proxy set server.trustProxy',
    );
  };

  /** A signed, HttpOnly, Secure cookie: the session (Strict) or the OpenID Connect transaction (Lax). */
  const setCookie = (reply: FastifyReply, name: string, value: string, at: string, strict: boolean, maxAge: number) =>
    reply.setCookie(name, value, {
      path: at,
      httpOnly: true,
      secure: true,
      sameSite: strict ? 'strict' : 'lax',
      signed: true,
      maxAge,
    });
  const setSession = (reply: FastifyReply, session: Session) =>
    setCookie(
      reply,
      SESSION_COOKIE,
      sessions.encode(session),
      '/',
      true,
      Math.floor((session.expiresAt - Date.now()) / 1000),
    );

  app.get('/auth/methods', async () => ({
    local: !!accounts,
    oidc: oidc ? { label: oidc.label } : null,
  }));

  const Login = T.Object(
    {
      username: T.String({ minLength: 1, maxLength: 64 }),
      password: T.String({ minLength: 1, maxLength: 1024 }),
    },
    { additionalProperties: false },
  );
  app.post('/auth/login', { schema: { body: Login } }, async (req, reply) => {
    if (!accounts) throw new GatewayError('E_UNSUPPORTED', 'local accounts are turned off (auth.accounts.enabled)');
    requireSecureOrigin(req);
    const { username, password } = req.body as { username: string; password: string };
    const name = username.trim().toLowerCase();
    const result = await accounts.signIn(name, password);
    if (!result.ok) {
      await record(req, { kind: 'signin', sub: name, role: null, via: 'local', result: result.reason }).catch(() => {});
      log.info({ user: name, client: req.ip, result: result.reason }, 'sign-in refused');
      if (result.reason === 'locked') {
        const wait = result.retryAfterSec ?? 1;
        reply.header('retry-after', String(wait)).status(429);
        return {
          error: {
            code: 'E_LOCKED',
            reason: 'locked',
            message: `too many failed sign-ins: this account is locked; try again in ${wait} s`,
            retryAfterSec: wait,
          },
        };
      }
      throw new GatewayError(
        'E_SIGNIN_FAILED',
        result.reason === 'disabled' ? 'this account is disabled' : 'wrong user name or password',
        result.reason,
      );
    }
    const a = result.account;
    // Written before the session exists: with audit.required an unaudited sign-in does not happen.
    await record(req, { kind: 'signin', sub: a.username, role: a.role, via: 'local', result: 'ok' });
    const session = sessions.create({
      sub: a.username,
      name: a.name ?? null,
      role: a.role,
      streams: a.streams,
      via: 'local',
    });
    log.info({ user: a.username, role: a.role, client: req.ip }, 'signed in');
    setSession(reply, session);
    return { sub: a.username, role: a.role };
  });

  app.get('/auth/session', async (req, reply) => {
    reply.header('cache-control', 'no-store');
    const s = sessionOf(app, sessions, req.headers.cookie);
    if (isRefusal(s)) {
      if (s.reason !== 'missing') reply.clearCookie(SESSION_COOKIE, { path: '/' });
      throw new GatewayError(
        s.reason === 'expired' || s.reason === 'missing' || s.reason === 'tampered'
          ? 'E_UNAUTHENTICATED'
          : 'E_AUTH_EXPIRED',
        s.message,
        s.reason,
      );
    }
    const { token, expiresAt } = sessions.accessToken(s);
    return {
      sub: s.sub,
      name: s.name,
      role: s.role,
      streams: s.streams,
      via: s.via,
      token,
      expiresAt,
      sessionExpiresAt: Math.floor(s.expiresAt / 1000),
    };
  });

  app.post('/auth/logout', async (req, reply) => {
    const s = sessionOf(app, sessions, req.headers.cookie);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    if (!isRefusal(s)) {
      sessions.revoke(s, 'signed_out');
      await record(req, { kind: 'signout', sub: s.sub, role: s.role, via: s.via, result: 'ok' }).catch(() => {});
      log.info({ user: s.sub, client: req.ip }, 'signed out');
    }
    reply.status(204).send();
  });

  if (!oidc) return;
  app.get(
    '/auth/oidc/start',
    { schema: { querystring: T.Object({ next: T.Optional(T.String({ maxLength: 2048 })) }) } },
    async (req, reply) => {
      requireSecureOrigin(req);
      let started: Awaited<ReturnType<OidcSignIn['start']>>;
      try {
        started = await oidc.start(safeNext((req.query as { next?: string }).next));
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'identity provider unreachable');
        deps.observer.emit('signIn', 'oidc', 'provider_error');
        return refusalPage(
          reply,
          503,
          'Penyedia identitas tidak dapat dihubungi',
          'The identity provider cannot be reached now; try again in a minute.',
        );
      }
      // Lax: the provider sends the browser back with a cross-site top-level GET.
      const transaction = Buffer.from(JSON.stringify(started.transaction)).toString('base64url');
      setCookie(reply, OIDC_COOKIE, transaction, '/auth/oidc', false, 600);
      return reply.redirect(started.url.href, 302);
    },
  );

  app.get('/auth/oidc/callback', async (req, reply) => {
    const raw = req.cookies[OIDC_COOKIE];
    reply.clearCookie(OIDC_COOKIE, { path: '/auth/oidc' });
    const unsigned = raw ? app.unsignCookie(raw) : undefined;
    let t: OidcTransaction | undefined;
    try {
      t =
        unsigned?.valid && unsigned.value ? JSON.parse(Buffer.from(unsigned.value, 'base64url').toString()) : undefined;
    } catch {
      t = undefined;
    }
    if (!t) {
      deps.observer.emit('signIn', 'oidc', 'no_transaction');
      return refusalPage(
        reply,
        400,
        'Sesi masuk kedaluwarsa',
        'This sign-in took too long or was started elsewhere; start again.',
        '/login',
      );
    }
    let who: Awaited<ReturnType<OidcSignIn['finish']>>;
    try {
      who = await oidc.finish(new URL(req.url, oidc.redirectUrl), t);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'OpenID Connect sign-in failed');
      await record(req, { kind: 'signin', sub: '', role: null, via: 'oidc', result: 'provider_error' }).catch(() => {});
      return refusalPage(
        reply,
        502,
        'Masuk gagal',
        'The identity provider did not confirm the sign-in; start again.',
        '/login',
      );
    }
    if (!who.grant) {
      await record(req, { kind: 'signin', sub: who.sub, role: null, via: 'oidc', result: 'no_role' }).catch(() => {});
      log.info({ user: who.sub, client: req.ip }, 'sign-in refused: no mapped role');
      return refusalPage(
        reply,
        403,
        'Akun Anda belum memiliki akses CCTV',
        `Signed in as ${who.name ?? who.sub}, but none of your groups (${who.claimValues.join(', ') || 'none'}) has a role on this gateway. Ask the Command Center's administrator.`,
      );
    }
    await record(req, { kind: 'signin', sub: who.sub, role: who.grant.role, via: 'oidc', result: 'ok' });
    const session = sessions.create({
      sub: who.sub,
      name: who.name,
      role: who.grant.role as Role,
      streams: who.grant.streams,
      via: 'oidc',
    });
    log.info({ user: who.sub, role: who.grant.role, client: req.ip }, 'signed in');
    setSession(reply, session);
    return reply.redirect(t.next, 302);
  });
}

const html = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

/** A plain page that says why sign-in did not happen (no script: it must read under any CSP). */
function refusalPage(reply: FastifyReply, status: number, title: string, detail: string, back = '/login') {
  return reply
    .status(status)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .send(
      `<!doctype html><html lang="id"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<title>${html(title)}</title><link rel="stylesheet" href="/theme.css"></head>` +
        `<body><main class="refusal"><h1 data-testid="refusal-title">${html(title)}</h1><p data-testid="refusal-detail">${html(detail)}</p>` +
        `<p><a href="${html(back)}">Kembali ke halaman masuk</a></p></main></body></html>`,
    );
}
