import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { GLOB_LIMITS, globMatch, globsProblem, globWithin, parseTtl, streamAllowed, TokenVerifier } from './tokens.js';

const opts = { algorithm: 'HS256', issuer: 'cctv-gateway', audience: 'cctv-gateway', clockToleranceSec: 5 } as const;
const v = new TokenVerifier({ ...opts, verifyKey: 'test-secret-0123456789', signKey: 'test-secret-0123456789' });

describe('stream globs', () => {
  it('match whole ids with * as a wildcard and nothing else special', () => {
    expect(streamAllowed({ streams: ['kel-*'] }, 'kel-sekip-jaya')).toBe(true);
    expect(streamAllowed({ streams: ['kel-*'] }, 'kec-plaju')).toBe(false);
    expect(streamAllowed({ streams: ['*'] }, 'anything')).toBe(true);
    expect(streamAllowed({ streams: [] }, 'anything')).toBe(false);
    expect(globMatch('a.b', 'axb')).toBe(false);
    expect(globMatch('a.b', 'a.b')).toBe(true);
    expect(globMatch('(a|b)+', '(a|b)+')).toBe(true);
  });

  it('agree with a plain backtracking reference on every short glob and id', () => {
    // Brute force over a two-letter alphabet: every glob up to 5 characters against every id up to 6.
    const ref = (g: string, s: string): boolean =>
      g === ''
        ? s === ''
        : g[0] === '*'
          ? ref(g.slice(1), s) || (s !== '' && ref(g, s.slice(1)))
          : s[0] === g[0] && ref(g.slice(1), s.slice(1));
    const words = (alphabet: string, max: number): string[] => {
      const out = [''];
      for (let i = 0; i < out.length; i++)
        if ((out[i] as string).length < max) for (const c of alphabet) out.push(out[i] + c);
      return out;
    };
    const ids = words('ab', 6);
    let checked = 0;
    for (const g of words('ab*', 5)) {
      for (const id of ids) {
        expect(globMatch(g, id), `${g} ~ ${id}`).toBe(ref(g, id));
        checked++;
      }
    }
    expect(checked).toBe(364 * 127);
  });

  it('take microseconds on the glob that backtracked for 27 s', () => {
    const id = '-'.repeat(128);
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) expect(globMatch('*-*-*-*-*-*x', id)).toBe(false);
    const worst = '*a'.repeat(GLOB_LIMITS.maxWildcards).slice(0, GLOB_LIMITS.maxLength);
    for (let i = 0; i < 1000; i++) globMatch(`${worst}b`, 'a'.repeat(128));
    const ms = performance.now() - t0;
    console.log(`2000 adversarial matches: ${ms.toFixed(1)} ms`);
    expect(ms).toBeLessThan(200);
  });

  it('are bounded in count, length and wildcards, naming the item out of bounds', () => {
    expect(globsProblem(['kel-*', '*-*-*-*-*-*x'])).toBeUndefined();
    expect(globsProblem(Array.from({ length: 201 }, (_, i) => `cam-${i}`))).toMatch(
      /streams has 201 globs; at most 200/,
    );
    expect(globsProblem(['ok', 'x'.repeat(129)])).toMatch(/streams\/1 is 129 characters long; at most 128/);
    expect(globsProblem(['*a*a*a*a*a*a*a*a*a'])).toMatch(/streams\/0 has 9 wildcards \(\*\); at most 8/);
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
  it('refuses to sign globs out of bounds and refuses them in a token signed elsewhere', () => {
    expect(() => v.sign({ sub: 'x', role: 'viewer', streams: ['*'.repeat(9)] }, 60)).toThrowError(/streams\/0 has 9/);
    const t = jwt.sign({ role: 'viewer', streams: ['ok', '*'.repeat(20)] }, 'test-secret-0123456789', {
      subject: 'x',
      issuer: opts.issuer,
      audience: opts.audience,
      expiresIn: 60,
    });
    expect(() => v.verify(t)).toThrowError(
      expect.objectContaining({ code: 'E_UNAUTHENTICATED', reason: 'bad_claims' }),
    );
    expect(() => v.verify(t)).toThrowError(/streams\/1 has 20 wildcards/);
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

describe('TokenVerifier on tokens that are not JWTs inside', () => {
  const v = new TokenVerifier({
    algorithm: 'HS256',
    verifyKey: 'k'.repeat(32),
    issuer: 'i',
    audience: 'a',
    clockToleranceSec: 0,
  });
  const b64 = (o: unknown) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
  it('refuses a payload that is not JSON and an alg that is not a string as malformed or bad_algorithm', () => {
    expect(() => v.verify(`${b64({ alg: 'HS256', typ: 'JWT' })}.${b64('not json')}.x`)).toThrow(
      expect.objectContaining({ reason: 'malformed' }),
    );
    expect(() => v.verify(`${b64({ alg: { toString: 1 }, typ: 'JWT' })}.${b64({ sub: 's' })}.x`)).toThrow(
      expect.objectContaining({ reason: 'bad_algorithm' }),
    );
  });

  it('globWithin: a glob is within a scope only when every stream it names is', () => {
    expect(globWithin(['kel-*'], 'kel-sekip*')).toBe(true);
    expect(globWithin(['kel-*'], 'kel-sekip-jaya')).toBe(true);
    expect(globWithin(['kel-*', 'kec-ilir'], 'kec-ilir')).toBe(true);
    expect(globWithin(['kel-*'], '*')).toBe(false);
    expect(globWithin(['kel-*'], 'kec-*')).toBe(false);
    expect(globWithin(['kel-a*b'], 'kel-a*')).toBe(false); // kel-ax is not within
    expect(globWithin(['kel-sekip-jaya'], 'kel-sekip-*')).toBe(false);
  });
});
