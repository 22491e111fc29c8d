import { describe, expect, it } from 'vitest';
import { globToRegExp, streamAllowed, TokenVerifier } from './auth.js';

const v = new TokenVerifier({ secret: 'test-secret-0123456789', issuer: 'cctv-gateway', audience: 'cctv-gateway' });

describe('stream globs', () => {
  it('match whole ids with * as a wildcard and nothing else special', () => {
    expect(streamAllowed({ streams: ['kel-*'] }, 'kel-sekip-jaya')).toBe(true);
    expect(streamAllowed({ streams: ['kel-*'] }, 'kec-plaju')).toBe(false);
    expect(streamAllowed({ streams: ['*'] }, 'anything')).toBe(true);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
  });
});

describe('TokenVerifier', () => {
  it('accepts its own tokens and returns the claims', () => {
    const c = v.verify(v.sign({ sub: 'walikota', role: 'viewer', streams: ['kel-*'] }, 60));
    expect(c).toMatchObject({ sub: 'walikota', role: 'viewer', streams: ['kel-*'] });
  });
  it('rejects a token signed with another secret, without echoing it', () => {
    const other = new TokenVerifier({
      secret: 'another-secret-98765',
      issuer: 'cctv-gateway',
      audience: 'cctv-gateway',
    });
    const t = other.sign({ sub: 'x', role: 'viewer', streams: [] }, 60);
    expect(() => v.verify(t)).toThrowError(/invalid signature/);
    try {
      v.verify(t);
    } catch (err) {
      expect(String((err as Error).message)).not.toContain(t);
    }
  });
  it('names an expired token as such', () => {
    expect(() => v.verify(v.sign({ sub: 'x', role: 'viewer', streams: [] }, -10))).toThrowError(/expired/);
  });
});
