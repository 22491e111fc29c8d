import { describe, expect, it } from 'vitest';
import { globToRegExp, parseTtl, streamAllowed, TokenVerifier } from './tokens.js';

const opts = { algorithm: 'HS256', issuer: 'cctv-gateway', audience: 'cctv-gateway', clockToleranceSec: 5 } as const;
const v = new TokenVerifier({ ...opts, verifyKey: 'test-secret-0123456789', signKey: 'test-secret-0123456789' });

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
    const other = new TokenVerifier({ ...opts, verifyKey: 'another-secret-98765', signKey: 'another-secret-98765' });
    const t = other.sign({ sub: 'x', role: 'viewer', streams: [] }, 60);
    expect(() => v.verify(t)).toThrowError(/signature does not match/);
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

describe('parseTtl', () => {
  it('reads the CLI durations', () => {
    expect([parseTtl('8h'), parseTtl('30m'), parseTtl('45'), parseTtl('2d')]).toEqual([28800, 1800, 45, 172800]);
    expect(() => parseTtl('soon')).toThrowError(/cannot read "soon"/);
  });
});
