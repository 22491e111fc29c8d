// Every token the gateway accepts, in one verifier: a sign-in session's access token (sessions.ts),
// a token of an identity provider checked against its JWKS (keys fetched and rotated by jose), or
// the gateway's own (tokens.ts: embeds, machines). The unverified `iss` only picks the verifier; each
// pins its own keys and algorithms, so a token cannot choose how it is checked.
import * as jose from 'jose';
import { GatewayError } from '../../../signaling/src/errors.js';
import { SessionManager } from './sessions.js';
import { type Claims, type ClaimsVerifier, claimsOf, fail, type TokenVerifier } from './tokens.js';

export interface JwksOptions {
  url: string;
  issuer: string;
  audience: string;
  clockToleranceSec: number;
  /** After a fetch, the set is not fetched again for this long, even for an unknown kid (default 30 s). */
  cooldownMs?: number;
}

/** RS256/ES256 tokens of an identity provider, against its JWKS URL (a new `kid` fetches it again). */
export class JwksVerifier {
  readonly #keys: ReturnType<typeof jose.createRemoteJWKSet>;

  constructor(private readonly opts: JwksOptions) {
    // A key not in the cached set refetches (rotation), at most every 30 s; the set is kept 10 min.
    this.#keys = jose.createRemoteJWKSet(new URL(opts.url), {
      timeoutDuration: 5000,
      cooldownDuration: opts.cooldownMs ?? 30_000,
      cacheMaxAge: 600_000,
    });
  }

  /** Whether the token names this provider as its issuer. */
  accepts(token: unknown): boolean {
    if (typeof token !== 'string' || token.length > 8192) return false;
    try {
      return jose.decodeJwt(token).iss === this.opts.issuer;
    } catch {
      return false;
    }
  }

  async verify(token: string): Promise<Claims> {
    let payload: jose.JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, this.#keys, {
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        algorithms: ['RS256', 'ES256'],
        clockTolerance: this.opts.clockToleranceSec,
      }));
    } catch (err) {
      throw jwksFailure(err);
    }
    return claimsOf(payload as Record<string, unknown>);
  }
}

function jwksFailure(err: unknown): GatewayError {
  const e = jose.errors;
  if (err instanceof e.JWTExpired) return fail('expired', 'the token has expired');
  if (err instanceof e.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return fail('wrong_audience', 'the token is meant for another audience');
    if (err.claim === 'nbf') return fail('not_yet_valid', 'the token is not valid yet');
    return fail('bad_claims', `the token's ${err.claim} claim does not hold`);
  }
  if (err instanceof e.JOSEAlgNotAllowed) return fail('bad_algorithm', 'the provider tokens must be RS256 or ES256');
  if (err instanceof e.JWKSNoMatchingKey || err instanceof e.JWSSignatureVerificationFailed)
    return fail('bad_signature', "the token signature matches none of the provider's keys");
  if (err instanceof e.JWKSTimeout || err instanceof e.JWKSInvalid || !(err instanceof e.JOSEError))
    return new GatewayError('E_UNAVAILABLE', "the identity provider's keys cannot be fetched now", 'keys_unavailable');
  return fail('malformed', 'the token is malformed');
}

export class Credentials implements ClaimsVerifier {
  constructor(
    readonly tokens: TokenVerifier,
    readonly sessions?: SessionManager | undefined,
    readonly jwks?: JwksVerifier | undefined,
  ) {}

  async verify(token: unknown): Promise<Claims> {
    if (this.sessions && SessionManager.isSessionToken(token)) return this.sessions.verify(token as string);
    if (this.jwks?.accepts(token)) return this.jwks.verify(token as string);
    return this.tokens.verify(token);
  }
}
