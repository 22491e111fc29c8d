import { describe, expect, it } from 'vitest';
import { redact, urlSecrets } from './secrets.js';

const SPECIALS = [..."@:/?#[]%!$&'()*+,;= é"]; // every URL-special character, and non-ASCII
const PASSWORDS = [
  ...SPECIALS.map((c) => `Zq${c}Vx7${c}Kw`),
  'p@ss:w/rd#1%',
  "Zq@:/?#[]%!$&'()*+,;= éKw9",
  '%41%zz%',
  'ü🔑 Kennwört"\\',
];
const USER = 'admin';
const enc = (s: string) => encodeURIComponent(s);
const strict = (s: string) =>
  enc(s).replace(/[!'()*]/g, (c) => `%${(c.codePointAt(0) as number).toString(16).toUpperCase()}`);
const lower = (s: string) => s.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
const b64 = (s: string) => Buffer.from(s).toString('base64');
const encodedUrl = (pw: string) => `rtsp://${USER}:${enc(pw)}@10.0.0.5:554/Streaming/101`;
const rawUrl = (pw: string) => `rtsp://${USER}:${pw}@10.0.0.5:554/Streaming/101`;

/** Every form of the password the test looks for, written independently of secrets.ts. */
function forms(pw: string): string[] {
  const encoded = [enc(pw), strict(pw), lower(enc(pw)), lower(strict(pw))];
  return [
    pw,
    JSON.stringify(pw).slice(1, -1),
    ...encoded,
    ...encoded.map((e) => `${USER}:${e}`),
    `${USER}:${pw}`,
    b64(`${USER}:${pw}`),
    b64(pw),
  ];
}

/** Pieces of `len` characters of any form that survive in `text` (pieces only of the user are not secret). */
function leaks(text: string, pw: string, len = 4): string[] {
  const out = new Set<string>();
  for (const f of forms(pw)) {
    const chars = [...f];
    const userPart = f.startsWith(`${USER}:`) ? USER.length + 1 : 0;
    for (let i = 0; i + len <= chars.length; i++) {
      if (i + len <= userPart) continue;
      const piece = chars.slice(i, i + len).join('');
      if (text.includes(piece)) out.add(piece);
    }
  }
  return [...out];
}

/** A log's worth of text holding the password in every form a tool could write it in. */
function textWith(pw: string): string {
  const e = enc(pw);
  return [
    `[tcp @ 0x1] Connection to ${encodedUrl(pw)} failed`,
    `pasted ${rawUrl(pw)} as is`,
    `plain ${pw} end`,
    `encoded ${e} strict ${strict(pw)} lower ${lower(e)} mixed ${e.replace(/%([0-9A-F])([0-9A-F])/g, (_m, a: string, b: string) => `%${a.toLowerCase()}${b}`)}`,
    `pair ${USER}:${pw} and ${USER}:${e}`,
    `Authorization: Basic ${b64(`${USER}:${pw}`)}`,
    `b64 ${b64(pw)} unpadded ${b64(pw).replace(/=+$/, '')}`,
    JSON.stringify({ msg: 'json', password: pw, url: rawUrl(pw) }),
    `nested rtsp://h/x?next=${enc(rawUrl(pw))} and ${rawUrl(pw)}?again=${encodedUrl(pw)}`,
    `glued${pw}${e}${pw}glued`,
  ].join('\n');
}

describe('urlSecrets', () => {
  it('lists the password plain, as written, encoded (both hex cases), user:password and base64', () => {
    const url = 'rtsp://admin:p%40ss:w%2Frd%231%25@10.0.0.5:554/s';
    const s = urlSecrets(url);
    for (const f of [
      'p@ss:w/rd#1%',
      'p%40ss:w%2Frd%231%25',
      'p%40ss:w%2frd%231%25',
      'p%40ss%3Aw%2Frd%231%25',
      'p%40ss%3aw%2frd%231%25',
      'admin:p@ss:w/rd#1%',
      'admin:p%40ss:w%2Frd%231%25',
      b64('admin:p@ss:w/rd#1%'),
      b64('p@ss:w/rd#1%'),
    ])
      expect(s, f).toContain(f);
    expect(s).not.toContain('admin'); // the user alone is not the secret when there is a password
    expect(urlSecrets('rtsp://10.0.0.5/s')).toEqual([]);
  });

  it('reads a URL with a password pasted raw the way the loader does (up to the last @)', () => {
    expect(urlSecrets('rtsp://admin:p@ss:w/rd#1%@10.0.0.5/s')).toContain('p@ss:w/rd#1%');
  });

  it('treats the user as the secret when there is no password', () => {
    expect(urlSecrets('rtsp://tok%2Fen123@h/s')).toEqual(expect.arrayContaining(['tok/en123', 'tok%2Fen123']));
  });
});

describe('redact', () => {
  it(`leaves no piece of 4 characters of any form of ${PASSWORDS.length} passwords`, () => {
    let checked = 0;
    for (const pw of PASSWORDS) {
      for (const url of [encodedUrl(pw), rawUrl(pw)]) {
        const text = textWith(pw);
        const out = redact(text, urlSecrets(url));
        expect(leaks(out, pw), `${pw} via ${url}\n${out}`).toEqual([]);
        expect(out).toContain('rtsp://***@10.0.0.5:554/Streaming/101');
        checked += forms(pw).length;
      }
    }
    expect(checked).toBeGreaterThan(400);
  });

  it('removes the user:password of any URL, even with no secrets given', () => {
    const cases: [string, string][] = [
      ['rtsp://admin:s3cr%40t@10.0.0.1:554/a x', 'rtsp://***@10.0.0.1:554/a x'],
      ['rtsp://admin:p@ss:w/rd#1%@10.0.0.1/a', 'rtsp://***@10.0.0.1/a'],
      ["x 'rtsp://u:it's@h/a' y", "x 'rtsp://***@h/a' y"],
      ['"rtsp://u:p@h/a","next":"x@y"', '"rtsp://***@h/a","next":"x@y"'],
      ['src=rtsp%3A%2F%2Fadmin%3Ap%2540ss%40h%2Fa', 'src=rtsp%3A%2F%2F***%40h%2Fa'],
      ['src=rtsp%253A%252F%252Fu%253Ap%2540h', 'src=rtsp%253A%252F%252F***%2540h'],
      ['{"u":"rtsp:\\/\\/u:p@h\\/a"}', '{"u":"rtsp:\\/\\/***@h\\/a"}'],
      ['no credentials rtsp://h:554/a and mail a@b', 'no credentials rtsp://h:554/a and mail a@b'],
    ];
    for (const [text, want] of cases) expect(redact(text), text).toBe(want);
  });

  it('redacts short passwords where they stand alone, without turning numbers into ***', () => {
    const s = urlSecrets('rtsp://admin:12@10.0.0.1:554/a');
    expect(redact('Connection to 10.0.0.1:554 (port 1234) refused; password 12 wrong', s)).toBe(
      'Connection to 10.0.0.1:554 (port 1234) refused; password *** wrong',
    );
    expect(redact(`Basic ${b64('admin:12')}`, s)).toBe('Basic ***');
    expect(redact('admin:12 tried', s)).toBe('*** tried');
    expect(redact('x ab% y', urlSecrets('rtsp://u:ab%25@h/'))).toBe('x *** y');
  });

  it('matches %-codes in any case and merges overlapping forms', () => {
    const s = urlSecrets(encodedUrl('p/ss w'));
    expect(redact('a p%2fss%20w b p%2Fss%20W', s)).toBe('a *** b p%2Fss%20W');
    expect(redact('p/ss wp/ss w', s)).toBe('***');
  });
});
