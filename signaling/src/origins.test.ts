import { describe, expect, it } from 'vitest';
import { compileOrigins, normalizeOrigin, originAllowed, originEntryProblem, originListed } from './origins.js';

const list = compileOrigins(['https://*.palembang.go.id', 'HTTPS://SiPandai.Example:443/', 'http://127.0.0.2:8080']);
const listed = (o: string) => originListed(o, list);

describe('originListed', () => {
  it('admits subdomains at any depth under a *. entry, with its scheme and port', () => {
    expect(listed('https://opd.palembang.go.id')).toBe(true);
    expect(listed('https://a.b.palembang.go.id')).toBe(true);
    expect(listed('https://OPD.Palembang.GO.ID')).toBe(true);
    expect(listed('https://opd.palembang.go.id:443')).toBe(true);
  });

  it('refuses the bare domain, look-alikes, another scheme or port', () => {
    expect(listed('https://palembang.go.id')).toBe(false);
    expect(listed('https://palembang.go.id.evil.com')).toBe(false);
    expect(listed('https://evilpalembang.go.id')).toBe(false);
    expect(listed('https://opd.evilpalembang.go.id')).toBe(false);
    expect(listed('http://opd.palembang.go.id')).toBe(false);
    expect(listed('https://opd.palembang.go.id:8443')).toBe(false);
    expect(listed('https://opd.palembang.go.id.')).toBe(false);
  });

  it('matches exact entries normalised (case, trailing slash, default port)', () => {
    expect(listed('https://sipandai.example')).toBe(true);
    expect(listed('https://x.sipandai.example')).toBe(false);
    expect(listed('http://sipandai.example')).toBe(false);
    expect(listed('http://127.0.0.2:8080')).toBe(true);
    expect(listed('http://127.0.0.2')).toBe(false);
    expect(listed('http://127.0.0.3:8080')).toBe(false);
  });

  it('refuses what is not an origin', () => {
    for (const o of ['null', '', 'https://opd.palembang.go.id/path', 'file://x', 'https://u:p@opd.palembang.go.id'])
      expect(listed(o), o).toBe(false);
  });
});

describe('originEntryProblem', () => {
  it('accepts origins and first-label wildcards', () => {
    for (const e of [
      'https://opd.palembang.go.id',
      'https://*.palembang.go.id',
      'http://127.0.0.1:8080/',
      'HTTP://A.B',
    ])
      expect(originEntryProblem(e), e).toBeUndefined();
  });

  it('says what is wrong with a bad entry', () => {
    expect(originEntryProblem('opd.palembang.go.id')).toMatch(/must be an origin such as https:\/\//);
    expect(originEntryProblem('https://opd.palembang.go.id/app')).toMatch(/path/);
    expect(originEntryProblem('https://opd.*.go.id')).toMatch(/first label/);
    expect(originEntryProblem('https://*palembang.go.id')).toMatch(/first label/);
    expect(originEntryProblem('*')).toMatch(/must be an origin/);
    expect(originEntryProblem('https://*.id')).toMatch(/top-level/);
    expect(originEntryProblem('https://*.10.0.0.1')).toMatch(/IP address/);
    expect(originEntryProblem('ftp://x.example')).toMatch(/must be an origin/);
    expect(originEntryProblem('https://u:p@x.example')).toMatch(/must be an origin/);
  });
});

describe('originAllowed', () => {
  it("admits the gateway's own host, its public URL and extra origins, else the list", () => {
    const ctx = { host: 'cctv.example:8080', publicOrigin: 'https://cctv.palembang.go.id/', allowed: list };
    expect(originAllowed('http://cctv.example:8080', ctx)).toBe(true);
    expect(originAllowed('https://cctv.palembang.go.id', ctx)).toBe(true);
    expect(originAllowed('https://opd.palembang.go.id', ctx)).toBe(true);
    expect(originAllowed('https://evil.example', ctx)).toBe(false);
    expect(originAllowed('https://node-b.example', { ...ctx, extra: ['https://node-b.example'] })).toBe(true);
    expect(originAllowed('garbage', ctx)).toBe(false);
  });

  it('normalizes a browser origin', () => {
    expect(normalizeOrigin('HTTPS://Opd.Example:443')).toBe('https://opd.example');
    expect(normalizeOrigin('https://opd.example/x')).toBeUndefined();
  });
});
