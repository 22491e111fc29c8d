// The token verifier a process uses: from config, or, for development when no HS256 secret is set,
// a random secret kept in .cache/dev-jwt-secret so the demo and `npm run token` agree. A production
// start (NODE_ENV=production or a public URL that is not loopback) must not use it: devSecretRefusal.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../../config/schema.js';
import { TokenVerifier } from './tokens.js';

const CACHE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../.cache');
const DEV_SECRET_FILE = path.join(CACHE, 'dev-jwt-secret');
const DEV_SESSION_FILE = path.join(CACHE, 'dev-session-secret');

/**
 * The key sign-in cookies and session access tokens are signed with: `auth.sessions.secret`
 * (CCTV_SESSION_SECRET), else one derived from the HS256 JWT secret (HKDF, so neither reveals the
 * other), else a development key in .cache/dev-session-secret (refused in production: devSecretRefusal).
 */
export function sessionSecretFor(auth: Config['auth']): { secret: Buffer; devSecret: boolean } {
  if (auth.sessions.secret) return { secret: Buffer.from(auth.sessions.secret, 'utf8'), devSecret: false };
  if (auth.algorithm === 'HS256' && auth.jwtSecret) {
    const key = crypto.hkdfSync('sha256', auth.jwtSecret, 'cctv-gateway', 'sign-in sessions', 32);
    return { secret: Buffer.from(key), devSecret: false };
  }
  return { secret: Buffer.from(devFile(DEV_SESSION_FILE), 'utf8'), devSecret: true };
}

function devFile(file: string): string {
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, crypto.randomBytes(32).toString('base64url'), { mode: 0o600 });
  }
  return fs.readFileSync(file, 'utf8').trim();
}

export function verifierFor(auth: Config['auth']): { verifier: TokenVerifier; devSecret: boolean } {
  if (auth.algorithm !== 'HS256' || auth.jwtSecret)
    return { verifier: TokenVerifier.fromConfig(auth), devSecret: false };
  const jwtSecret = devFile(DEV_SECRET_FILE);
  return { verifier: TokenVerifier.fromConfig({ ...auth, jwtSecret }), devSecret: true };
}

/** True for localhost names and loopback addresses (127.0.0.0/8, ::1, ::ffff:127.x). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost') || h === '::1') return true;
  return /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Why this start counts as production, or undefined: `NODE_ENV=production`, or a `server.publicUrl`
 * whose host is not loopback (people elsewhere will open it). A URL that does not parse counts too.
 */
export function productionReason(config: Pick<Config, 'server'>, env: NodeJS.ProcessEnv): string | undefined {
  if (env['NODE_ENV'] === 'production') return 'NODE_ENV=production';
  const url = config.server.publicUrl;
  if (url === undefined) return undefined;
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return `server.publicUrl ${url} is not a URL`;
  }
  return isLoopbackHost(host) ? undefined : `server.publicUrl ${url} is not loopback`;
}

/**
 * The one-line reason to refuse a start, or undefined: a production start whose tokens would be
 * checked with the development secret (HS256 and no CCTV_JWT_SECRET / auth.jwtSecret), which anyone
 * with a copy of .cache/dev-jwt-secret (or of a careless image) could sign with.
 */
export function devSecretRefusal(config: Pick<Config, 'server' | 'auth'>, env: NodeJS.ProcessEnv): string | undefined {
  const { auth } = config;
  const devJwt = auth.algorithm === 'HS256' && !auth.jwtSecret;
  // Sessions fall back to a development key only when there is neither their own secret nor an HS256 one.
  const devSession = !auth.sessions.secret && !(auth.algorithm === 'HS256' && auth.jwtSecret);
  if (!devJwt && !devSession) return undefined;
  const why = productionReason(config, env);
  if (!why) return undefined;
  if (devJwt)
    return (
      `cctv-gateway: refusing to start in production (${why}) with the development JWT secret: ` +
      'set CCTV_JWT_SECRET (at least 32 random characters, e.g. `openssl rand -base64 48`) ' +
      'or auth.publicKeyFile (with auth.algorithm RS256 or ES256)'
    );
  return (
    `cctv-gateway: refusing to start in production (${why}) with the development session key: ` +
    `with auth.algorithm ${auth.algorithm} set CCTV_SESSION_SECRET (at least 32 random characters, e.g. \`openssl rand -base64 48\`)`
  );
}
