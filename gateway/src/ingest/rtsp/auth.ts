// RTSP authentication (RFC 2326 §D, RFC 2617 / RFC 7616 as cameras use them): Basic and Digest
// (MD5, MD5-sess, SHA-256; qop=auth or none). Pure apart from the random cnonce; tested beside.
import { createHash, randomBytes } from 'node:crypto';
import { parseCameraUrl } from '../../../../config/cameraUrl.js';

export interface Challenge {
  scheme: 'basic' | 'digest';
  params: Record<string, string>;
}

/** Every challenge of one or more WWW-Authenticate header values. */
export function parseChallenges(headers: readonly string[]): Challenge[] {
  const out: Challenge[] = [];
  for (const header of headers) {
    // One header may hold several challenges: `Digest realm="x", nonce="y", Basic realm="x"`.
    const re = /([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^\s,]*))?\s*,?\s*/g;
    let current: Challenge | undefined;
    for (let m = re.exec(header); m && m[0].length > 0; m = re.exec(header)) {
      const [, name = '', value] = m;
      if (value === undefined) {
        const scheme = name.toLowerCase();
        current = scheme === 'basic' || scheme === 'digest' ? { scheme, params: {} } : undefined;
        if (current) out.push(current);
        continue;
      }
      if (!current) continue;
      current.params[name.toLowerCase()] = value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
    }
  }
  return out;
}

/** Digest preferred; Basic only when it is all the camera offers. */
export function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  const digest = challenges.filter((c) => c.scheme === 'digest' && c.params['nonce'] !== undefined);
  const usable = digest.find((c) => /^(sha-256|sha-256-sess)$/i.test(c.params['algorithm'] ?? '')) ?? digest[0];
  return usable ?? challenges.find((c) => c.scheme === 'basic');
}

export interface Credentials {
  user: string;
  password: string;
}

/** Answers one challenge; create a new one per challenge (the nonce count lives here). */
export class Authenticator {
  #nc = 0;
  readonly #cnonce: string;

  constructor(
    readonly challenge: Challenge,
    private readonly creds: Credentials,
    cnonce: string = randomBytes(8).toString('hex'),
  ) {
    this.#cnonce = cnonce;
  }

  /** The Authorization header value for `method uri`. */
  header(method: string, uri: string): string {
    const { user, password } = this.creds;
    if (this.challenge.scheme === 'basic') return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    const p = this.challenge.params;
    const realm = p['realm'] ?? '';
    const nonce = p['nonce'] ?? '';
    const algorithm = p['algorithm'] ?? '';
    const hashName = /^sha-256/i.test(algorithm) ? 'sha256' : 'md5';
    const h = (s: string) => createHash(hashName).update(s).digest('hex');
    const qop = (p['qop'] ?? '')
      .split(',')
      .map((q) => q.trim().toLowerCase())
      .includes('auth')
      ? 'auth'
      : '';
    const nc = (++this.#nc).toString(16).padStart(8, '0');
    let ha1 = h(`${user}:${realm}:${password}`);
    if (/-sess$/i.test(algorithm)) ha1 = h(`${ha1}:${nonce}:${this.#cnonce}`);
    const ha2 = h(`${method}:${uri}`);
    const response = qop ? h(`${ha1}:${nonce}:${nc}:${this.#cnonce}:${qop}:${ha2}`) : h(`${ha1}:${nonce}:${ha2}`);
    const q = (s: string) => `"${s.replace(/(["\\])/g, '\\$1')}"`;
    const parts = [`username=${q(user)}`, `realm=${q(realm)}`, `nonce=${q(nonce)}`, `uri=${q(uri)}`];
    parts.push(`response=${q(response)}`);
    if (algorithm) parts.push(`algorithm=${algorithm}`);
    if (p['opaque'] !== undefined) parts.push(`opaque=${q(p['opaque'])}`);
    if (qop) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce=${q(this.#cnonce)}`);
    return `Digest ${parts.join(', ')}`;
  }
}

/**
 * User and password of an RTSP URL (percent-decoded), and the URL without them: config/cameraUrl.ts'
 * parseCameraUrl, the parser the config loader validates camera URLs with, so both read a URL the
 * same way (the user and password are everything after `scheme://` up to the last '@', written
 * percent-encoded as RFC 3986 says). A URL that parser refuses (the loader never lets one through;
 * a camera's redirect might send one) yields no credentials, and everything up to its last '@' is
 * dropped so that no part of what may be a password goes on the wire or into a log.
 */
export function splitCredentials(url: string): { url: string; creds: Credentials | undefined } {
  const parsed = parseCameraUrl(url);
  if (parsed.ok) {
    const { user, password } = parsed;
    return {
      url: parsed.withoutCredentials,
      creds: user === undefined ? undefined : { user, password: password ?? '' },
    };
  }
  const m = /^([a-z][a-z0-9+.-]*:\/\/)[\s\S]*@([^@]*)$/i.exec(url);
  return m ? { url: `${m[1]}${m[2]}`, creds: undefined } : { url, creds: undefined };
}
