// JWT verification with the algorithm pinned by config, and the stream-scope check every consume
// goes through. Rejections carry a reason (for clients and metrics) and never echo the token.
import fs from 'node:fs';
import jwt from 'jsonwebtoken';
import { GatewayError } from '../../../signaling/src/errors.js';

/**
 * viewer: watches the streams of its scope. integrator: an app that mints embed (viewer) tokens, only
 * within its own scope, and sees only those streams; no audit, ops or metrics. operator: sees every
 * stream, the ops page and metrics. admin: everything, including the audit trail and any token.
 */
export type Role = 'viewer' | 'integrator' | 'operator' | 'admin';
/**
 * The token of an `Authorization: Bearer <token>` header, or undefined. The scheme is
 * case-insensitive (RFC 7235): "bearer x" is a Bearer token too.
 */
export function bearerToken(header: string | undefined): string | undefined {
  return header ? /^bearer +(\S+)\s*$/i.exec(header)?.[1] : undefined;
}

export const ROLES: readonly Role[] = ['viewer', 'integrator', 'operator', 'admin'];

/** Roles that see every stream's status whatever their scope (watching always needs the scope). */
export function seesAllStreams(role: Role): boolean {
  return role === 'operator' || role === 'admin';
}

/**
 * Whether every stream `inner` can name is within `outer`: `inner`, read as literal text (its `*` a
 * character), matches one of the outer globs. Sound (each `*` of inner falls inside a `*` of the
 * outer glob, which takes any run); it refuses some globs that are in fact narrower ('*a' under 'a*').
 */
export function globWithin(outer: readonly string[], inner: string): boolean {
  return outer.some((g) => globMatch(g, inner));
}

export interface Claims {
  sub: string;
  role: Role;
  /** Glob patterns of stream ids this token may watch (`*` matches any run of characters). */
  streams: string[];
  exp: number;
  /** The sign-in session an access token belongs to (sessions.ts): sign-out ends its connections. */
  sid?: string;
}

/** Anything that turns a token into claims: the gateway's own tokens, an IdP's (JWKS), sessions'. */
export interface ClaimsVerifier {
  verify(token: unknown): Claims | Promise<Claims>;
}

export type Algorithm = 'HS256' | 'RS256' | 'ES256';

export interface AuthOptions {
  algorithm: Algorithm;
  /** HS256 secret, or RS256/ES256 public key (PEM). */
  verifyKey: string;
  /** HS256 secret, or RS256/ES256 private key (PEM); absent when this gateway may not mint. */
  signKey?: string;
  issuer: string;
  audience: string;
  clockToleranceSec: number;
}

export type AuthFailure =
  | 'missing'
  | 'malformed'
  | 'unsigned'
  | 'bad_algorithm'
  | 'bad_signature'
  | 'wrong_audience'
  | 'wrong_issuer'
  | 'expired'
  | 'not_yet_valid'
  | 'missing_claims'
  | 'bad_claims'
  | 'keys_unavailable';

export const fail = (reason: AuthFailure, message: string) =>
  new GatewayError(reason === 'expired' ? 'E_AUTH_EXPIRED' : 'E_UNAUTHENTICATED', message, reason);

export class TokenVerifier {
  constructor(private readonly opts: AuthOptions) {}

  /** Builds the verifier from config: reads key files, refuses a config that cannot verify. */
  static fromConfig(auth: {
    algorithm: Algorithm;
    jwtSecret?: string | undefined;
    publicKeyFile?: string | undefined;
    privateKeyFile?: string | undefined;
    issuer: string;
    audience: string;
    clockToleranceSec: number;
  }): TokenVerifier {
    const base = {
      algorithm: auth.algorithm,
      issuer: auth.issuer,
      audience: auth.audience,
      clockToleranceSec: auth.clockToleranceSec,
    };
    if (auth.algorithm === 'HS256') {
      if (!auth.jwtSecret) throw new Error('auth: HS256 needs a secret (CCTV_JWT_SECRET or auth.jwtSecret)');
      return new TokenVerifier({ ...base, verifyKey: auth.jwtSecret, signKey: auth.jwtSecret });
    }
    if (!auth.publicKeyFile)
      throw new Error(`auth: ${auth.algorithm} needs auth.publicKeyFile (CCTV_JWT_PUBLIC_KEY_FILE)`);
    const verifyKey = fs.readFileSync(auth.publicKeyFile, 'utf8');
    const signKey = auth.privateKeyFile ? fs.readFileSync(auth.privateKeyFile, 'utf8') : undefined;
    return new TokenVerifier({ ...base, verifyKey, ...(signKey ? { signKey } : {}) });
  }

  get canSign(): boolean {
    return !!this.opts.signKey;
  }

  verify(token: unknown): Claims {
    if (typeof token !== 'string' || token.length === 0) throw fail('missing', 'a token is required');
    if (token.length > 8192) throw fail('malformed', 'the token is too long');
    let header: jwt.JwtHeader | undefined;
    try {
      header = jwt.decode(token, { complete: true })?.header; // throws on a payload that is not JSON
    } catch {
      throw fail('malformed', 'the token is not a JWT');
    }
    if (!header) throw fail('malformed', 'the token is not a JWT');
    if (header.alg === 'none') throw fail('unsigned', 'the token is unsigned; alg "none" is never accepted');
    if (header.alg !== this.opts.algorithm) {
      throw fail(
        'bad_algorithm',
        `the token is signed with ${typeof header.alg === 'string' ? header.alg.slice(0, 10) : 'no named algorithm'}; this gateway accepts ${this.opts.algorithm} only`,
      );
    }
    let payload: jwt.JwtPayload;
    try {
      payload = jwt.verify(token, this.opts.verifyKey, {
        algorithms: [this.opts.algorithm],
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        clockTolerance: this.opts.clockToleranceSec,
      }) as jwt.JwtPayload;
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError)
        throw fail('expired', `the token expired at ${err.expiredAt.toISOString()}`);
      if (err instanceof jwt.NotBeforeError)
        throw fail('not_yet_valid', `the token is not valid before ${err.date.toISOString()}`);
      const m = (err as Error).message;
      if (/audience/.test(m)) throw fail('wrong_audience', 'the token is meant for another audience');
      if (/issuer/.test(m)) throw fail('wrong_issuer', 'the token comes from another issuer');
      if (/signature/.test(m)) throw fail('bad_signature', 'the token signature does not match');
      if (/algorithm/.test(m)) throw fail('bad_algorithm', `this gateway accepts ${this.opts.algorithm} tokens only`);
      throw fail('malformed', 'the token is malformed');
    }
    return claimsOf(payload);
  }

  sign(claims: Omit<Claims, 'exp'>, ttlSec: number): string {
    if (!this.opts.signKey)
      throw new GatewayError('E_UNSUPPORTED', 'this gateway has no signing key (auth.privateKeyFile)');
    const problem = globsProblem(claims.streams);
    if (problem) throw new GatewayError('E_BAD_REQUEST', problem);
    return jwt.sign({ role: claims.role, streams: claims.streams }, this.opts.signKey, {
      algorithm: this.opts.algorithm,
      subject: claims.sub,
      issuer: this.opts.issuer,
      audience: this.opts.audience,
      expiresIn: ttlSec,
    });
  }
}

/** The claims a verified token must carry (sub, role, streams, exp), checked the same for every issuer. */
export function claimsOf(payload: Record<string, unknown>): Claims {
  const { sub, role, streams, exp } = payload;
  if (typeof sub !== 'string' || !ROLES.includes(role as Role) || typeof exp !== 'number') {
    throw fail('missing_claims', 'the token lacks sub, role or exp');
  }
  if (!Array.isArray(streams) || !streams.every((s) => typeof s === 'string')) {
    throw fail('missing_claims', 'the token lacks a streams list');
  }
  const problem = globsProblem(streams);
  if (problem) throw fail('bad_claims', `the token's streams claim is out of bounds: ${problem}`);
  return { sub, role: role as Role, streams, exp };
}

/** Bounds on a token's stream globs, checked where tokens are minted and again where they are verified. */
export const GLOB_LIMITS = { maxGlobs: 200, maxLength: 128, maxWildcards: 8 } as const;

/** What puts a streams claim out of bounds, naming the item (e.g. "streams/3 has 9 wildcards…"). */
export function globsProblem(streams: readonly string[]): string | undefined {
  const { maxGlobs, maxLength, maxWildcards } = GLOB_LIMITS;
  if (streams.length > maxGlobs) return `streams has ${streams.length} globs; at most ${maxGlobs}`;
  for (const [i, glob] of streams.entries()) {
    if (glob.length > maxLength) return `streams/${i} is ${glob.length} characters long; at most ${maxLength}`;
    const stars = glob.split('*').length - 1;
    if (stars > maxWildcards) return `streams/${i} has ${stars} wildcards (*); at most ${maxWildcards}`;
  }
  return undefined;
}

/**
 * Whether `id` matches `glob` (`*` = any run of characters, nothing else special), without
 * backtracking: the first and last pieces pin both ends and each middle piece takes its leftmost
 * place after the one before, which leaves the most room for the rest, so no choice is ever undone.
 */
export function globMatch(glob: string, id: string): boolean {
  const pieces = glob.split('*');
  if (pieces.length === 1) return glob === id;
  const first = pieces[0] as string;
  const last = pieces[pieces.length - 1] as string;
  if (first.length + last.length > id.length || !id.startsWith(first) || !id.endsWith(last)) return false;
  const end = id.length - last.length;
  let at = first.length;
  for (const piece of pieces.slice(1, -1)) {
    const found = id.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}

export function streamAllowed(claims: Pick<Claims, 'streams'>, streamId: string): boolean {
  return claims.streams.some((g) => globMatch(g, streamId));
}

/** "8h", "30m", "45s", "2d" or plain seconds. */
export function parseTtl(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!m) throw new Error(`cannot read "${text}" as a duration (e.g. 8h, 30m, 3600)`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}
