import { describe, expect, it } from 'vitest';
import { urlSecrets } from '../gateway/src/ingest/secrets.js';
import { checkCameraUrlTemplate, parseCameraUrl } from './cameraUrl.js';

/** Characters with a meaning in URLs, and non-ASCII. */
const SPECIALS = [..."@:/?#[]%!$&'()*+,;= é"]; // every URL-special character, and non-ASCII
/** Those RFC 3986 lets stand raw in a password: written raw, the URL is valid and means the same. */
const RAW_OK = new Set([':', '!', '$', '&', "'", '(', ')', '*', '+', ',', ';', '=']);
/** One password per special character (twice, between letters), and a few with all of them. */
const PASSWORDS = [
  ...SPECIALS.map((c) => `Zq${c}Vx7${c}Kw`),
  'p@ss:w/rd#1%',
  "Zq@:/?#[]%!$&'()*+,;= éKw9",
  '%41%zz%', // looks pre-encoded: must be taken literally
  'ü🔑 Kennwört',
];
const encodedUrl = (user: string, password: string, host = '10.0.0.5:554') =>
  `rtsp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}/Streaming/101`;
const rawUrl = (user: string, password: string) => `rtsp://${user}:${password}@10.0.0.5:554/Streaming/101`;

/** The forms of a password a message must not show any piece of. */
function forms(user: string, password: string): string[] {
  return [password, ...urlSecrets(encodedUrl(user, password)), ...urlSecrets(rawUrl(user, password))];
}

/**
 * Substrings of `len` characters of the password's forms that `text` contains. A lone `%HH` (one
 * character's code, as the reasons name the character that must be encoded) is not a piece of it.
 */
function leaks(text: string, user: string, password: string, len: number): string[] {
  const out = new Set<string>();
  for (const f of forms(user, password)) {
    // `user:password` forms: only pieces that reach into the password.
    const from = f.startsWith(`${user}:`) ? 0 : -1;
    const chars = [...f];
    for (let i = 0; i + len <= chars.length; i++) {
      const piece = chars.slice(i, i + len).join('');
      if (from === 0 && i + len <= [...user].length + 1) continue;
      if (/^%[0-9A-Fa-f]{2}$/.test(piece)) continue;
      if (text.includes(piece)) out.add(piece);
    }
  }
  return [...out];
}

describe('parseCameraUrl', () => {
  it('reads user, password (decoded and as written), host, port and the rest', () => {
    expect(parseCameraUrl('rtsp://admin:p%40ss:w%2Frd%231%25@10.0.0.5:554/Streaming/101?x=1#f')).toEqual({
      ok: true,
      scheme: 'rtsp',
      user: 'admin',
      password: 'p@ss:w/rd#1%',
      userWritten: 'admin',
      passwordWritten: 'p%40ss:w%2Frd%231%25',
      hostPort: '10.0.0.5:554',
      host: '10.0.0.5',
      port: 554,
      rest: '/Streaming/101?x=1#f',
      withoutCredentials: 'rtsp://10.0.0.5:554/Streaming/101?x=1#f',
    });
    expect(parseCameraUrl('rtsps://cam.local')).toMatchObject({ ok: true, user: undefined, host: 'cam.local' });
    expect(parseCameraUrl('rtsp://u@[fd00::5]:8554/a')).toMatchObject({
      ok: true,
      user: 'u',
      password: undefined,
      host: 'fd00::5',
      port: 8554,
    });
    expect(parseCameraUrl('rtsp://:pw@h/a')).toMatchObject({ ok: true, user: '', password: 'pw' });
    // Lower-case hex is as good as upper-case.
    expect(parseCameraUrl('rtsp://a:%2f%3a@h/')).toMatchObject({ ok: true, password: '/:' });
  });

  it('refuses a bad host or port, naming it in general terms', () => {
    const bad: [string, RegExp][] = [
      ['rtsp://a:b@/x', /no host/],
      ['rtsp://a:b@:554/x', /no host/],
      ['rtsp://a:b@10.0.0.300/x', /not a valid IPv4/],
      ['rtsp://a:b@ho_st!/x', /host is not valid|not a valid host/],
      ['rtsp://a:b@h:0/x', /port/],
      ['rtsp://a:b@h:65536/x', /port/],
      ['rtsp://a:b@h:5x4/x', /port/],
      ['rtsp://a:b@[fd00::5/x', /IPv6/],
      ['rtsp://a:b@h/x y', /path contains a space/],
      ['http//h/x', /not a URL/],
    ];
    for (const [url, reason] of bad) {
      const r = parseCameraUrl(url);
      expect(r.ok, url).toBe(false);
      if (!r.ok) expect(r.reason, url).toMatch(reason);
    }
  });

  it('refuses every character that must be encoded when it is pasted raw, and never shows the password', () => {
    let refused = 0;
    for (const password of PASSWORDS) {
      const r = parseCameraUrl(rawUrl('admin', password));
      const mustRefuse = [...password].some((c) => !RAW_OK.has(c) && !/[A-Za-z0-9]/.test(c));
      if (password === '%41%zz%')
        expect(r.ok).toBe(false); // '%z' is not a %-code
      else expect(r.ok, password).toBe(!mustRefuse);
      if (r.ok) {
        // Raw sub-delims and ':' are valid RFC 3986: the password is read exactly.
        expect(r.password).toBe(password);
        continue;
      }
      refused++;
      expect(r.reason).toMatch(/must be (written|percent-encoded)|more than one '@'|not followed by two hex/);
      expect(r.reason).toContain('${NAME}');
      expect(leaks(r.reason, 'admin', password, 3), `${password} -> ${r.reason}`).toEqual([]);
      // The reason depends on the kind of character only: the same for other letters and digits around it.
      const masked = password.replace(/[A-Za-z0-9]/g, 'x').replace(/\P{ASCII}/gu, 'ñ');
      expect(parseCameraUrl(rawUrl('admin', masked))).toEqual(r);
    }
    expect(refused).toBeGreaterThanOrEqual(10);
  });

  it('says which character is wrong, in general terms', () => {
    const reason = (pw: string) => {
      const r = parseCameraUrl(rawUrl('admin', pw));
      return r.ok ? '' : r.reason;
    };
    expect(reason('Zq@Vx')).toMatch(/more than one '@'.*%40/);
    expect(reason('Zq/Vx')).toMatch(/'\/', which must be written %2F/);
    expect(reason('Zq?Vx')).toMatch(/'\?', which must be written %3F/);
    expect(reason('Zq#Vx')).toMatch(/'#', which must be written %23/);
    expect(reason('Zq Vx')).toMatch(/a space, which must be written %20/);
    expect(reason('Zq%Vx')).toMatch(/'%' that is not followed by two hex digits: a '%' must be written %25/);
    expect(reason('Zq[Vx')).toMatch(/'\[', which must be written %5B/);
    expect(reason('Zq"Vx')).toMatch(/'"', which must be written %22/);
    expect(reason('ZqéVx')).toMatch(/non-ASCII character/);
    expect(reason('Zq%E9Vx')).toMatch(/not UTF-8/);
  });

  it('reads every password back exactly from its encoded form', () => {
    const users = ['admin', 'ad@min', 'ü s/r'];
    for (const user of users)
      for (const password of PASSWORDS) {
        const r = parseCameraUrl(encodedUrl(user, password));
        expect(r, `${user} ${password}`).toMatchObject({ ok: true, user, password, host: '10.0.0.5', port: 554 });
      }
  });
});

describe('checkCameraUrlTemplate', () => {
  it('reads each ${NAME} as a value the loader encodes, and refuses raw characters around it', () => {
    expect(checkCameraUrlTemplate('rtsp://viewer:${CAM_PASS}@10.0.0.5/a')).toBeUndefined();
    expect(checkCameraUrlTemplate('rtsp://${CAM_USER}:${CAM_PASS}@10.0.0.5/a')).toBeUndefined();
    expect(checkCameraUrlTemplate('rtsp://viewer:x#${CAM_PASS}@10.0.0.5/a')?.reason).toMatch(/%23/);
    expect(checkCameraUrlTemplate('rtsp://viewer:${cam_pass}@10.0.0.5/a')?.reason).toMatch(/UPPER_CASE/);
    // The host or port from the environment is judged once filled in; a bad one written in the file at once.
    expect(checkCameraUrlTemplate('rtsp://viewer:${CAM_PASS}@${CAM_HOST}:${CAM_PORT}/a')).toBeUndefined();
    expect(checkCameraUrlTemplate('rtsp://viewer:${CAM_PASS}@10.0.0.5:${CAM_PORT}/a')).toBeUndefined();
    expect(checkCameraUrlTemplate('rtsp://viewer:${CAM_PASS}@10.0.0.5:99999/a')?.part).toBe('host');
  });
});
