// Keeping camera credentials out of text the gateway writes (logs, error messages, API answers).
// Pure; tested beside (secrets.test.ts) and end to end by
// tests/camera-credentials.test.ts. Re-exported from ffmpegArgs.ts, where callers import it.
import { parseCameraUrl } from '../../../config/cameraUrl.js';

/**
 * Forms shorter than this are replaced only where they stand alone (no letter or digit on either
 * side): a 1 to 3 character password replaced everywhere would turn ports, addresses and times into
 * `***`, and such a password can be guessed in seconds anyway. Longer forms are replaced anywhere.
 */
export const SHORT_SECRET = 4;

const upperHex = (s: string) => s.replace(/%[0-9a-f]{2}/gi, (m) => m.toUpperCase());
const lowerHex = (s: string) => s.replace(/%[0-9a-f]{2}/gi, (m) => m.toLowerCase());

/** The encodings a tool may write `s` in: encodeURIComponent, strict RFC 3986, userinfo-minimal, form. */
function encodings(s: string): string[] {
  let component: string;
  try {
    component = encodeURIComponent(s);
  } catch {
    return [];
  }
  const strict = component.replace(/[!'()*]/g, (c) => `%${(c.codePointAt(0) as number).toString(16).toUpperCase()}`);
  // Only what RFC 3986 userinfo cannot hold raw is encoded (sub-delims and ':' stay).
  const minimal = component.replace(/%(2[146789ABC]|3[ABD])/gi, (m) => decodeURIComponent(m));
  const form = new URLSearchParams({ x: s }).toString().slice(2);
  return [component, strict, minimal, form];
}

/** `s` as it is and as a JSON string's content shows it (pino writes JSON). */
const plainForms = (s: string): string[] => [s, JSON.stringify(s).slice(1, -1)];

const base64 = (s: string): string[] => {
  const b = Buffer.from(s, 'utf8').toString('base64');
  return [b, b.replace(/=+$/, '')];
};

/** Every form of one credential value `plain` (written in the URL as `written`). */
function valueForms(plain: string, written: string): string[] {
  const encoded = [written, ...encodings(plain)];
  return [...plainForms(plain), ...encoded.flatMap((e) => [e, upperHex(e), lowerHex(e)])];
}

/** User and password of a URL, also of one parseCameraUrl refuses (a password pasted raw). */
function credentialsOf(url: string): { user: string; password: string; userW: string; passwordW: string } | undefined {
  const p = parseCameraUrl(url);
  if (p.ok) {
    if (p.userWritten === undefined) return undefined;
    return {
      user: p.user ?? '',
      password: p.password ?? '',
      userW: p.userWritten,
      passwordW: p.passwordWritten ?? '',
    };
  }
  // Everything after scheme:// up to the last '@', as parseCameraUrl reads it.
  const m = /^[a-z][a-z0-9+.-]*:\/\/([\s\S]*)@[^@]*$/i.exec(url);
  if (!m) return undefined;
  const userinfo = m[1] as string;
  const colon = userinfo.indexOf(':');
  const userW = colon < 0 ? userinfo : userinfo.slice(0, colon);
  const passwordW = colon < 0 ? '' : userinfo.slice(colon + 1);
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return { user: dec(userW), password: dec(passwordW), userW, passwordW };
}

/**
 * Every form the credentials of `url` can take in text the gateway writes, for redact(): the
 * password plain (and as a JSON string shows it), as written in the URL, encodeURIComponent of it,
 * strict RFC 3986, userinfo-minimal and form encodings, each with upper and lower case hex;
 * `user:password` in those forms; base64 of `user:password` (the Basic header) and of the password,
 * with and without padding. A URL with a user and no password: the user is the credential.
 * A URL that parseCameraUrl refuses is read the same way (everything up to the last '@').
 */
export function urlSecrets(url: string): string[] {
  const c = credentialsOf(url);
  if (!c) return [];
  const out = new Set<string>();
  const secret = c.password !== '' ? c.password : c.user;
  const secretW = c.password !== '' ? c.passwordW : c.userW;
  for (const f of valueForms(secret, secretW)) out.add(f);
  if (c.password !== '') {
    const users = valueForms(c.user, c.userW);
    const passwords = valueForms(c.password, c.passwordW);
    // Pairs written the same way (index by index), and the userinfo as written.
    for (let i = 0; i < passwords.length; i++) out.add(`${users[i] ?? c.user}:${passwords[i]}`);
    out.add(`${c.userW}:${c.passwordW}`);
    for (const b of base64(`${c.user}:${c.password}`)) out.add(b);
    for (const b of base64(`${c.userW}:${c.passwordW}`)) out.add(b);
  }
  for (const b of base64(secret)) out.add(b);
  out.delete('');
  return [...out];
}

/** A regex for one form: exact, but any case in its %HH hex; short forms only where they stand alone. */
function formPattern(s: string): string {
  let p = '';
  for (let i = 0; i < s.length; i++) {
    const hex = /^%[0-9A-Fa-f]{2}/.exec(s.slice(i));
    if (hex) {
      const anyCase = (d: string) => `[${d.toUpperCase()}${d.toLowerCase()}]`;
      p += `%${anyCase(s[i + 1] as string)}${anyCase(s[i + 2] as string)}`;
      i += 2;
      continue;
    }
    const cp = s.codePointAt(i) as number;
    const ch = String.fromCodePoint(cp);
    if (cp > 0xffff) i++;
    p += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return [...s].length < SHORT_SECRET ? `(?<![\\p{L}\\p{N}])${p}(?![\\p{L}\\p{N}])` : p;
}

// `scheme://…@` of any URL in the text, also with the ':', '/' and '@' percent-encoded (once or more,
// a URL inside a URL) or '/' JSON-escaped. The user and password run to the LAST '@' (or %40) of the
// URL's token: a password pasted raw may hold '@', '/', '#', '?', ':' or quotes. A token ends at
// white space, '"', '<', '>' or '`'.
const COLON = '(?::|%(?:25)*3[Aa])';
const SLASH = '(?:\\\\?/|%(?:25)*2[Ff])';
const AT = '(?:@|%(?:25)*40)';
const URL_USERINFO = new RegExp(`[A-Za-z][A-Za-z0-9+.-]*${COLON}${SLASH}${SLASH}([^\\s"<>\`]*)${AT}`, 'gd');

const compiled = new WeakMap<readonly string[], RegExp[]>();

function patterns(secrets: readonly string[]): RegExp[] {
  let out = compiled.get(secrets);
  if (!out) {
    out = [...new Set(secrets)].filter((s) => s !== '').map((s) => new RegExp(formPattern(s), 'gu'));
    compiled.set(secrets, out);
  }
  return out;
}

/**
 * Removes credentials from anything the gateway writes: the `user:password` of every URL in the text
 * (up to its last '@', so also a password pasted raw with '@', '/' or '#' in it; also in `%40` form)
 * becomes `***`, and so does every occurrence of every form in `secrets` (urlSecrets()), overlapping
 * ones included: the spans are merged before they are replaced, so no piece of a form is left.
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  const spans: [number, number][] = [];
  // One match per token is enough: it runs to the token's last '@', past any URL nested in it.
  for (const m of text.matchAll(URL_USERINFO)) {
    const [start, end] = (m.indices as RegExpIndicesArray)[1] as [number, number];
    if (end > start) spans.push([start, end]);
  }
  for (const re of patterns(secrets)) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      spans.push([m.index, m.index + m[0].length]);
      re.lastIndex = m.index + 1; // overlapping occurrences too
    }
  }
  if (spans.length === 0) return text;
  spans.sort((a, b) => a[0] - b[0]);
  let out = '';
  let at = 0;
  let [from, to] = spans[0] as [number, number];
  for (const [s, e] of spans.slice(1)) {
    if (s <= to) {
      to = Math.max(to, e);
      continue;
    }
    out += `${text.slice(at, from)}***`;
    at = to;
    [from, to] = [s, e];
  }
  return `${out}${text.slice(at, from)}***${text.slice(to)}`;
}
