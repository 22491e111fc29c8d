// The iframe embed (/embed/<stream>?token=...): one <cctv-player> filling the frame. Same origin as
// the gateway, so it needs no allowedOrigins entry. Options: &variant=sub (data saver), &stats=1,
// &latency=low (no smoothing delay, for steady networks). Without ?token= it uses the viewer's
// sign-in session when the frame gets the cookie (same site), renewed like the gateway's own pages.
// When access ends the frame says so (a banner whose sign-in link opens a new tab: a third-party
// frame gets no cookie) and tells its host: postMessage({type: 'cctv:auth-expired', stream, code, reason}).
// It also tells its host its state and errors ({type: 'cctv-player', event: 'state' | 'error', ...}), but
// only to the host's own origin and only when the gateway allows that origin (signaling.allowedOrigins):
// the host is named by ?origin=, else by the frame's ancestorOrigins or referrer, and the gateway is asked.
import type { AuthExpiredDetail, CctvPlayerElement } from './cctv-player.js';
import { defineCctvPlayer } from './cctv-player.js';
import { latencyParam } from './GatewayClient.js';
import { type Access, accessProbe, startAccess, TOKEN_ENDED } from './session.js';

defineCctvPlayer();
const params = new URLSearchParams(location.search);
const stream = decodeURIComponent(/^\/embed\/([^/?#]+)/.exec(location.pathname)?.[1] ?? params.get('stream') ?? '');
const given = params.get('token') ?? '';
const el = document.createElement('cctv-player') as CctvPlayerElement;
el.setAttribute('fill', '');
el.setAttribute('gateway', location.origin);
el.setAttribute('stream', stream);
el.setAttribute('token', given);
// No token in the address: wait for the session's token before playing.
if (!given) el.setAttribute('autoplay', 'false');
if (params.get('variant') === 'sub') el.setAttribute('variant', 'sub');
if (params.get('stats') === '1') el.setAttribute('stats', '');
el.setAttribute('latency', latencyParam(params));
/** What the frame tells its host page about the player (web-client/README.md, "iframe"). */
export type EmbedMessage =
  | { type: 'cctv-player'; event: 'state'; stream: string; state: string }
  | { type: 'cctv-player'; event: 'error'; stream: string; code: string; message: string };

/** The host page's origin as the frame can know it: ?origin=, else the ancestor's origin, else the referrer's. */
function hostOriginCandidate(): string | null {
  const given = params.get('origin');
  if (given) return given;
  const ancestors = (location as Location & { ancestorOrigins?: DOMStringList }).ancestorOrigins;
  if (ancestors?.length) return ancestors[0] ?? null;
  try {
    return document.referrer ? new URL(document.referrer).origin : null;
  } catch {
    return null;
  }
}

/** Resolves to the origin to post to, or null (no host, or one the gateway does not allow). */
const hostOrigin: Promise<string | null> =
  window.parent === window
    ? Promise.resolve(null)
    : (async () => {
        const candidate = hostOriginCandidate();
        if (!candidate) return null;
        try {
          const r = await fetch(`/api/embed/origin?origin=${encodeURIComponent(candidate)}`);
          const body = (await r.json()) as { origin: string | null; allowed: boolean };
          return r.ok && body.allowed ? body.origin : null;
        } catch {
          return null;
        }
      })();

/** Posts to the host page's origin only (never '*'): a page of another origin gets nothing. */
function post(msg: EmbedMessage): void {
  void hostOrigin.then((origin) => {
    if (origin) window.parent.postMessage(msg, origin);
  });
}

el.addEventListener('statechange', (ev) => {
  const { state } = (ev as CustomEvent<{ state: string }>).detail;
  post({ type: 'cctv-player', event: 'state', stream, state });
});
el.addEventListener('error', (ev) => {
  const { code, message } = (ev as unknown as CustomEvent<{ code: string; message: string }>).detail;
  post({ type: 'cctv-player', event: 'error', stream, code, message });
});
(window as unknown as { cctvHostOrigin: Promise<string | null> }).cctvHostOrigin = hostOrigin;

document.body.append(el);
// The same probe as the gateway's own player page, for tests and the console.
(window as unknown as { cctvPlayer: unknown; cctvAccess: unknown }).cctvPlayer = el.probe;
(window as unknown as { cctvPoster: unknown }).cctvPoster = el.poster;
(window as unknown as { cctvAccess: unknown }).cctvAccess = { kind: 'pending' };

let access: Access | undefined;
/** The player's word on the end (code, reason), until the access decides (renewed, or ended). */
let last: AuthExpiredDetail = { stream, code: 'E_AUTH_EXPIRED', reason: null };

/** Tells the host page (no token or other secret in it) that the frame needs a fresh token. */
function tellHost(code: string, reason: string | null): void {
  if (window.parent === window) return;
  window.parent.postMessage({ type: 'cctv:auth-expired', stream, code, reason }, '*');
}

const ready = startAccess({
  token: given,
  redirect: false,
  newTab: true,
  onToken: (t) => el.setToken(t),
  onEnded: (reason) => {
    if (reason === 'missing') tellHost('E_UNAUTHENTICATED', 'missing');
    else tellHost(last.code, reason === TOKEN_ENDED ? last.reason : reason);
  },
});
void ready.then((a) => {
  access = a;
  (window as unknown as { cctvAccess: unknown }).cctvAccess = accessProbe(a);
  if (a.kind === 'session') void el.setToken(a.token).then(() => el.play());
  // No sign-in on this gateway: play without a token, so the player says why (and cctv-auth-expired follows).
  else if (a.kind === 'none' && a.reason === 'unavailable') void el.play();
});

el.addEventListener('cctv-auth-expired', (ev) => {
  last = (ev as CustomEvent<AuthExpiredDetail>).detail;
  access?.lost(last.reason);
});

// The host page may hand over a fresh token: iframe.contentWindow.postMessage({cctvToken: '...'}, gatewayOrigin)
window.addEventListener('message', (ev) => {
  if (ev.source !== window.parent) return;
  const t = (ev.data as { cctvToken?: unknown } | null)?.cctvToken;
  if (typeof t !== 'string' || !t) return;
  access?.useToken(t);
  void el.setToken(t).then(() => {
    if (el.state === 'idle' || el.state === 'stopped') void el.play();
  });
});
