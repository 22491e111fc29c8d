// The token verifier a process uses: from config, or, for development when no HS256 secret is set,
// a random secret kept in .cache/dev-jwt-secret so the demo and `npm run token` agree. A production
// start (NODE_ENV=production or a public URL that is not loopback) must not use it: devSecretRefusal.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../../config/schema.js';
import { TokenVerifier } from './tokens.js';

const DEV_SECRET_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../.cache/dev-jwt-secret');

export function verifierFor(auth: Config['auth']): { verifier: TokenVerifier; devSecret: boolean } {
  if (auth.algorithm !== 'HS256' || auth.jwtSecret)
    return { verifier: TokenVerifier.fromConfig(auth), devSecret: false };
  if (!fs.existsSync(DEV_SECRET_FILE)) {
    fs.mkdirSync(path.dirname(DEV_SECRET_FILE), { recursive: true });
    fs.writeFileSync(DEV_SECRET_FILE, crypto.randomBytes(32).toString('base64url'), { mode: 0o600 });
  }
  const jwtSecret = fs.readFileSync(DEV_SECRET_FILE, 'utf8').trim();
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
  if (config.auth.algorithm !== 'HS256' || config.auth.jwtSecret) return undefined;
  const why = productionReason(config, env);
  if (!why) return undefined;
  return (
    `cctv-gateway: refusing to start in production (${why}) with the development JWT secret: ` +
    'set CCTV_JWT_SECRET (at least 32 random characters, e.g. `openssl rand -base64 48`) ' +
    'or auth.publicKeyFile (with auth.algorithm RS256 or ES256)'
  );
}
