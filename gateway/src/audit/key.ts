// The key checkpoints are signed with: `audit.signingKeyFile` (an Ed25519 private key, PEM; its
// public half can verify without being able to sign), else `audit.key` (CCTV_AUDIT_KEY, an HMAC
// secret of at least 32 characters), else a development key in .cache/dev-audit-key.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../../config/schema.js';
import { ed25519Signer, hmacKey, type SignatureVerifier, type Signer } from './chain.js';

const DEV_KEY_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../.cache/dev-audit-key');

export function auditKeyFor(audit: Pick<Config['audit'], 'key' | 'signingKeyFile'>): {
  key: Signer & SignatureVerifier;
  devKey: boolean;
} {
  if (audit.signingKeyFile) return { key: ed25519Signer(fs.readFileSync(audit.signingKeyFile)), devKey: false };
  if (audit.key) return { key: hmacKey(Buffer.from(audit.key, 'utf8')), devKey: false };
  if (!fs.existsSync(DEV_KEY_FILE)) {
    fs.mkdirSync(path.dirname(DEV_KEY_FILE), { recursive: true });
    fs.writeFileSync(DEV_KEY_FILE, crypto.randomBytes(32).toString('base64url'), { mode: 0o600 });
  }
  return { key: hmacKey(Buffer.from(fs.readFileSync(DEV_KEY_FILE, 'utf8').trim(), 'utf8')), devKey: true };
}
