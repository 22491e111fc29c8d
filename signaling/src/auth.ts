// JWT verification (algorithm pinned) and the stream-scope check every consume goes through.
import jwt from 'jsonwebtoken';
import { GatewayError } from '../../gateway/src/errors.js';

export type Role = 'viewer' | 'operator' | 'admin';

export interface Claims {
  sub: string;
  role: Role;
  /** Glob patterns of stream ids this token may watch (`*` matches any run of characters). */
  streams: string[];
  exp: number;
}

export interface AuthOptions {
  secret: string;
  issuer: string;
  audience: string;
}

const ROLES: Role[] = ['viewer', 'operator', 'admin'];

export class TokenVerifier {
  constructor(private readonly opts: AuthOptions) {}

  verify(token: unknown): Claims {
    if (typeof token !== 'string' || token.length === 0 || token.length > 8192) {
      throw new GatewayError('E_UNAUTHENTICATED', 'a token is required');
    }
    let payload: jwt.JwtPayload;
    try {
      payload = jwt.verify(token, this.opts.secret, {
        algorithms: ['HS256'],
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        clockTolerance: 5,
      }) as jwt.JwtPayload;
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) throw new GatewayError('E_AUTH_EXPIRED', 'the token has expired');
      // jsonwebtoken's messages name the failed check (signature, audience, issuer...) and never the token.
      throw new GatewayError('E_UNAUTHENTICATED', `the token was rejected: ${(err as Error).message}`);
    }
    const role = payload['role'];
    const streams = payload['streams'];
    if (typeof payload.sub !== 'string' || !ROLES.includes(role) || typeof payload.exp !== 'number') {
      throw new GatewayError('E_UNAUTHENTICATED', 'the token lacks sub, role or exp');
    }
    if (!Array.isArray(streams) || !streams.every((s) => typeof s === 'string')) {
      throw new GatewayError('E_UNAUTHENTICATED', 'the token lacks a streams list');
    }
    return { sub: payload.sub, role, streams, exp: payload.exp };
  }

  sign(claims: Omit<Claims, 'exp'>, ttlSec: number): string {
    return jwt.sign({ role: claims.role, streams: claims.streams }, this.opts.secret, {
      algorithm: 'HS256',
      subject: claims.sub,
      issuer: this.opts.issuer,
      audience: this.opts.audience,
      expiresIn: ttlSec,
    });
  }
}

export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}

export function streamAllowed(claims: Pick<Claims, 'streams'>, streamId: string): boolean {
  return claims.streams.some((g) => globToRegExp(g).test(streamId));
}
