// Sign-in with the city's OpenID Connect provider: authorization code with PKCE (openid-client), the
// person's role mapped from a configured claim (e.g. groups). Discovery is lazy and retried, so a
// provider that is down at start does not stop the gateway; its sign-in page then says so.
import * as oidc from 'openid-client';
import type { Config } from '../../../config/schema.js';
import { ROLES, type Role } from './tokens.js';

type OidcConfig = NonNullable<Config['auth']['oidc']>;

/** What the browser carries between /auth/oidc/start and the callback (in a signed cookie). */
export interface OidcTransaction {
  verifier: string;
  state: string;
  nonce: string;
  next: string;
}

export interface OidcIdentity {
  sub: string;
  name: string | null;
  /** The mapped role and streams, or undefined: this person has no role here. */
  grant: { role: Role; streams: string[] } | undefined;
  /** The values of the role claim the provider sent (for the refusal page and the log). */
  claimValues: string[];
}

export class OidcSignIn {
  #discovered: Promise<oidc.Configuration> | undefined;

  constructor(
    private readonly cfg: OidcConfig,
    readonly redirectUrl: string,
  ) {}

  get label(): string {
    return this.cfg.label;
  }

  #configuration(): Promise<oidc.Configuration> {
    this.#discovered ??= oidc
      .discovery(
        new URL(this.cfg.issuer),
        this.cfg.clientId,
        this.cfg.clientSecret ? { client_secret: this.cfg.clientSecret } : undefined,
        undefined,
        this.cfg.allowHttp ? { execute: [oidc.allowInsecureRequests], timeout: 5 } : { timeout: 5 },
      )
      .catch((err) => {
        this.#discovered = undefined; // the next sign-in tries again
        throw err;
      });
    return this.#discovered;
  }

  /** Where to send the browser, and what it must bring back. */
  async start(next: string): Promise<{ url: URL; transaction: OidcTransaction }> {
    const config = await this.#configuration();
    const verifier = oidc.randomPKCECodeVerifier();
    const transaction = { verifier, state: oidc.randomState(), nonce: oidc.randomNonce(), next };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUrl,
      scope: this.cfg.scopes,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: transaction.state,
      nonce: transaction.nonce,
    });
    return { url, transaction };
  }

  /** The provider sent the browser back: exchange the code (checking state, nonce, PKCE), map the role. */
  async finish(callbackUrl: URL, t: OidcTransaction): Promise<OidcIdentity> {
    const config = await this.#configuration();
    const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
      pkceCodeVerifier: t.verifier,
      expectedState: t.state,
      expectedNonce: t.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    if (!claims) throw new Error('the provider sent no ID token');
    let values = claimValues(claims[this.cfg.roleClaim]);
    // Many providers release groups only from userinfo.
    if (values.length === 0 && tokens.access_token) {
      const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
      values = claimValues(info[this.cfg.roleClaim]);
    }
    const name = [claims['name'], claims['preferred_username'], claims['email']].find((v) => typeof v === 'string');
    return {
      sub: claims.sub,
      name: (name as string | undefined) ?? null,
      grant: mapRole(this.cfg.roles, values),
      claimValues: values,
    };
  }
}

function claimValues(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string').slice(0, 200);
  return [];
}

/** The highest role any of the person's claim values maps to, with the streams of those entries. */
export function mapRole(
  roles: OidcConfig['roles'],
  values: readonly string[],
): { role: Role; streams: string[] } | undefined {
  const matched = roles.filter((r) => values.includes(r.value));
  if (matched.length === 0) return undefined;
  const role = matched.map((r) => r.role).reduce((a, b) => (ROLES.indexOf(b) > ROLES.indexOf(a) ? b : a));
  const streams = [...new Set(matched.filter((r) => r.role === role).flatMap((r) => r.streams))];
  return { role, streams };
}
