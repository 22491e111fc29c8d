// Camera URLs and the credentials in them: one parser for the config loader (which rejects what it
// cannot read unambiguously) and the RTSP client (which takes the user and password from it). Pure.
//
// The rule, the same everywhere (README, sample config, schema description):
//   - In the URL text written in the file, the user and the password are percent-encoded as RFC 3986
//     says: every character other than letters, digits, - . _ ~ ! $ & ' ( ) * + , ; = is written as
//     %HH, the hex code of each of its UTF-8 bytes: '@' %40, '/' %2F, '?' %3F, '#' %23, '%' %25,
//     space %20, '[' %5B, ']' %5D, 'é' %C3%A9. A ':' in the password may stay as it is (or be %3A);
//     a ':' in the user must be %3A (the first ':' ends the user).
//   - `${NAME}` holds the value as the camera expects it, plain text, never pre-encoded: the loader
//     percent-encodes it. Pasting a password into an environment variable (or a secret store) as it
//     is therefore always right.
// Anything that a URL parser could read differently from what was meant (an '@', '/', '?', '#',
// space or other character that must be encoded in the user or password, a '%' not followed by two
// hex digits, more than one '@', an empty or invalid host, a bad port) is refused, with a reason
// that never holds any part of the user or password.

export interface CameraUrl {
  ok: true;
  /** As written (e.g. 'rtsp'). */
  scheme: string;
  /** Percent-decoded; undefined when the URL has no `user@`. */
  user: string | undefined;
  /** Percent-decoded; undefined when the URL has no `:password` after the user. */
  password: string | undefined;
  /** The user and password exactly as written in the URL (undefined as above). */
  userWritten: string | undefined;
  passwordWritten: string | undefined;
  /** `host[:port]` as written, e.g. `10.0.0.5:554` or `[fd00::5]:554`. */
  hostPort: string;
  /** The host without IPv6 brackets. */
  host: string;
  /** The port when written. */
  port: number | undefined;
  /** Path, query and fragment as written: '' or starting with '/', '?' or '#'. */
  rest: string;
  /** The URL with `user:password@` taken out. */
  withoutCredentials: string;
}

export interface CameraUrlProblem {
  ok: false;
  /** What is wrong, in general terms: never any part of the user or password. */
  reason: string;
  /** Where: the URL as a whole, the user and password, the host and port, or the path (query, fragment). */
  part: 'url' | 'userinfo' | 'host' | 'path';
}

export type CameraUrlResult = CameraUrl | CameraUrlProblem;

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/** Characters RFC 3986 allows raw in userinfo (besides %HH): unreserved, sub-delims and ':'. */
const USERINFO_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:]$/;
const ENV_REF = /\$\{([A-Z0-9_]+)\}/g;
const HINT = 'or put the plain password in an environment variable and write ${NAME}';

const fail = (part: CameraUrlProblem['part'], reason: string): CameraUrlProblem => ({ ok: false, reason, part });

/** How one character that may not stand raw in the user or password must be written. */
function mustEncode(ch: string): string {
  if (ch === ' ') return 'a space, which must be written %20';
  const code = ch.codePointAt(0) ?? 0;
  if (code < 0x20 || code === 0x7f) return 'a control character, which must be percent-encoded';
  if (code > 0x7f) return 'a non-ASCII character, which must be written as the %-codes of its UTF-8 bytes';
  return `a '${ch}', which must be written %${code.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** Why `s` (the user or the password as written) is not valid RFC 3986 userinfo, or undefined. */
function userinfoProblem(s: string): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (ch === '%') {
      if (!/^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3)))
        return "the user or password contains a '%' that is not followed by two hex digits: a '%' must be written %25";
      i += 2;
      continue;
    }
    if (!USERINFO_CHAR.test(ch)) {
      const cp = s.codePointAt(i) ?? 0;
      return `the user or password contains ${mustEncode(String.fromCodePoint(cp))}`;
    }
  }
  return undefined;
}

function decode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?';
const HOSTNAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*\\.?$`);
const IPV6 = /^\[([0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)(?:%25[A-Za-z0-9\-._~]+)?\]$/;

/** Host and port of `host[:port]`, or why not. */
function parseHostPort(hp: string): { host: string; port: number | undefined } | string {
  let host: string;
  let portText: string | undefined;
  if (hp.startsWith('[')) {
    const end = hp.indexOf(']');
    if (end < 0) return 'the host is not a valid host name or address (an IPv6 address needs its closing ])';
    host = hp.slice(0, end + 1);
    const after = hp.slice(end + 1);
    if (after !== '' && !after.startsWith(':')) return 'the host is not a valid host name or address';
    portText = after ? after.slice(1) : undefined;
    if (!IPV6.test(host)) return 'the host is not a valid IPv6 address';
    host = host.slice(1, -1);
  } else {
    const colon = hp.indexOf(':');
    host = colon < 0 ? hp : hp.slice(0, colon);
    portText = colon < 0 ? undefined : hp.slice(colon + 1);
    if (host === '') return 'has no host';
    if (!HOSTNAME.test(host)) return 'the host is not a valid host name or address';
    if (/^[0-9.]+$/.test(host)) {
      const parts = host.replace(/\.$/, '').split('.');
      if (parts.length !== 4 || parts.some((p) => p === '' || Number(p) > 255 || (p.length > 1 && p[0] === '0')))
        return 'the host is not a valid IPv4 address';
    }
  }
  if (portText === undefined) return { host, port: undefined };
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535)
    return 'the port must be a number from 1 to 65535';
  return { host, port: Number(portText) };
}

/**
 * Reads `scheme://[user[:password]@]host[:port][/path][?query][#fragment]`, or says why it cannot be
 * read without guessing. Everything after `scheme://` up to the last '@' is taken as the user and
 * password, so a password pasted raw is found (and refused) however its characters would mislead a
 * parser; the reason never contains any of it.
 */
export function parseCameraUrl(text: string): CameraUrlResult {
  const m = SCHEME.exec(text);
  if (!m) return fail('url', 'is not a URL of the form rtsp://host/path');
  const scheme = m[1] as string;
  const after = text.slice(m[0].length);
  const at = after.lastIndexOf('@');
  let userWritten: string | undefined;
  let passwordWritten: string | undefined;
  let user: string | undefined;
  let password: string | undefined;
  if (at >= 0) {
    const userinfo = after.slice(0, at);
    if (userinfo.includes('@'))
      return fail(
        'userinfo',
        `has more than one '@': an '@' in the user or password (or anywhere after the host) must be written %40; ${HINT}`,
      );
    const delim = /[/?#]/.exec(userinfo);
    if (delim)
      return fail(
        'userinfo',
        `the user or password contains ${mustEncode(delim[0])} (a raw one would end the host part; an '@' after the host must be written %40); ${HINT}`,
      );
    const bad = userinfoProblem(userinfo);
    if (bad) return fail('userinfo', `${bad}; ${HINT}`);
    const colon = userinfo.indexOf(':');
    userWritten = colon < 0 ? userinfo : userinfo.slice(0, colon);
    passwordWritten = colon < 0 ? undefined : userinfo.slice(colon + 1);
    user = decode(userWritten);
    password = passwordWritten === undefined ? undefined : decode(passwordWritten);
    if (user === undefined || (passwordWritten !== undefined && password === undefined))
      return fail(
        'userinfo',
        `the user or password has %-codes that are not UTF-8 (write a non-ASCII character as the %-codes of its UTF-8 bytes); ${HINT}`,
      );
  }
  const hostAndRest = at >= 0 ? after.slice(at + 1) : after;
  const end = hostAndRest.search(/[/?#]/);
  const hostPort = end < 0 ? hostAndRest : hostAndRest.slice(0, end);
  const rest = end < 0 ? '' : hostAndRest.slice(end);
  if (/[\s\p{Cc}]/u.test(hostPort)) return fail('host', 'the host or port contains a space or control character');
  const hp = parseHostPort(hostPort);
  if (typeof hp === 'string') return fail('host', hp);
  // A raw space would end the RTSP request line's URL.
  if (/[\s\p{Cc}]/u.test(rest))
    return fail('path', 'the path contains a space or control character (write a space as %20)');
  return {
    ok: true,
    scheme,
    user,
    password,
    userWritten,
    passwordWritten,
    hostPort,
    host: hp.host,
    port: hp.port,
    rest,
    withoutCredentials: `${scheme}://${hostPort}${rest}`,
  };
}

/** The `${NAME}` references of a URL template, and one that is malformed (e.g. `${name}`) if any. */
export function envReferences(template: string): { names: string[]; malformed: boolean } {
  const names = [...template.matchAll(ENV_REF)].map((r) => r[1] as string);
  const malformed = /\$\{/.test(template.replace(ENV_REF, ''));
  return { names, malformed };
}

/**
 * The rule on raw characters, checked on the URL as written in the file (before `${NAME}` is
 * replaced): each `${NAME}` stands for a value the loader encodes, so it is read as a valid one.
 */
export function checkCameraUrlTemplate(template: string): CameraUrlProblem | undefined {
  if (envReferences(template).malformed)
    return fail('url', 'has a ${...} whose name is not UPPER_CASE letters, digits and _ (e.g. ${CAM_PASS})');
  const r = parseCameraUrl(template.replace(ENV_REF, 'x'));
  if (r.ok) return undefined;
  // A ${NAME} in the host or port (e.g. ${CAM_PORT}) is judged once it is filled in.
  if (r.part === 'host') {
    const after = template.replace(SCHEME, '');
    const hostPort = after.slice(after.lastIndexOf('@') + 1).split(/[/?#]/)[0] ?? '';
    if (hostPort.includes('${')) return undefined;
  }
  return r;
}

/**
 * How the loader writes a `${NAME}` value into the URL: percent-encoded so that it is read back as
 * exactly the value (every character but letters, digits and - . _ ~ ! ' ( ) * becomes %HH).
 * Throws URIError for text that is not well-formed UTF-16 (a lone surrogate).
 */
export function encodeUrlComponent(value: string): string {
  return encodeURIComponent(value);
}
