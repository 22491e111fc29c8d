// An identity provider's tokens against its JWKS URL (a real HTTP server on loopback), keys rotating;
// session access tokens; and the gateway's own tokens, each checked by its own verifier.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Credentials, JwksVerifier } from './credentials.js';
import { SessionManager } from './sessions.js';
import { TokenVerifier } from './tokens.js';

const ISSUER = 'https://sso.palembang.go.id/realms/pemkot';
let server: http.Server;
let jwksUrl: string;
let served: jose.JWK[] = [];
let fetches = 0;

const key = async (alg: 'RS256' | 'ES256', kid: string) => {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' } };
};
const idpToken = (k: Awaited<ReturnType<typeof key>>, claims: Record<string, unknown> = {}, exp = '5m') =>
  new jose.SignJWT({ role: 'operator', streams: ['*'], ...claims })
    .setProtectedHeader({ alg: k.jwk.alg as string, kid: k.jwk.kid as string })
    .setIssuer(ISSUER)
    .setAudience('cctv-gateway')
    .setSubject('command-center-app')
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(k.privateKey);

beforeAll(async () => {
  server = http.createServer((_req, res) => {
    fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: served }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/certs`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('JWKS', () => {
  it('accepts RS256 and ES256 tokens of the provider, follows a key rotation, refuses what does not verify', async () => {
    const rsa = await key('RS256', 'k1');
    const ec = await key('ES256', 'k2');
    served = [rsa.jwk];
    const v = new JwksVerifier({
      url: jwksUrl,
      issuer: ISSUER,
      audience: 'cctv-gateway',
      clockToleranceSec: 5,
      cooldownMs: 200,
    });
    const c = await v.verify(await idpToken(rsa));
    expect(c).toMatchObject({ sub: 'command-center-app', role: 'operator', streams: ['*'] });
    // The provider rotates: a token with a kid the cached set lacks makes the verifier fetch again.
    served = [ec.jwk];
    await new Promise((r) => setTimeout(r, 250)); // past the refetch cooldown
    const before = fetches;
    expect((await v.verify(await idpToken(ec))).role).toBe('operator');
    expect(fetches).toBe(before + 1);
    // The old key is gone from the set: its tokens no longer verify.
    await expect(v.verify(await idpToken(rsa))).rejects.toMatchObject({ reason: 'bad_signature' });
    // A key of someone else with the provider's kid.
    const forger = await key('ES256', 'k2');
    await expect(v.verify(await idpToken(forger))).rejects.toMatchObject({ reason: 'bad_signature' });
    await expect(v.verify(await idpToken(ec, {}, '-1m'))).rejects.toMatchObject({ code: 'E_AUTH_EXPIRED' });
    await expect(v.verify(await idpToken(ec, { role: 'mayor' }))).rejects.toMatchObject({ reason: 'missing_claims' });
  });

  it('a provider that cannot be reached is said as such, not as a bad token', async () => {
    const v = new JwksVerifier({
      url: 'http://127.0.0.1:9/certs',
      issuer: ISSUER,
      audience: 'cctv-gateway',
      clockToleranceSec: 5,
    });
    const k = await key('RS256', 'x');
    await expect(v.verify(await idpToken(k))).rejects.toMatchObject({
      code: 'E_UNAVAILABLE',
      reason: 'keys_unavailable',
    });
  });
});

describe('Credentials', () => {
  it('sends each token to its own verifier: the gateway secret signs nothing the provider or sessions accept', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cctv-cred-'));
    const own = TokenVerifier.fromConfig({
      algorithm: 'HS256',
      jwtSecret: 'own-secret-own-secret-own-secret',
      issuer: 'cctv-gateway',
      audience: 'cctv-gateway',
      clockToleranceSec: 5,
    });
    const manager = () =>
      new SessionManager({
        secret: Buffer.from('s'.repeat(40)),
        ttlSec: 3600,
        accessTtlSec: 300,
        audience: 'cctv-gateway',
        revokedFile: path.join(dir, 'revoked.jsonl'),
      });
    const sessions = manager();
    const ec = await key('ES256', 'k9');
    served = [ec.jwk];
    const creds = new Credentials(
      own,
      sessions,
      new JwksVerifier({ url: jwksUrl, issuer: ISSUER, audience: 'cctv-gateway', clockToleranceSec: 5 }),
    );
    expect((await creds.verify(own.sign({ sub: 'opd-app', role: 'viewer', streams: ['kel-*'] }, 60))).sub).toBe(
      'opd-app',
    );
    expect((await creds.verify(await idpToken(ec))).sub).toBe('command-center-app');
    const s = sessions.create({ sub: 'walikota', name: 'Wali Kota', role: 'admin', streams: ['*'], via: 'local' });
    const { token } = sessions.accessToken(s);
    expect(await creds.verify(token)).toMatchObject({ sub: 'walikota', role: 'admin', sid: s.sid });
    // A token that names the session issuer but is signed with the gateway's own secret.
    const forged = (await import('jsonwebtoken')).default.sign(
      { role: 'admin', streams: ['*'], sid: s.sid },
      'own-secret-own-secret-own-secret',
      { issuer: 'cctv-gateway/session', audience: 'cctv-gateway', subject: 'x', expiresIn: 60 },
    );
    await expect(creds.verify(forged)).rejects.toMatchObject({ code: 'E_UNAUTHENTICATED' });
    // Signed out: the session's access tokens are refused at once, and after a restart (the file).
    sessions.revoke(s, 'signed_out');
    await expect(creds.verify(token)).rejects.toMatchObject({ code: 'E_AUTH_EXPIRED', reason: 'signed_out' });
    const restarted = manager();
    expect(() => restarted.verify(token)).toThrowError(/signed out/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
