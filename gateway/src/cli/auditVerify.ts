// Checks the audit trail: npm run audit:verify [-- [--config FILE] [--public-key PEM]... [--json] [FILE...]]
// With no FILE, the whole trail of the config's audit.file (rotated files, the live one, its signed
// head); a live file given checks its trail the same way; rotated files given are checked alone, in
// chain order. Exit 0: intact; 1: the first bad line is named, with why; 2: usage or config error.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../../../config/load.js';
import { ed25519Verifier, type SignatureVerifier } from '../audit/chain.js';
import { type TrailFile, trailFiles } from '../audit/files.js';
import { auditKeyFor } from '../audit/key.js';
import { describe, headPath, readHead, verifyTrail } from '../audit/verify.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const usage =
  'usage: npm run audit:verify -- [--config FILE] [--public-key PEM]... [--json] [FILE...]\n' +
  "  FILE          a trail's live file (checks every file of it) or rotated files (checked alone); default: audit.file\n" +
  '  --public-key  an Ed25519 public key (PEM) checkpoints may be signed with; the configured key is always tried\n' +
  '  keys: CCTV_AUDIT_KEY (HMAC) or audit.signingKeyFile / CCTV_AUDIT_SIGNING_KEY_FILE, as the gateway uses';

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      'public-key': { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
try {
  parsed = parse();
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n${usage}\n`);
  process.exit(2);
}
const { values: args, positionals } = parsed;
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

let liveFile: string;
const keys: SignatureVerifier[] = [];
try {
  const { config } = loadConfig(args.config ?? process.env['CCTV_CONFIG'] ?? path.join(root, 'config', 'default.yaml'));
  liveFile = path.resolve(config.audit.file);
  keys.push(auditKeyFor(config.audit).key);
  for (const pem of args['public-key'] ?? []) keys.push(ed25519Verifier(fs.readFileSync(pem)));
} catch (err) {
  process.stderr.write(`audit:verify: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
  process.exit(2);
}

const ROTATED = /\.(\d{12})\.jsonl(\.gz)?$/;
let files: TrailFile[];
let live: string | undefined;
if (positionals.length === 0 || (positionals.length === 1 && !ROTATED.test(positionals[0] as string))) {
  live = path.resolve(positionals[0] ?? liveFile);
  files = trailFiles(live);
  if (!files.length) {
    process.stderr.write(`audit:verify: no trail at ${live}\n`);
    process.exit(2);
  }
} else {
  files = positionals
    .map((p) => {
      const m = ROTATED.exec(p);
      return m ? { path: p, lastSeq: Number(m[1]), rotatedAt: 0, gz: !!m[2] } : { path: p, gz: p.endsWith('.gz') };
    })
    .sort((a, b) => (a.lastSeq ?? Number.MAX_SAFE_INTEGER) - (b.lastSeq ?? Number.MAX_SAFE_INTEGER));
}
const head = live ? readHead(headPath(live)) : undefined;
const report = await verifyTrail(files, keys, {
  head: head && live ? { path: headPath(live), value: head } : undefined,
});
process.stdout.write(args.json ? `${JSON.stringify(report)}\n` : `${describe(report)}\n`);
process.exit(report.ok ? 0 : 1);
