// The token verifier a process uses: from config, or, for development when no HS256 secret is set,
// a random secret kept in .cache/dev-jwt-secret so the demo and `npm run token` agree.
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
