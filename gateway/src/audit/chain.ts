// The hash chain of the audit trail. A line is a JSON object whose last three keys are `seq` (one more
// than the line before, across rotated files), `prev` (the `h` of the line before) and `h`, the
// SHA-256 (base64url) of the line's own text without `,"h":"…"`. Hashing the exact text, not a
// re-serialised object, leaves nothing to canonicalise. Checkpoints sign `seq`, `prev` and `at`.
import crypto from 'node:crypto';

/** `prev` of the first record of a trail. */
export const GENESIS = 'genesis';

const H_SUFFIX = /,"h":"([A-Za-z0-9_-]{43})"\}$/;

export function hashText(text: string | Buffer): string {
  return crypto.createHash('sha256').update(text).digest('base64url');
}

/** The line for `record` as record `seq` after `prev`, and its hash. */
export function sealLine(record: object, seq: number, prev: string): { line: string; h: string } {
  const body = JSON.stringify({ ...record, seq, prev });
  const h = hashText(body);
  return { line: `${body.slice(0, -1)},"h":"${h}"}`, h };
}

export interface OpenedLine {
  /** The parsed object (with seq, prev, h). */
  record: Record<string, unknown> & { seq?: unknown; prev?: unknown; h?: unknown; kind?: unknown };
  /** Whether `h` is the hash of the line's text without it. */
  hashOk: boolean;
  /** Not a chained line (a record written before the chain existed): no `h` at the end. */
  legacy: boolean;
}

/** Parses one line and checks its own hash; undefined: not JSON (a torn or edited line). */
export function openLine(line: string): OpenedLine | undefined {
  let record: OpenedLine['record'];
  try {
    record = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return undefined;
  const m = H_SUFFIX.exec(line);
  if (!m) return { record, hashOk: false, legacy: true };
  const body = `${line.slice(0, m.index)}}`;
  return { record, hashOk: hashText(body) === m[1] && record.h === m[1], legacy: false };
}

/** The `prev` a record after this line takes: its `h`, or for an unchained line the hash of its text. */
export function headOf(line: string, opened: OpenedLine | undefined): string {
  return opened && !opened.legacy && typeof opened.record.h === 'string' ? opened.record.h : hashText(line);
}

/** What a checkpoint signs: the whole chain before it (`prev`), its place in it and its time. */
export function checkpointPayload(seq: number, prev: string, at: string): string {
  return `cctv-audit-checkpoint\n${seq}\n${prev}\n${at}`;
}

/** Signs checkpoints: HMAC-SHA256 with a secret, or Ed25519 with a private key. */
export interface Signer {
  readonly alg: 'hmac-sha256' | 'ed25519';
  /** Names the key (not secret): which key a checkpoint needs to be verified with. */
  readonly keyId: string;
  sign(payload: string): string;
}

/** Checks checkpoint signatures: the same secret (HMAC) or the public key (Ed25519). */
export interface SignatureVerifier {
  readonly alg: Signer['alg'];
  readonly keyId: string;
  verify(payload: string, sig: string): boolean;
}

export function hmacKey(secret: Buffer): Signer & SignatureVerifier {
  const keyId = crypto.createHmac('sha256', secret).update('cctv-audit key id').digest('base64url').slice(0, 12);
  const sign = (payload: string) => crypto.createHmac('sha256', secret).update(payload).digest('base64url');
  return {
    alg: 'hmac-sha256',
    keyId,
    sign,
    verify: (payload, sig) => {
      const want = Buffer.from(sign(payload));
      const got = Buffer.from(sig);
      return got.length === want.length && crypto.timingSafeEqual(got, want);
    },
  };
}

function ed25519KeyId(pub: crypto.KeyObject): string {
  return hashText(pub.export({ type: 'spki', format: 'der' })).slice(0, 12);
}

/** An Ed25519 private key (PEM): signs, and verifies with its public half. */
export function ed25519Signer(privatePem: string | Buffer): Signer & SignatureVerifier {
  const key = crypto.createPrivateKey(privatePem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error('audit.signingKeyFile: not an Ed25519 private key');
  const verifier = ed25519Verifier(crypto.createPublicKey(key));
  return { ...verifier, sign: (payload) => crypto.sign(null, Buffer.from(payload), key).toString('base64url') };
}

/** An Ed25519 public key (PEM, or a KeyObject): verifies only, so it may sit with an auditor. */
export function ed25519Verifier(publicKey: string | Buffer | crypto.KeyObject): SignatureVerifier {
  const pub = publicKey instanceof crypto.KeyObject ? publicKey : crypto.createPublicKey(publicKey);
  if (pub.asymmetricKeyType !== 'ed25519') throw new Error('not an Ed25519 public key');
  return {
    alg: 'ed25519',
    keyId: ed25519KeyId(pub),
    verify: (payload, sig) => {
      try {
        return crypto.verify(null, Buffer.from(payload), pub, Buffer.from(sig, 'base64url'));
      } catch {
        return false;
      }
    },
  };
}
