// The iframe embed (/embed/<stream>?token=...): one <cctv-player> filling the frame. Same origin as
// the gateway, so it needs no allowedOrigins entry. Options: &variant=sub (data saver), &stats=1,
// &latency=low (no smoothing delay, for steady networks).
import type { CctvPlayerElement } from './cctv-player.js';
import { defineCctvPlayer } from './cctv-player.js';
import { latencyParam } from './GatewayClient.js';

defineCctvPlayer();
const params = new URLSearchParams(location.search);
const stream = decodeURIComponent(/^\/embed\/([^/?#]+)/.exec(location.pathname)?.[1] ?? params.get('stream') ?? '');
const el = document.createElement('cctv-player') as CctvPlayerElement;
el.setAttribute('fill', '');
el.setAttribute('gateway', location.origin);
el.setAttribute('stream', stream);
el.setAttribute('token', params.get('token') ?? '');
if (params.get('variant') === 'sub') el.setAttribute('variant', 'sub');
if (params.get('stats') === '1') el.setAttribute('stats', '');
el.setAttribute('latency', latencyParam(params));
document.body.append(el);
// The same probe as the gateway's own player page, for tests and the console.
(window as unknown as { cctvPlayer: unknown }).cctvPlayer = el.probe;
// The host page may hand over a fresh token: iframe.contentWindow.postMessage({cctvToken: '...'}, gatewayOrigin)
window.addEventListener('message', (ev) => {
  if (ev.source !== window.parent) return;
  const t = (ev.data as { cctvToken?: unknown } | null)?.cctvToken;
  if (typeof t === 'string' && t) void el.setToken(t);
});
