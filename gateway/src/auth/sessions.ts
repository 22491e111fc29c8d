// Sign-in sessions of people. The browser holds the session in an HttpOnly cookie (signed by
// @fastify/cookie; its value is the session itself, so a restart or another node needs no store),
// and the pages get short-lived access tokens from it (GET /auth/session), which the WebSocket and
// REST accept like any token and which the pages renew before they expire. Sign-out revokes the
// session id: kept in a small file until the session would have expired, so a copy of the cookie
// stays refused after a restart, and every connection using it ends its views at once.
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { GatewayError } from '../../../signaling/src/errors.js';
import { type AccountStore, sessionStillValid } from './accounts.js';
import { type Claims, globsProblem, ROLES, type Role } from './tokens.js';

export const SESSION_COOKIE = 'cctv_session';

/** What a session ends with, as the pages and the WebSocket's authExpired say it. */
export type SessionEnd = 'expired' | 'signed_out' | 'revoked' | 'disabled';

export interface Session {
  sid: string;
  sub: string;
  name: string | null;
  role: Role;
  streams: string[];
  via: 'local' | 'oidc';
  /** Unix ms. */
  issuedAt: number;
  /** Unix ms: the person signs in again after this. */
  expiresAt: number;
}

export interface SessionOptions {
  secret: Buffer;
  ttlSec: number;
  accessTtlSec: number;
  /** The gateway's token audience; access tokens carry it too. */
  audience: string;
  revokedFile: string;
  /** Local accounts: a session of a disabled, removed or reset account ends (sessionStillValid). */
  accounts?: AccountStore | undefined;
}

/** The issuer of session access tokens: distinct from every token issuer, so they never mix. */
export const SESSION_ISSUER = 'cctv-gateway/session';

/** A browser refuses cookies above ~4 KB: a session whose streams do not fit is refused at sign-in. */
const MAX_COOKIE_BYTES = 3800;

export class SessionManager {
  readonly observer = new EventEmitter<{ ended: [sid: string, reason: SessionEnd] }>();
  /** sid → until when it would have lasted (ms); pruned once past. */
  readonly #revoked = new Map<string, { until: number; reason: SessionEnd }>();
  readonly #tokenKey: Buffer;

  constructor(private readonly opts: SessionOptions) {
    // Cookie signing (@fastify/cookie) and access tokens each get their own key from the one secret.
    this.#tokenKey = Buffer.from(crypto.hkdfSync('sha256', opts.secret, 'cctv-gateway', 'session access tokens', 32));
    this.#load();
  }

  /** The key @fastify/cookie signs the session cookie with. */
  get cookieKey(): Buffer {
    return Buffer.from(crypto.hkdfSync('sha256', this.opts.secret, 'cctv-gateway', 'session cookie', 32));
  }

  get ttlSec(): number {
    return this.opts.ttlSec;
  }

  /** A new session for a person who just signed in; refused when its claims cannot fit a cookie. */
  create(who: Pick<Session, 'sub' | 'name' | 'role' | 'streams' | 'via'>, now = Date.now()): Session {
    const problem = globsProblem(who.streams);
    if (problem) throw new GatewayError('E_BAD_REQUEST', problem);
    const session: Session = {
      sid: crypto.randomBytes(16).toString('base64url'),
      ...who,
      issuedAt: now,
      expiresAt: now + this.opts.ttlSec * 1000,
    };
    if (this.encode(session).length > MAX_COOKIE_BYTES)
      throw new GatewayError('E_BAD_REQUEST', `this role's stream list is too long for a browser session`);
    return session;
  }

  /** The cookie's value (before @fastify/cookie signs it). */
  encode(session: Session): string {
    return Buffer.from(JSON.stringify(session)).toString('base64url');
  }

  /**
   * The session a cookie holds, once @fastify/cookie checked its signature; or why not. `tampered`
   * covers a signature that does not match and a value that is not a session.
   */
  decode(unsigned: { valid: boolean; value: string | null } | undefined, now = Date.now()): Session | SessionRefusal {
    if (!unsigned) return refusal('missing', 'not signed in');
    if (!unsigned.valid || !unsigned.value)
      return refusal('tampered', 'the session cookie is not one this gateway made');
    let s: Session;
    try {
      s = JSON.parse(Buffer.from(unsigned.value, 'base64url').toString('utf8')) as Session;
    } catch {
      return refusal('tampered', 'the session cookie is not one this gateway made');
    }
    if (!isSession(s)) return refusal('tampered', 'the session cookie is not one this gateway made');
    return this.#ended(s, now) ?? s;
  }

  /** A short-lived access token for the session, never outliving it. */
  accessToken(session: Session, now = Date.now()): { token: string; expiresAt: number } {
    const expiresAt = Math.floor(Math.min(now + this.opts.accessTtlSec * 1000, session.expiresAt) / 1000);
    const token = jwt.sign(
      { role: session.role, streams: session.streams, sid: session.sid, exp: expiresAt },
      this.#tokenKey,
      { algorithm: 'HS256', subject: session.sub, issuer: SESSION_ISSUER, audience: this.opts.audience },
    );
    return { token, expiresAt };
  }

  /** Whether a token is a session access token (by its unverified issuer): `verify` then decides. */
  static isSessionToken(token: unknown): boolean {
    if (typeof token !== 'string' || token.length > 8192) return false;
    try {
      const payload = jwt.decode(token, { json: true });
      return payload?.iss === SESSION_ISSUER;
    } catch {
      return false;
    }
  }

  /** Checks a session access token: signature, expiry and that its session still holds. */
  verify(token: string): Claims {
    let p: jwt.JwtPayload;
    try {
      p = jwt.verify(token, this.#tokenKey, {
        algorithms: ['HS256'],
        issuer: SESSION_ISSUER,
        audience: this.opts.audience,
      }) as jwt.JwtPayload;
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError)
        throw new GatewayError(
          'E_AUTH_EXPIRED',
          `the access token expired at ${err.expiredAt.toISOString()}`,
          'expired',
        );
      throw new GatewayError('E_UNAUTHENTICATED', 'the access token does not verify', 'bad_signature');
    }
    const { sub, role, streams, sid, exp } = p as Record<string, unknown>;
    if (
      typeof sub !== 'string' ||
      typeof sid !== 'string' ||
      typeof exp !== 'number' ||
      !ROLES.includes(role as Role) ||
      !Array.isArray(streams)
    )
      throw new GatewayError('E_UNAUTHENTICATED', 'the access token lacks its claims', 'missing_claims');
    const revoked = this.#revoked.get(sid);
    if (revoked) throw new GatewayError('E_AUTH_EXPIRED', endMessage(revoked.reason), revoked.reason);
    return { sub, role: role as Role, streams: streams as string[], exp, sid };
  }

  /** Ends a session everywhere: its cookie and access tokens are refused, its connections stop. */
  revoke(session: Pick<Session, 'sid' | 'expiresAt'>, reason: SessionEnd): void {
    if (this.#revoked.has(session.sid)) return;
    this.#revoked.set(session.sid, { until: session.expiresAt, reason });
    try {
      fs.mkdirSync(path.dirname(this.opts.revokedFile), { recursive: true });
      fs.appendFileSync(
        this.opts.revokedFile,
        `${JSON.stringify({ sid: session.sid, until: session.expiresAt, reason })}\n`,
        { mode: 0o600 },
      );
    } catch {
      // Still refused while this process runs; the file is best effort across restarts.
    }
    this.observer.emit('ended', session.sid, reason);
  }

  #ended(s: Session, now: number): SessionRefusal | undefined {
    const revoked = this.#revoked.get(s.sid);
    if (revoked) return refusal(revoked.reason, endMessage(revoked.reason));
    if (s.expiresAt <= now) return refusal('expired', endMessage('expired'));
    if (s.via === 'local' && this.opts.accounts && !sessionStillValid(this.opts.accounts, s.sub, s.issuedAt)) {
      this.revoke(s, 'disabled');
      return refusal('disabled', endMessage('disabled'));
    }
    return undefined;
  }

  /** Reads the revoked sessions that have not expired yet and rewrites the file without the rest. */
  #load(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.opts.revokedFile, 'utf8');
    } catch {
      return;
    }
    const now = Date.now();
    for (const line of text.split('\n')) {
      try {
        const r = JSON.parse(line) as { sid: string; until: number; reason: SessionEnd };
        if (typeof r.sid === 'string' && r.until > now) this.#revoked.set(r.sid, { until: r.until, reason: r.reason });
      } catch {
        // a torn last line
      }
    }
    const kept = [...this.#revoked].map(([sid, r]) => `${JSON.stringify({ sid, ...r })}\n`).join('');
    try {
      fs.writeFileSync(this.opts.revokedFile, kept, { mode: 0o600 });
    } catch {
      // read-only: keep what was read
    }
  }

  /** Drops revocations of sessions that have expired anyway (called on a timer). */
  prune(now = Date.now()): void {
    for (const [sid, r] of this.#revoked) if (r.until <= now) this.#revoked.delete(sid);
  }
}

export interface SessionRefusal {
  refused: true;
  reason: 'missing' | 'tampered' | SessionEnd;
  message: string;
}

const refusal = (reason: SessionRefusal['reason'], message: string): SessionRefusal => ({
  refused: true,
  reason,
  message,
});

export function isRefusal(x: Session | SessionRefusal): x is SessionRefusal {
  return 'refused' in x;
}

export function endMessage(reason: SessionEnd): string {
  return {
    expired: 'the sign-in session has expired; sign in again',
    signed_out: 'the session was signed out',
    revoked: 'the session was revoked',
    disabled: 'the account was disabled or its password changed; sign in again',
  }[reason];
}

function isSession(s: unknown): s is Session {
  const x = s as Partial<Session> | null;
  return (
    !!x &&
    typeof x.sid === 'string' &&
    typeof x.sub === 'string' &&
    ROLES.includes(x.role as Role) &&
    Array.isArray(x.streams) &&
    x.streams.every((g) => typeof g === 'string') &&
    (x.via === 'local' || x.via === 'oidc') &&
    typeof x.issuedAt === 'number' &&
    typeof x.expiresAt === 'number'
  );
}
