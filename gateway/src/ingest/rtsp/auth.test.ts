import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCameraUrl } from '../../../../config/cameraUrl.js';
import { Authenticator, parseChallenges, pickChallenge, splitCredentials } from './auth.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

describe('parseChallenges / pickChallenge', () => {
  it('reads several challenges, in one header or several, and prefers Digest', () => {
    const list = parseChallenges([
      'Basic realm="IP Camera"',
      'Digest realm="IP Camera(12345)", nonce="abc, def", stale="FALSE", qop="auth"',
    ]);
    expect(list.map((c) => c.scheme)).toEqual(['basic', 'digest']);
    expect(list[1]?.params).toMatchObject({ realm: 'IP Camera(12345)', nonce: 'abc, def', qop: 'auth' });
    expect(pickChallenge(list)?.scheme).toBe('digest');
    const one = parseChallenges(['Digest realm="r", nonce="n", Basic realm="r"']);
    expect(one.map((c) => c.scheme)).toEqual(['digest', 'basic']);
    expect(pickChallenge(parseChallenges(['Basic realm="x"']))?.scheme).toBe('basic');
    expect(pickChallenge(parseChallenges(['Bearer realm="x"']))).toBeUndefined();
  });
});

describe('Authenticator', () => {
  it('answers RFC 2617 §3.5 (qop=auth) exactly', () => {
    const challenge = parseChallenges([
      'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    ])[0];
    const a = new Authenticator(
      challenge as NonNullable<typeof challenge>,
      { user: 'Mufasa', password: 'Circle Of Life' },
      '0a4f113b',
    );
    const h = a.header('GET', '/dir/index.html');
    expect(h).toContain('response="6629fae49393a05397450978507c4ef1"');
    expect(h).toContain('nc=00000001');
    expect(h).toContain('opaque="5ccc069c403ebaf9f0171e9517f40e41"');
    expect(a.header('GET', '/dir/index.html')).toContain('nc=00000002');
  });

  it('answers a camera-style challenge without qop (as GStreamer and most cameras send)', () => {
    const challenge = parseChallenges(['Digest realm="GStreamer RTSP Server", nonce="5a1e234926d5daf9"'])[0];
    const a = new Authenticator(challenge as NonNullable<typeof challenge>, { user: 'viewer', password: 'p@ss:w"rd' });
    const uri = 'rtsp://127.0.0.1:8554/cam';
    const expected = md5(`${md5('viewer:GStreamer RTSP Server:p@ss:w"rd')}:5a1e234926d5daf9:${md5(`DESCRIBE:${uri}`)}`);
    const h = a.header('DESCRIBE', uri);
    expect(h).toBe(
      `Digest username="viewer", realm="GStreamer RTSP Server", nonce="5a1e234926d5daf9", uri="${uri}", response="${expected}"`,
    );
  });

  it('does SHA-256 and MD5-sess', () => {
    const sha = parseChallenges(['Digest realm="r", nonce="n", algorithm=SHA-256'])[0];
    const h = new Authenticator(sha as NonNullable<typeof sha>, { user: 'u', password: 'p' }).header(
      'PLAY',
      'rtsp://x/',
    );
    const s256 = (s: string) => createHash('sha256').update(s).digest('hex');
    expect(h).toContain(`response="${s256(`${s256('u:r:p')}:n:${s256('PLAY:rtsp://x/')}`)}"`);
    expect(h).toContain('algorithm=SHA-256');
    const sess = parseChallenges(['Digest realm="r", nonce="n", algorithm=MD5-sess, qop=auth'])[0];
    const h2 = new Authenticator(sess as NonNullable<typeof sess>, { user: 'u', password: 'p' }, 'c').header(
      'SETUP',
      '/t',
    );
    const ha1 = md5(`${md5('u:r:p')}:n:c`);
    expect(h2).toContain(`response="${md5(`${ha1}:n:00000001:c:auth:${md5('SETUP:/t')}`)}"`);
  });

  it('does Basic', () => {
    const basic = parseChallenges(['Basic realm="cam"'])[0];
    const h = new Authenticator(basic as NonNullable<typeof basic>, { user: 'admin', password: 'x:y' }).header(
      'DESCRIBE',
      '/',
    );
    expect(h).toBe(`Basic ${Buffer.from('admin:x:y').toString('base64')}`);
  });
});

describe('splitCredentials', () => {
  it('takes user:password out of the URL, percent-decoded', () => {
    expect(splitCredentials('rtsp://admin:p%40ss%3Aw@10.0.0.5:554/Streaming/101')).toEqual({
      url: 'rtsp://10.0.0.5:554/Streaming/101',
      creds: { user: 'admin', password: 'p@ss:w' },
    });
    expect(splitCredentials('rtsp://10.0.0.5/a')).toEqual({ url: 'rtsp://10.0.0.5/a', creds: undefined });
    expect(splitCredentials('rtsp://user@h/a').creds).toEqual({ user: 'user', password: '' });
  });
});

describe('splitCredentials and the config loader read a URL the same way', () => {
  const specials = [..."@:/?#[]%!$&'()*+,;= é"]; // every URL-special character, and non-ASCII
  const passwords = [...specials.map((c) => `Zq${c}Vx7${c}Kw`), 'p@ss:w/rd#1%', "@:/?#[]%!$&'()*+,;= é", '%41'];
  const basic = parseChallenges(['Basic realm="cam"'])[0] as NonNullable<ReturnType<typeof parseChallenges>[0]>;

  it('gives the RTSP client exactly the user and password of every encoded URL', () => {
    for (const user of ['admin', 'ad:m@in', 'ü s']) {
      for (const password of passwords) {
        const url = `rtsp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@10.0.0.5:554/Streaming/101`;
        const { url: bare, creds } = splitCredentials(url);
        expect(creds, url).toEqual({ user, password });
        expect(bare).toBe('rtsp://10.0.0.5:554/Streaming/101');
        const parsed = parseCameraUrl(url);
        expect(parsed.ok && { user: parsed.user, password: parsed.password }).toEqual(creds);
        expect(new Authenticator(basic, creds as NonNullable<typeof creds>).header('DESCRIBE', bare)).toBe(
          `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
        );
      }
    }
  });

  it('agrees with parseCameraUrl on what it accepts, and keeps no credentials of a URL it refuses', () => {
    const urls = [
      ...passwords.map((p) => `rtsp://admin:${p}@10.0.0.5:554/a`),
      'rtsp://admin:123/456@10.0.0.5/a', // would be read as host "admin", port 123 by a plain URL parser
      'rtsp://admin:p@ss:w/rd#1%@10.0.0.5:554/stream',
      'rtsp://u:p@h/a?b=c@d',
      'rtsp://h/a',
      '/relative/path',
    ];
    for (const url of urls) {
      const parsed = parseCameraUrl(url);
      const split = splitCredentials(url);
      if (parsed.ok) {
        expect(split.url, url).toBe(parsed.withoutCredentials);
        expect(split.creds?.user, url).toBe(parsed.user);
        continue;
      }
      expect(split.creds, url).toBeUndefined();
      // Nothing before the last '@' reaches the wire (or a log) as part of the URL.
      if (url.includes('@')) expect(split.url, url).toBe(`rtsp://${url.slice(url.lastIndexOf('@') + 1)}`);
      else expect(split.url).toBe(url);
    }
  });
});
