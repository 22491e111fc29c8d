// Single-stream view for phones and desks (/watch.html?stream=ID, /m/ID, and /?stream=ID): one office
// at a time, next/previous office, muted inline autoplay, a data-saver choice (sub variant), stats,
// and clear states for connecting, offline camera and forbidden stream. Keeps the player probe
// (window.cctvPlayer) and window.cctvSetToken that the browser tests and embedding pages use.

import { emblem, h, icon, normalise, takeToken } from './dom.js';
import {
  GatewayClient,
  type GatewayError,
  iceParam,
  latencyParam,
  type StreamSummary,
  type Variant,
} from './GatewayClient.js';
import { LivePlayer, type PlayerProbe } from './LivePlayer.js';
import { CITY, errorText, ORG, STATE_LABEL } from './labels.js';
import { STAGE_CSS, Stage } from './stage.js';
import { sortStreams } from './streams.js';

const SAVER_KEY = 'cctv-datasaver';

export function startWatch(): void {
  const token = takeToken(['stream', 'latency', 'ice']);
  const params = new URLSearchParams(location.search);
  const fromPath = /^\/m\/([^/]+)/.exec(location.pathname)?.[1];
  let wanted = fromPath ? decodeURIComponent(fromPath) : params.get('stream');

  document.head.append(h('style', {}, STAGE_CSS));
  const client = new GatewayClient(GatewayClient.defaultUrl(), token, {
    latency: latencyParam(params),
    iceTransportPolicy: iceParam(params),
  });
  const video = h('video', { muted: true, autoplay: true, playsinline: true });
  const player = new LivePlayer(client, video);
  const stage = new Stage(player, { videoId: 'video' });

  // Synchronously, before anything awaits: the tests read these right after the page loads.
  const w = window as unknown as { cctvPlayer: PlayerProbe; cctvSetToken: (t: string) => Promise<void> };
  w.cctvPlayer = player.probe;
  w.cctvSetToken = async (t: string) => {
    sessionStorage.setItem('cctv-token', t);
    await client.setToken(t);
    if (player.probe.error === 'E_AUTH_EXPIRED') player.retryNow();
  };

  let streams: StreamSummary[] = [];
  let current: StreamSummary | undefined;
  let saver = localStorage.getItem(SAVER_KEY) === '1';

  const title = h('h1', { id: 'title' }, 'Menghubungkan…');
  const meta = h('p', { class: 'meta' });
  // The stage shows the state; this copy is for scripts that read #status (and screen readers).
  const status = h('span', { id: 'status', class: 'sr-only', 'data-state': 'connecting' });
  const prevBtn = h(
    'button',
    { type: 'button', class: 'btn nav', onclick: () => step(-1), 'aria-label': 'Kantor sebelumnya' },
    icon('prev', 22),
    h('span', {}, 'Sebelumnya'),
  );
  const nextBtn = h(
    'button',
    { type: 'button', class: 'btn nav', onclick: () => step(1), 'aria-label': 'Kantor berikutnya' },
    h('span', {}, 'Berikutnya'),
    icon('next', 22),
  );
  const saverBtn = h(
    'button',
    { type: 'button', class: 'btn toggle', id: 'saver', 'aria-pressed': String(saver), onclick: () => toggleSaver() },
    icon('saver'),
    h('span', {}, 'Hemat data'),
  );
  const statsBtn = h(
    'button',
    {
      type: 'button',
      class: 'btn toggle',
      id: 'stats-toggle',
      'aria-pressed': 'false',
      onclick: () => {
        stage.toggleStats();
        statsBtn.setAttribute('aria-pressed', String(stage.statsVisible));
      },
    },
    icon('stats'),
    h('span', {}, 'Statistik'),
  );
  const hint = h('p', { class: 'hint', id: 'variant-hint' });
  const search = h('input', {
    type: 'search',
    id: 'search',
    placeholder: 'Cari kantor atau kecamatan…',
    autocomplete: 'off',
    'aria-label': 'Cari kantor atau kecamatan',
  });
  const list = h('ul', { id: 'streams', class: 'office-list' });
  const pickerCount = h('span', { class: 'count' });

  document.body.classList.add('watch-page');
  document.body.replaceChildren(
    h('a', { class: 'skip', href: '#title' }, 'Lompat ke video'),
    h(
      'header',
      { class: 'topbar' },
      h(
        'a',
        { class: 'brand', href: '/', 'aria-label': `${CITY} — kembali ke dinding kamera` },
        emblem(),
        h('span', { class: 'brand-text' }, h('b', {}, `CCTV ${CITY}`), h('small', {}, ORG)),
      ),
      h('a', { class: 'btn ghost', href: '/' }, icon('grid'), h('span', {}, 'Semua kamera')),
    ),
    h(
      'main',
      { class: 'watch' },
      h(
        'section',
        { class: 'player-col', 'aria-labelledby': 'title' },
        stage.el,
        h('div', { class: 'now' }, h('div', { class: 'now-text' }, title, meta), status),
        h('div', { class: 'nav-row' }, prevBtn, nextBtn),
        h('div', { class: 'opt-row' }, saverBtn, statsBtn),
        hint,
      ),
      h(
        'aside',
        { class: 'picker', 'aria-label': 'Daftar kantor' },
        h('h2', {}, 'Kantor ', pickerCount),
        h('label', { class: 'search' }, icon('search'), search),
        list,
      ),
    ),
    h('footer', { class: 'foot' }, `Pemerintah ${CITY} · Dinas Komunikasi dan Informatika`),
  );

  const renderStatus = () => {
    const s = player.state;
    status.dataset['state'] = s;
    // With an error: the gateway's own sentence and code too (scripts and tests read it).
    const e = player.probe.error;
    const reason = player.probe.reason;
    status.dataset['reason'] = reason ?? '';
    status.textContent = e
      ? `${STATE_LABEL[s]}: ${reason ? errorText(e, undefined, reason) : (player.errorMessage ?? errorText(e))} (${e})`
      : STATE_LABEL[s];
  };
  player.addEventListener('statechange', renderStatus);
  renderStatus();

  const variantFor = (s: StreamSummary): Variant => (saver && s.variants.includes('sub') ? 'sub' : 'main');

  const renderHint = () => {
    if (!current) {
      hint.textContent = '';
      return;
    }
    const hasSub = current.variants.includes('sub');
    hint.textContent = saver
      ? hasSub
        ? 'Hemat data aktif: memutar versi resolusi rendah (SD).'
        : 'Hemat data aktif, tetapi kamera ini hanya memiliki satu kualitas.'
      : hasSub
        ? 'Kualitas penuh (HD). Aktifkan Hemat data untuk versi SD.'
        : 'Kualitas penuh.';
  };

  async function play(s: StreamSummary): Promise<void> {
    current = s;
    wanted = s.id;
    title.textContent = s.name;
    document.title = `${s.name} — CCTV ${CITY}`;
    stage.setTitle(s.name);
    const i = streams.indexOf(s);
    meta.textContent = [s.kecamatan ? `Kecamatan ${s.kecamatan}` : null, `Kamera ${i + 1} dari ${streams.length}`]
      .filter(Boolean)
      .join(' · ');
    for (const b of list.querySelectorAll<HTMLButtonElement>('button[data-id]')) {
      b.setAttribute('aria-current', String(b.dataset['id'] === s.id));
    }
    const url = new URL(location.href);
    if (!fromPath) url.searchParams.set('stream', s.id);
    history.replaceState(null, '', url.pathname + url.search);
    renderHint();
    await player.play(s.id, variantFor(s));
  }

  function step(d: number): void {
    if (!current || streams.length === 0) return;
    const i = streams.indexOf(current);
    const next = streams[(i + d + streams.length) % streams.length];
    if (next) void play(next);
  }

  function toggleSaver(): void {
    saver = !saver;
    localStorage.setItem(SAVER_KEY, saver ? '1' : '0');
    saverBtn.setAttribute('aria-pressed', String(saver));
    if (current) void play(current);
  }

  const renderList = () => {
    const q = normalise(search.value.trim());
    const items: HTMLElement[] = [];
    let group: string | undefined;
    let shown = 0;
    for (const s of streams) {
      if (q && !normalise(`${s.name} ${s.kecamatan ?? ''}`).includes(q)) continue;
      shown++;
      const g = s.kecamatan ?? 'Lainnya';
      if (g !== group) {
        group = g;
        items.push(h('li', { class: 'group', role: 'presentation' }, `Kecamatan ${g}`));
      }
      items.push(
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              'data-id': s.id,
              'aria-current': String(s.id === current?.id),
              onclick: () => {
                void play(s);
                stage.el.scrollIntoView({ block: 'start', behavior: 'smooth' });
              },
            },
            h('span', { class: 'name' }, s.name),
            h('span', { class: 'office-district' }, s.kecamatan ?? ''),
          ),
        ),
      );
    }
    if (shown === 0) items.push(h('li', { class: 'empty' }, 'Tidak ada kantor yang cocok.'));
    list.replaceChildren(...items);
    pickerCount.textContent = `(${streams.length})`;
  };
  search.addEventListener('input', renderList);

  document.addEventListener('keydown', (ev) => {
    if (ev.target instanceof HTMLInputElement) return;
    if (ev.key === 'ArrowRight' || ev.key === 'PageDown') step(1);
    if (ev.key === 'ArrowLeft' || ev.key === 'PageUp') step(-1);
  });
  // Swipe left/right on the video for the next/previous office.
  let touchX: number | null = null;
  stage.el.addEventListener('touchstart', (e) => (touchX = e.touches[0]?.clientX ?? null), { passive: true });
  stage.el.addEventListener(
    'touchend',
    (e) => {
      const x = e.changedTouches[0]?.clientX;
      if (touchX !== null && x !== undefined && Math.abs(x - touchX) > 60) step(x < touchX ? 1 : -1);
      touchX = null;
    },
    { passive: true },
  );

  const showFatal = (code: string, message?: string) => {
    player.probe.error = code;
    player.errorMessage = message ?? null;
    player.probe.state = 'error';
    title.textContent = code === 'E_FORBIDDEN_STREAM' ? 'Akses ditolak' : 'Tidak dapat memutar';
    meta.textContent = errorText(code, message);
    stage.render();
    renderStatus();
  };

  async function main(): Promise<void> {
    if (!token) {
      showFatal('E_UNAUTHENTICATED', 'Tidak ada token akses: buka tautan yang diberikan gateway (…/?token=…).');
      return;
    }
    await client.connect();
    streams = sortStreams(await client.listStreams());
    renderList();
    const s = streams.find((x) => x.id === wanted) ?? (wanted ? undefined : streams[0]);
    if (s) await play(s);
    else if (wanted) {
      // Not in this token's list: ask anyway, so the gateway names the reason (E_FORBIDDEN_STREAM).
      title.textContent = wanted;
      stage.setTitle(wanted);
      await player.play(wanted, 'main');
    } else showFatal('E_FORBIDDEN_STREAM', 'Token ini tidak mengizinkan kamera mana pun.');
  }

  main().catch((err: GatewayError) => showFatal(err.code ?? 'E_INTERNAL', err.message));
}
