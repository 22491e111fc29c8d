import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkpointPayload, ed25519Signer, ed25519Verifier, GENESIS, hmacKey, openLine, sealLine } from './chain.js';
import { toCsv } from './query.js';
import { queryKindOf, recordTime } from './records.js';

describe('the audit chain', () => {
  it('seals a line whose hash covers its exact text, and links the next one to it', () => {
    const a = sealLine({ kind: 'signin', sub: 'ana' }, 1, GENESIS);
    expect(a.line).toMatch(/^\{"kind":"signin","sub":"ana","seq":1,"prev":"genesis","h":"[A-Za-z0-9_-]{43}"\}$/);
    expect(openLine(a.line)).toMatchObject({ hashOk: true, legacy: false, record: { seq: 1, h: a.h } });
    const b = sealLine({ kind: 'signout', sub: 'ana' }, 2, a.h);
    expect(openLine(b.line)?.record.prev).toBe(a.h);
    expect(openLine(a.line.replace('"ana"', '"budi"'))?.hashOk).toBe(false);
    expect(openLine('{"sub":"x"}')).toMatchObject({ legacy: true, hashOk: false });
    expect(openLine('{"sub":"x"')).toBeUndefined();
  });

  it('signs checkpoints with HMAC or Ed25519; another key or payload does not verify', () => {
    const payload = checkpointPayload(7, 'abc', '2026-12-01T00:00:00.000Z');
    const h = hmacKey(Buffer.from('a'.repeat(32)));
    expect(h.verify(payload, h.sign(payload))).toBe(true);
    expect(h.verify(payload, hmacKey(Buffer.from('b'.repeat(32))).sign(payload))).toBe(false);
    expect(h.verify(checkpointPayload(8, 'abc', '2026-12-01T00:00:00.000Z'), h.sign(payload))).toBe(false);
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
    const signer = ed25519Signer(privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const verifier = ed25519Verifier(publicKey.export({ type: 'spki', format: 'pem' }));
    expect(verifier.keyId).toBe(signer.keyId);
    expect(verifier.verify(payload, signer.sign(payload))).toBe(true);
    expect(verifier.verify(payload, 'AAAA')).toBe(false);
  });

  it('reads records written before kinds existed as views, by their start', () => {
    expect(queryKindOf({ sub: 'x' })).toBe('view');
    expect(queryKindOf({ kind: 'signout' })).toBe('signin');
    expect(recordTime({ start: 's', at: 'a' })).toBe('s');
    expect(recordTime({ kind: 'mint', at: 'a' })).toBe('a');
  });

  it('writes CSV a spreadsheet cannot be tricked by', () => {
    const csv = toCsv([
      { seq: 1, kind: 'mint', sub: '=HYPERLINK("x")', userAgent: 'a,b', scope: { streams: ['kel-*'] } },
    ]);
    const [header, row] = csv.split('\r\n');
    expect(header?.startsWith('seq,at,kind,sub,')).toBe(true);
    expect(row).toContain(`"'=HYPERLINK(""x"")"`);
    expect(row).toContain('"a,b"');
    expect(row).toContain('"{""scope"":{""streams"":[""kel-*""]}}"');
  });
});
