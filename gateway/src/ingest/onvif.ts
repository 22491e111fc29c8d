// ONVIF Media keyframe requests, the pure part: SOAP 1.2 envelopes with a WS-Security
// UsernameToken (PasswordDigest), the GetProfiles and SetSynchronizationPoint bodies, reading
// profile tokens and faults, and a camera config's ONVIF target. Tested beside (onvif.test.ts).
//
// A small client of our own, not the `onvif` npm package: that one makes ~6 calls on connect
// (device information, capabilities, profiles, ...) where a keyframe needs two at most, and pulls
// in an XML parser. Regex-level XML is enough for profile tokens and fault codes; it ignores
// namespace prefixes (cameras use trt:, tr2:, ns1:, or none).
import { createHash } from 'node:crypto';
import { parseCameraUrl } from '../../../config/cameraUrl.js';
import type { CameraConfig } from '../../../config/schema.js';

export const MEDIA_NS = 'http://www.onvif.org/ver10/media/wsdl';
const SOAP12_NS = 'http://www.w3.org/2003/05/soap-envelope';
const WSSE_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';
const WSU_NS = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd';
const TOKEN_PROFILE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-username-token-profile-1.0';
const BASE64_BINARY = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary';

export type OnvifOperation = 'GetProfiles' | 'SetSynchronizationPoint';

/** The SOAP 1.2 action (Content-Type's action parameter) of a Media operation. */
export const onvifAction = (op: OnvifOperation): string => `${MEDIA_NS}/${op}`;

/** The WS-Security credentials of one request: `nonce` random (16 bytes), `created` wsCreated(). */
export interface UsernameToken {
  user: string;
  password: string;
  nonce: Buffer;
  created: string;
}

/** Base64(SHA1(nonce + created + password)): WS-Security UsernameToken Profile 1.0, PasswordDigest. */
export function passwordDigest(nonce: Buffer, created: string, password: string): string {
  return createHash('sha1')
    .update(Buffer.concat([nonce, Buffer.from(created, 'utf8'), Buffer.from(password, 'utf8')]))
    .digest('base64');
}

/** xsd:dateTime in UTC without milliseconds (2026-12-01T10:00:00Z): some cameras refuse fractions. */
export function wsCreated(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function escapeXml(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string,
  );
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9A-Fa-f]+);/g, (m, e: string) => {
    const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
    if (named[e]) return named[e];
    const code = e[1] === 'x' ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : m;
  });
}

/** A SOAP 1.2 envelope around `body`, with a WS-Security header when `auth` is given. */
export function soapEnvelope(body: string, auth?: UsernameToken): string {
  const header = auth
    ? `<s:Header><wsse:Security s:mustUnderstand="1" xmlns:wsse="${WSSE_NS}" xmlns:wsu="${WSU_NS}">` +
      '<wsse:UsernameToken>' +
      `<wsse:Username>${escapeXml(auth.user)}</wsse:Username>` +
      `<wsse:Password Type="${TOKEN_PROFILE}#PasswordDigest">${passwordDigest(auth.nonce, auth.created, auth.password)}</wsse:Password>` +
      `<wsse:Nonce EncodingType="${BASE64_BINARY}">${auth.nonce.toString('base64')}</wsse:Nonce>` +
      `<wsu:Created>${auth.created}</wsu:Created>` +
      '</wsse:UsernameToken></wsse:Security></s:Header>'
    : '';
  return `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="${SOAP12_NS}">${header}<s:Body>${body}</s:Body></s:Envelope>`;
}

export function getProfilesBody(): string {
  return `<trt:GetProfiles xmlns:trt="${MEDIA_NS}"/>`;
}

export function setSynchronizationPointBody(profileToken: string): string {
  return (
    `<trt:SetSynchronizationPoint xmlns:trt="${MEDIA_NS}">` +
    `<trt:ProfileToken>${escapeXml(profileToken)}</trt:ProfileToken></trt:SetSynchronizationPoint>`
  );
}

const PREFIX = '(?:[A-Za-z_][\\w.-]*:)?';
const PROFILES_TAG = new RegExp(`<${PREFIX}Profiles\\b([^>]*)>`, 'g');
const TOKEN_ATTR = /(?:^|\s)token\s*=\s*(?:"([^"]*)"|'([^']*)')/;

/** The `token` of every Profiles element (GetProfilesResponse, ver10 or ver20), in document order. */
export function parseProfileTokens(xml: string): string[] {
  const out: string[] = [];
  for (const m of xml.matchAll(PROFILES_TAG)) {
    const attr = TOKEN_ATTR.exec(m[1] as string);
    const token = attr ? unescapeXml((attr[1] ?? attr[2]) as string) : '';
    if (token) out.push(token);
  }
  return out;
}

export interface SoapFault {
  /** As written, e.g. 'env:Sender' (SOAP 1.2 Code/Value) or 'SOAP-ENV:Client' (1.1 faultcode). */
  code: string;
  /** The Subcode values, outermost first, e.g. ['ter:InvalidArgVal', 'ter:NoProfile']. */
  subcodes: string[];
  /** The Reason text (or faultstring), at most 200 characters. */
  reason: string;
}

const element = (name: string, flags = '') =>
  new RegExp(`<${PREFIX}${name}\\b[^>]*>([\\s\\S]*?)<\\/${PREFIX}${name}\\s*>`, flags);
const FAULT = element('Fault');
const CODE = new RegExp(`<${PREFIX}Code\\b[^>]*>([\\s\\S]*)<\\/${PREFIX}Code\\s*>`);
const VALUE = element('Value', 'g');
const TEXT = element('Text');
const FAULTCODE = element('faultcode');
const FAULTSTRING = element('faultstring');

const text = (s: string | undefined): string => unescapeXml((s ?? '').replace(/<[^>]*>/g, '')).trim();

/** The SOAP fault of an answer (1.2, or 1.1 as some cameras still send), or undefined. */
export function parseFault(xml: string): SoapFault | undefined {
  const fault = FAULT.exec(xml)?.[1];
  if (fault === undefined) return undefined;
  const code = CODE.exec(fault)?.[1];
  const values = code !== undefined ? [...code.matchAll(VALUE)].map((m) => text(m[1])) : [];
  const reason = text(TEXT.exec(fault)?.[1] ?? FAULTSTRING.exec(fault)?.[1]).slice(0, 200);
  if (values.length === 0) return { code: text(FAULTCODE.exec(fault)?.[1]), subcodes: [], reason };
  return { code: values[0] as string, subcodes: values.slice(1), reason };
}

const localName = (qname: string): string => qname.slice(qname.lastIndexOf(':') + 1);

/**
 * Why a request failed: 'unauthorized' (ter:NotAuthorized, wsse:FailedAuthentication, HTTP 401/403),
 * 'not-supported' (no ONVIF there: 404/405/501, ter:ActionNotSupported), 'no-profile' (the token is
 * not the camera's), 'fault' (another SOAP fault), 'http-error' (another status), 'bad-answer' (200
 * that is not what was asked), 'timeout', 'unreachable' (connection refused, reset, DNS, TLS).
 */
export type OnvifFailureReason =
  | 'unauthorized'
  | 'not-supported'
  | 'no-profile'
  | 'fault'
  | 'http-error'
  | 'bad-answer'
  | 'timeout'
  | 'unreachable';

export type OnvifAnswer = { ok: true } | { ok: false; reason: OnvifFailureReason; detail: string };

/** Reads one HTTP answer to a SOAP request. `detail` holds status and fault codes, never credentials. */
export function classifyAnswer(status: number, xml: string): OnvifAnswer {
  const fault = parseFault(xml);
  if (fault) {
    const names = [fault.code, ...fault.subcodes].map(localName);
    const codes = [fault.code, ...fault.subcodes].filter(Boolean).join(' ');
    const detail = `HTTP ${status} ${codes}${fault.reason ? ` (${fault.reason})` : ''}`;
    if (names.some((n) => ['NotAuthorized', 'FailedAuthentication', 'FailedCheck', 'InvalidSecurity'].includes(n)))
      return { ok: false, reason: 'unauthorized', detail };
    if (names.some((n) => n === 'ActionNotSupported' || n === 'NoSuchService'))
      return { ok: false, reason: 'not-supported', detail };
    if (names.includes('NoProfile')) return { ok: false, reason: 'no-profile', detail };
    return { ok: false, reason: 'fault', detail };
  }
  if (status === 401 || status === 403) return { ok: false, reason: 'unauthorized', detail: `HTTP ${status}` };
  if (status === 404 || status === 405 || status === 501)
    return { ok: false, reason: 'not-supported', detail: `HTTP ${status}` };
  if (status < 200 || status > 299) return { ok: false, reason: 'http-error', detail: `HTTP ${status}` };
  if (!/<(?:[A-Za-z_][\w.-]*:)?Envelope\b/.test(xml)) return { ok: false, reason: 'bad-answer', detail: 'not SOAP' };
  return { ok: true };
}

/** Where and how to ask one stream variant's camera for keyframes (see onvifTarget). */
export interface OnvifTarget {
  /** The Media service URL, without credentials. */
  url: string;
  /** undefined: requests carry no WS-Security header. */
  user: string | undefined;
  password: string | undefined;
  /** Configured profile token; undefined: learnt with GetProfiles (the profileIndex-th). */
  profileToken: string | undefined;
  /** 0 for main, 1 for sub: which GetProfiles entry the variant's stream is. */
  profileIndex: number;
  timeoutMs: number;
}

const DEFAULT_TIMEOUT_MS = 2000;

/**
 * The ONVIF target of a camera's variant, or undefined when the camera has no `onvif` (absent or
 * false: ONVIF is off unless configured). Defaults: the URL http://<main RTSP host>/onvif/media_service;
 * the user and password of main's RTSP URL (the password only when `user` is unset or the same).
 */
export function onvifTarget(camera: CameraConfig, variant: 'main' | 'sub'): OnvifTarget | undefined {
  const o = camera.onvif;
  if (!o) return undefined;
  const rtsp = parseCameraUrl(camera.main.url);
  const host = rtsp.ok ? (rtsp.host.includes(':') ? `[${rtsp.host}]` : rtsp.host) : undefined;
  const url = o.url ?? (host !== undefined ? `http://${host}/onvif/media_service` : undefined);
  if (url === undefined) return undefined; // a main URL the loader would have refused
  const rtspUser = rtsp.ok ? rtsp.user : undefined;
  const user = o.user ?? rtspUser;
  const password = o.password ?? (rtsp.ok && user !== undefined && user === rtspUser ? rtsp.password : undefined);
  return {
    url,
    user,
    password,
    profileToken: variant === 'main' ? o.profileToken : o.subProfileToken,
    profileIndex: variant === 'main' ? 0 : 1,
    timeoutMs: o.timeoutSec !== undefined ? Math.round(o.timeoutSec * 1000) : DEFAULT_TIMEOUT_MS,
  };
}

/**
 * The forms the ONVIF password of `camera` can take in text (plain, as a JSON string shows it, XML
 * escaped), for redact(); add them to the camera's URL secrets. [] without an ONVIF password.
 */
export function onvifSecrets(camera: CameraConfig): string[] {
  const password = camera.onvif ? camera.onvif.password : undefined;
  if (!password) return [];
  return [...new Set([password, JSON.stringify(password).slice(1, -1), escapeXml(password)])];
}
