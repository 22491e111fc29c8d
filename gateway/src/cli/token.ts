// Mints a token: npm run token -- --sub walikota --role viewer --streams 'kel-*' --ttl 8h
// Uses the same config (and secret or private key) as the gateway; prints only the token.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../../../config/load.js';
import { verifierFor } from '../auth/setup.js';
import { parseTtl, ROLES, type Role } from '../auth/tokens.js';

/** A token lives at most this long: a longer one is a password nobody can change. */
const MAX_TTL_DAYS = 365;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const usage =
  'usage: npm run token -- --sub NAME [--role viewer|integrator|operator|admin] [--streams GLOB[,GLOB]] [--ttl 8h] [--config FILE]\n' +
  '  --streams  the stream ids the token may watch, as globs (default: * = every stream)\n' +
  `  --ttl      its lifetime: 45s, 30m, 8h, 2d or seconds; more than 0 and at most ${MAX_TTL_DAYS} days`;
let args: { sub?: string; role?: string; streams?: string; ttl?: string; config?: string; help?: boolean };
try {
  args = parseArgs({
    options: {
      sub: { type: 'string' },
      role: { type: 'string', default: 'viewer' },
      streams: { type: 'string', default: '*' },
      ttl: { type: 'string', default: '8h' },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n${usage}\n`);
  process.exit(2);
}
const die = (msg: string): never => {
  process.stderr.write(`token: ${msg}\n${usage}\n`);
  process.exit(2);
};
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
if (!args.sub) die('--sub is required (who the token is for)');
if (!ROLES.includes(args.role as Role)) die(`--role must be one of ${ROLES.join(', ')}`);
let ttl = 0;
try {
  ttl = parseTtl(args.ttl ?? '8h');
} catch (err) {
  die((err as Error).message);
}
if (ttl <= 0) die(`--ttl ${args.ttl} would mint a token that has already expired; give a lifetime above 0`);
if (ttl > MAX_TTL_DAYS * 86400) die(`--ttl ${args.ttl} is longer than ${MAX_TTL_DAYS} days`);
try {
  const { config } = loadConfig(args.config ?? process.env['CCTV_CONFIG'] ?? path.join(root, 'config', 'default.yaml'));
  const { verifier, devSecret } = verifierFor(config.auth);
  if (devSecret) process.stderr.write('token: no CCTV_JWT_SECRET set; signing with the development secret\n');
  const streams = (args.streams ?? '*')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  process.stdout.write(`${verifier.sign({ sub: args.sub as string, role: args.role as Role, streams }, ttl)}\n`);
} catch (err) {
  die(err instanceof ConfigError ? `invalid config: ${err.message}` : (err as Error).message);
}
