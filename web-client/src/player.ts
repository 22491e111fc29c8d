// Player page: pick a stream, watch it, see codec / resolution / fps / bitrate.
import { GatewayClient, type GatewayError, type Watch } from './GatewayClient.js';

interface StreamSummary {
  id: string;
  name: string;
  kecamatan?: string;
  variants: ('main' | 'sub')[];
  state: string;
}

interface PlayerProbe {
  stream: string | null;
  state: string;
  error: string | null;
  framesDecoded: number;
  codec: string | null;
  requestedAt: number | null;
  firstFrameAt: number | null;
}

const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;
const video = $<HTMLVideoElement>('#video');
const list = $<HTMLUListElement>('#streams');
const statusEl = $<HTMLElement>('#status');
const statsEl = $<HTMLElement>('#stats');
const titleEl = $<HTMLElement>('#title');

// Read by the browser tests and handy in the console.
const probe: PlayerProbe = {
  stream: null,
  state: 'connecting',
  error: null,
  framesDecoded: 0,
  codec: null,
  requestedAt: null,
  firstFrameAt: null,
};
(window as unknown as { cctvPlayer: PlayerProbe }).cctvPlayer = probe;
// Lets a page (or a test) hand over a fresh token before the current one expires.
(window as unknown as { cctvSetToken: (t: string) => Promise<void> }).cctvSetToken = (t) => client.setToken(t);

const params = new URLSearchParams(location.search);
const token = params.get('token') ?? sessionStorage.getItem('cctv-token') ?? '';
if (params.get('token')) {
  sessionStorage.setItem('cctv-token', token);
  history.replaceState(null, '', location.pathname + (params.get('stream') ? `?stream=${params.get('stream')}` : ''));
}

function setStatus(state: string, text: string): void {
  probe.state = state;
  statusEl.dataset['state'] = state;
  statusEl.textContent = text;
}

const client = new GatewayClient(GatewayClient.defaultUrl(), token);
let current: Watch | undefined;

async function play(s: StreamSummary): Promise<void> {
  current?.close();
  current = undefined;
  for (const li of list.querySelectorAll('button')) li.setAttribute('aria-pressed', String(li.dataset['id'] === s.id));
  titleEl.textContent = s.name;
  Object.assign(probe, { stream: s.id, error: null, framesDecoded: 0, codec: null, firstFrameAt: null });
  setStatus('starting', 'Connecting to camera…');
  history.replaceState(null, '', `${location.pathname}?stream=${encodeURIComponent(s.id)}`);
  try {
    const w = await client.watch(s.id, 'main');
    current = w;
    probe.requestedAt = w.requestedAt;
    video.srcObject = w.media;
    await video.play().catch(() => {});
  } catch (err) {
    const e = err as GatewayError;
    probe.error = e.code ?? 'E_INTERNAL';
    setStatus('error', `${e.message} (${probe.error})`);
  }
}

// Count decoded frames as they are presented; the first one marks time to first frame.
const onFrame = () => {
  probe.framesDecoded++;
  if (probe.firstFrameAt === null) {
    probe.firstFrameAt = performance.now();
    setStatus('live', 'Live');
  }
  video.requestVideoFrameCallback(onFrame);
};
video.requestVideoFrameCallback(onFrame);

let lastBytes = 0;
let lastAt = 0;
setInterval(async () => {
  const consumer = current?.consumers.find((c) => c.kind === 'video');
  if (!consumer) return;
  const stats = await consumer.getStats();
  for (const s of stats.values()) {
    if (s.type !== 'inbound-rtp') continue;
    const codec = s.codecId ? stats.get(s.codecId) : undefined;
    probe.codec = codec?.mimeType ?? null;
    const now = s.timestamp as number;
    const kbps = lastAt ? (((s.bytesReceived as number) - lastBytes) * 8) / (now - lastAt) : 0;
    lastBytes = s.bytesReceived as number;
    lastAt = now;
    statsEl.textContent = [
      `codec ${probe.codec ?? '?'}${codec?.sdpFmtpLine ? ` (${/profile-level-id=(\w+)/.exec(codec.sdpFmtpLine)?.[1] ?? ''})` : ''}`,
      `${s.frameWidth ?? '?'}×${s.frameHeight ?? '?'}`,
      `${Math.round((s.framesPerSecond as number) ?? 0)} fps`,
      `${Math.round(kbps)} kbit/s`,
      `lost ${s.packetsLost ?? 0}`,
    ].join(' · ');
  }
}, 1000);

client.on('consumerClosed', (d) => {
  const reason = String(d['reason'] ?? '');
  if (!current?.consumers.some((c) => c.id === d['consumerId'])) return;
  if (reason.startsWith('E_')) {
    probe.error = reason;
    setStatus(
      'error',
      reason === 'E_AUTH_EXPIRED' ? 'Your session expired: open a fresh link (E_AUTH_EXPIRED)' : `Stopped (${reason})`,
    );
  }
});

client.on('streamState', (d) => {
  if (d['stream'] !== probe.stream) return;
  if (d['state'] === 'live') setStatus('live', 'Live');
  else if (d['state'] === 'stalled' || d['state'] === 'error')
    setStatus('reconnecting', 'Camera offline — reconnecting…');
});

async function main(): Promise<void> {
  if (!token) {
    setStatus('error', 'No access token: open the link printed by the gateway (…/?token=…).');
    return;
  }
  await client.connect();
  const { streams } = (await client.request('listStreams')) as { streams: StreamSummary[] };
  list.replaceChildren(
    ...streams.map((s) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.dataset['id'] = s.id;
      b.innerHTML = '<span class="name"></span><span class="district"></span>';
      (b.querySelector('.name') as HTMLElement).textContent = s.name;
      (b.querySelector('.district') as HTMLElement).textContent = s.kecamatan ?? '';
      b.onclick = () => void play(s);
      li.append(b);
      return li;
    }),
  );
  const wanted = streams.find((s) => s.id === params.get('stream')) ?? streams[0];
  if (wanted) await play(wanted);
  else setStatus('error', 'This token may not watch any stream.');
}

main().catch((err: Error) => {
  probe.error = (err as GatewayError).code ?? 'E_INTERNAL';
  setStatus('error', `${err.message}`);
});
