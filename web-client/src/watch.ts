// Single-stream view for phones and desks (/m/ID; /watch.html?stream=ID and /?stream=ID become /m/ID):
// one office at a time, next/previous office, muted inline autoplay, a data-saver choice (sub
// variant), stats, and clear states for connecting, offline camera and forbidden stream. The address
// and the web app manifest always name the camera shown, so "add to home screen" reopens it. Keeps
// the player probe (window.cctvPlayer) and window.cctvSetToken that the browser tests and embedding
// pages use, and window.cctvAccess (token or session). The camera's snapshot is asked for at script
// start, beside signaling, and shows until live video has its first frame (window.cctvPoster).

import { emblem, h, icon, normalise } from './dom.js';
import { type EarlySnapshot, primed, SAVER_KEY, streamFromAddress } from './earlyPoster.js';
import {
  GatewayClient,
  type GatewayError,
  iceParam,
  latencyParam,
  type StreamSummary,
  type Variant,
} from './GatewayClient.js';
import { LivePlayer, type PlayerProbe } from './LivePlayer.js';
import { AUTH_ENDED_LABEL, CITY, errorText, isAuthEnded, ORG, STATE_LABEL, stateTone, UI } from './labels.js';
import type { PosterProbe } from './Poster.js';
import {
  type Access,
  type AccessProbe,
  accessProbe,
  endedText,
  liveToken,
  signOutControl,
  startAccess,
} from './session.js';
import { snapshotSource } from './snapshot.js';
import { STAGE_CSS, Stage } from './stage.js';
import { sortStreams } from './streams.js';

/** Address parameters the view keeps beside the camera in /m/<id>. */
const KEPT = ['latency', 'ice'];

/** The view's canonical address for a camera: /m/<id> plus the kept parameters. */
export function watchPath(stream: string, params = new URLSearchParams(location.search)): string {
  const rest = new URLSearchParams();
  for (const k of KEPT) {
    const v = params.get(k);
    if (v !== null) rest.set(k, v);
  }
  const q = rest.toString();
  return `/m/${encodeURIComponent(stream)}${q ? `?${q}` : ''}`;
}

/** The address bar and the manifest name `stream` ("add to home screen" then reopens it). */
function showInAddress(stream: string): void {
  const path = watchPath(stream);
  if (location.pathname + location.search !== path) history.replaceState(null, '', path);
  let link = document.querySelector<HTMLLinkElement>('link[rel="manifest"]');
  if (!link) {
    link = h('link', { rel: 'manifest' });
    document.head.append(link);
  }
  link.href = `/m/${encodeURIComponent(stream)}/manifest.webmanifest`;
}

/** What watch.html has for the home screen, also when the view is opened at /?stream= (index.html). */
function ensureHomeScreenTags(): void {
  if (!document.querySelector('meta[name="apple-mobile-web-app-capable"]'))
    document.head.append(h('meta', { name: 'apple-mobile-web-app-capable', content: 'yes' }));
  if (!document.querySelector('link[rel="apple-touch-icon"]'))
    document.head.append(h('link', { rel: 'apple-touch-icon', href: '/favicon.svg' }));
}

/** `early`: the snapshot app.ts asked for at script start (the poster takes it instead of asking again). */
/** How long the view waits for early.js's picture before it connects. */
const EARLY_WAIT_MS = 250;

export function startWatch(early: EarlySnapshot | null = null): void {
  performance.mark('cctv:view');
  let access: Access | undefined;
  // Runs takeToken() at once (before anything awaits): ?token= leaves the address bar now.
  const accessReady = startAccess({
    keep: ['stream', ...KEPT],
    onToken: (t) => useToken(t),
    onEnded: (reason) => {
      // Ended (also when only the renewal found out): the view stops and says so, neutrally.
      if (isAuthEnded(player.probe.error)) renderStatus();
      else {
        player.stop(false);
        showFatal('E_AUTH_EXPIRED', endedText(reason));
      }
    },
  });
  // The token startAccess just took from the address or the tab (none: the sign-in cookie), so the
  // poster need not wait for the session's answer.
  const earlyToken = liveToken(sessionStorage.getItem('cctv-token') ?? '');
  const params = new URLSearchParams(location.search);
  let wanted = streamFromAddress();
  ensureHomeScreenTags();
  if (wanted) showInAddress(wanted);

  document.head.append(h('style', {}, STAGE_CSS));
  const client = new GatewayClient(GatewayClient.defaultUrl(), '', {
    latency: latencyParam(params),
    iceTransportPolicy: iceParam(params),
  });
  const video = h('video', { muted: true, autoplay: true, playsinline: true });
  const player = new LivePlayer(client, video);
  const snapshots = primed(snapshotSource({ base: location.origin, token: () => access?.token || earlyToken }), early);
  const stage = new Stage(player, { videoId: 'video', snapshots });

  // Synchronously, before anything awaits: the tests read these right after the page loads.
  const w = window as unknown as {
    cctvPlayer: PlayerProbe;
    cctvSetToken: (t: string) => Promise<void>;
    cctvAccess: AccessProbe;
    cctvPoster: PosterProbe;
    /** early.js: settles once its picture is up, or there is none. */
    cctvEarlyShown?: Promise<void>;
  };
  w.cctvPlayer = player.probe;
  w.cctvPoster = stage.poster.probe;
  w.cctvAccess = { kind: 'pending' };
  w.cctvSetToken = async (t: string) => {
    sessionStorage.setItem('cctv-token', t);
    access?.useToken(t);
    await useToken(t);
  };
  /** A fresh token (renewed session or handed over): the connection keeps going, a stopped player plays again. */
  async function useToken(t: string): Promise<void> {
    await client.setToken(t);
    if (!started) void start();
    else if (isAuthEnded(player.probe.error)) player.retryNow();
  }
  // Access refused (the player, the socket): the session renews, or the banner says why.
  player.addEventListener('error', (ev) => {
    if (isAuthEnded((ev as CustomEvent<{ code?: string }>).detail.code)) access?.lost();
  });
  client.on('authExpired', (d) => access?.lost(typeof d['reason'] === 'string' ? d['reason'] : null));

  let streams: StreamSummary[] = [];
  let current: StreamSummary | undefined;
  let saver = localStorage.getItem(SAVER_KEY) === '1';

  const title = h('h1', { id: 'title' }, UI.connecting);
  const meta = h('p', { class: 'meta' });
  // The stage shows the state; this copy is for scripts that read #status (and screen readers).
  const status = h('span', { id: 'status', class: 'sr-only', 'data-state': 'connecting' });
  // The state in short, under the picture (the stage's own badge would cover the camera's clock).
  const stateBadge = h('span', { class: 'badge', 'aria-hidden': 'true' }, h('i', { class: 'dot' }), h('span'));
  const prevBtn = h(
    'button',
    { type: 'button', class: 'btn nav', onclick: () => step(-1), 'aria-label': UI.prevOffice },
    icon('prev', 22),
    h('span', {}, UI.prev),
  );
  const nextBtn = h(
    'button',
    { type: 'button', class: 'btn nav', onclick: () => step(1), 'aria-label': UI.nextOffice },
    h('span', {}, UI.next),
    icon('next', 22),
  );
  const saverBtn = h(
    'button',
    { type: 'button', class: 'btn toggle', id: 'saver', 'aria-pressed': String(saver), onclick: () => toggleSaver() },
    icon('saver'),
    h('span', {}, UI.saver),
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
    h('span', {}, UI.stats),
  );
  const hint = h('p', { class: 'hint', id: 'variant-hint' });
  const search = h('input', {
    type: 'search',
    id: 'search',
    placeholder: UI.searchOfficeOrKecPlaceholder,
    autocomplete: 'off',
    'aria-label': UI.searchOfficeOrKec,
  });
  const list = h('ul', { id: 'streams', class: 'office-list' });
  const pickerCount = h('span', { class: 'count' });
  const who = h('div', { class: 'who', hidden: true });

  document.body.classList.add('watch-page');
  document.body.replaceChildren(
    h('a', { class: 'skip', href: '#title' }, UI.skipToVideo),
    h(
      'header',
      { class: 'topbar' },
      h(
        'a',
        { class: 'brand', href: '/', 'aria-label': `${CITY} — kembali ke dinding kamera` },
        emblem(),
        h('span', { class: 'brand-text' }, h('b', {}, `CCTV ${CITY}`), h('small', {}, ORG)),
      ),
      h(
        'div',
        { class: 'topbar-right' },
        who,
        h('a', { class: 'btn ghost', href: '/' }, icon('grid'), h('span', {}, UI.allCameras)),
      ),
    ),
    h(
      'main',
      { class: 'watch' },
      h(
        'section',
        { class: 'player-col', 'aria-labelledby': 'title' },
        stage.el,
        h('div', { class: 'now' }, h('div', { class: 'now-text' }, title, meta, stateBadge), status),
        h('div', { class: 'nav-row' }, prevBtn, nextBtn),
        h('div', { class: 'opt-row' }, saverBtn, statsBtn),
        hint,
      ),
      h(
        'aside',
        { class: 'picker', 'aria-label': UI.officeList },
        h('h2', {}, `${UI.offices} `, pickerCount),
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
    // Access ended: a pause (the banner says why), not the camera's error.
    const authEnded = s === 'error' && isAuthEnded(e);
    status.toggleAttribute('data-auth-ended', authEnded);
    stateBadge.dataset['tone'] = authEnded ? 'neutral' : stateTone(s);
    (stateBadge.lastElementChild as HTMLElement).textContent = authEnded ? AUTH_ENDED_LABEL : STATE_LABEL[s];
    // In words (Indonesian); the gateway's own English sentence stays for scripts in data-detail.
    status.dataset['detail'] = e ? (player.errorMessage ?? '') : '';
    status.textContent = e
      ? `${authEnded ? AUTH_ENDED_LABEL : STATE_LABEL[s]}: ${errorText(e, player.errorMessage ?? undefined, reason)} (${e})`
      : STATE_LABEL[s];
  };
  /** Only what can work is enabled: stepping needs other offices, stats a picture, data saver a camera. */
  const renderControls = () => {
    const s = player.state;
    const canStep = streams.length > 1 || (streams.length === 1 && streams[0] !== current);
    prevBtn.disabled = !canStep;
    nextBtn.disabled = !canStep;
    const failed = s === 'error' || s === 'forbidden' || !current;
    saverBtn.disabled = failed;
    statsBtn.disabled = !(s === 'live' || s === 'stalled' || stage.statsVisible);
  };
  player.addEventListener('statechange', renderStatus);
  player.addEventListener('statechange', renderControls);
  renderStatus();
  renderControls();
  // The poster first: before the access, the stream list and signaling (they follow in parallel).
  if (wanted) stage.posterBinding.want(wanted, saver ? 'sub' : 'main');

  const variantFor = (s: StreamSummary): Variant => (saver && s.variants.includes('sub') ? 'sub' : 'main');

  const renderHint = () => {
    if (!current) {
      hint.textContent = '';
      return;
    }
    const hasSub = current.variants.includes('sub');
    hint.textContent = saver ? (hasSub ? UI.saverOnSub : UI.saverOnNoSub) : hasSub ? UI.fullWithSub : UI.fullOnly;
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
    showInAddress(s.id);
    renderHint();
    renderControls();
    await player.play(s.id, variantFor(s));
  }

  function step(d: number): void {
    if (streams.length === 0) return;
    // From a camera outside the list (refused): to the list's first or last.
    const i = current ? streams.indexOf(current) : d > 0 ? -1 : 0;
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
      const g = s.kecamatan ?? UI.otherGroup;
      if (g !== group) {
        group = g;
        items.push(h('li', { class: 'group', role: 'presentation' }, s.kecamatan ? `Kecamatan ${g}` : g));
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
    if (shown === 0) items.push(h('li', { class: 'empty' }, UI.noMatchOffice));
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
    // The office's name where the list has it (never the bare id); the reason under it.
    const name = streams.find((x) => x.id === wanted)?.name;
    const what =
      code === 'E_FORBIDDEN_STREAM' ? STATE_LABEL.forbidden : isAuthEnded(code) ? AUTH_ENDED_LABEL : UI.cannotPlay;
    title.textContent = name ? `${name}: ${what}` : what;
    meta.textContent = errorText(code, message);
    stage.render();
    renderStatus();
    renderControls();
  };

  /** Lists the streams and plays the wanted one (again after a renewed token, if the first try was refused). */
  let started = false;
  async function start(): Promise<void> {
    started = true;
    await main().catch((err: GatewayError) => {
      if (isAuthEnded(err.code)) {
        started = false;
        access?.lost(err.reason);
      }
      showFatal(err.code ?? 'E_INTERNAL', err.message);
    });
  }

  async function main(): Promise<void> {
    // early.js's picture first (EARLY_WAIT_MS at most): the connection's work (WebSocket, access,
    // mediasoup-client) would otherwise hold the main thread while that picture comes in.
    await Promise.race([w.cctvEarlyShown, new Promise((r) => setTimeout(r, EARLY_WAIT_MS))]);
    await client.connect();
    streams = sortStreams(await client.listStreams());
    renderList();
    renderControls();
    const s = streams.find((x) => x.id === wanted) ?? (wanted ? undefined : streams[0]);
    if (s) await play(s);
    else if (wanted) {
      // Not in this token's list (its name unknown here): ask anyway, so the gateway names the reason
      // (E_FORBIDDEN_STREAM); the page says the camera is outside this access, not its bare id.
      title.textContent = UI.notListed;
      stage.setTitle(UI.notListed);
      showInAddress(wanted);
      await player.play(wanted, 'main');
    } else showFatal('E_FORBIDDEN_STREAM', UI.noCameraAllowed);
  }

  void accessReady.then((a) => {
    access = a;
    w.cctvAccess = accessProbe(a);
    if (a.kind === 'none') {
      // 'missing': on the way to the sign-in page; otherwise the banner says why.
      if (a.reason === 'unavailable') showFatal('E_UNAUTHENTICATED', UI.noToken);
      else if (a.reason === 'missing') title.textContent = UI.toSignIn;
      else showFatal('E_AUTH_EXPIRED', endedText(a.reason));
      return;
    }
    if (a.kind === 'session') {
      who.replaceChildren(...signOutControl(a.identity));
      who.hidden = false;
    }
    void client.setToken(a.token).then(start);
  });
}
