// The video stage every single-stream view shares (phone view, wall fullscreen, embed, <cctv-player>):
// the video, a status badge, a state message (connecting, offline, forbidden...) in words, the stats
// overlay and tool buttons. Its CSS is a string so a shadow root can carry it too. A poster (the
// stream's snapshot, then the last frame while reconnecting) covers the video until live frames come.
import { h, icon } from './dom.js';
import type { LivePlayer, PlayerState } from './LivePlayer.js';
import { AUTH_ENDED_LABEL, errorText, HEALTH_LABEL, isAuthEnded, STATE_LABEL, stateTone } from './labels.js';
import { PlayerPoster } from './PlayerPoster.js';
import { Poster } from './Poster.js';
import { type SnapshotSource, snapshotWidth } from './snapshot.js';
import { delayBreakdown, statsRows } from './stats.js';

export const STAGE_CSS = `
.stage{container-type:inline-size;position:relative;background:#000;overflow:hidden;border-radius:var(--stage-radius,14px);aspect-ratio:16/9;width:100%;color:#eef3f8;font:14px/1.4 var(--font,system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif);isolation:isolate;box-shadow:0 0 0 1px rgba(255,255,255,.06),0 18px 40px -18px rgba(0,0,0,.8)}
.stage video{position:absolute;inset:0;width:100%;height:100%;object-fit:contain;background:#000;transition:opacity .18s ease}
.stage video.pending{opacity:0}
.stage .under{z-index:0}.stage .main{z-index:1}
.stage .poster{position:absolute;z-index:1;inset:0;width:100%;height:100%;object-fit:contain;background:#000;pointer-events:none}
.stage .poster[hidden]{display:none}
.stage[data-poster] .stage-msg{background:linear-gradient(0deg,rgba(5,10,16,.55),rgba(5,10,16,.15) 45%,rgba(5,10,16,0));justify-content:flex-end;padding-bottom:3.6rem}
.stage[data-poster] .stage-msg p{display:none}
.stage-top{position:absolute;z-index:3;left:0;right:0;top:0;display:flex;gap:.6rem;align-items:center;padding:.7rem .8rem 1.6rem;background:linear-gradient(180deg,rgba(5,10,16,.78),rgba(5,10,16,0));pointer-events:none;transition:opacity .5s ease}
.stage[data-calm] .stage-top{opacity:0}.stage[data-calm]:hover .stage-top,.stage[data-calm]:focus-within .stage-top{opacity:1}
.stage-title{font-weight:600;text-shadow:0 1px 2px #000;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;min-width:0}
.badge{display:inline-flex;align-items:center;gap:.4em;padding:.22em .62em .22em .5em;border-radius:999px;font-size:.78rem;font-weight:700;letter-spacing:.02em;background:rgba(10,16,24,.82);border:1px solid rgba(255,255,255,.14);white-space:nowrap;flex:none}
.badge .dot{width:.55em;height:.55em;border-radius:50%;background:#8a98a8}
.badge[data-tone=live]{color:#d9ffe6;border-color:rgba(46,204,113,.55)}
.badge[data-tone=live] .dot{background:#2ecc71;box-shadow:0 0 0 0 rgba(46,204,113,.7);animation:pulse 2s infinite}
.badge[data-tone=starting]{color:#ffe9bf;border-color:rgba(245,166,35,.55)}
.badge[data-tone=starting] .dot{background:#f5a623}
.badge[data-tone=offline]{color:#ffd6d6;border-color:rgba(255,99,99,.6)}
.badge[data-tone=offline] .dot{background:#ff5f5f}
@keyframes pulse{0%{box-shadow:0 0 0 0 rgba(46,204,113,.6)}70%{box-shadow:0 0 0 .45em rgba(46,204,113,0)}100%{box-shadow:0 0 0 0 rgba(46,204,113,0)}}
.stage-msg{position:absolute;z-index:2;inset:0;display:flex;flex-direction:column;align-items:center;justify-content:center;gap:.45rem;text-align:center;padding:1.5rem;background:radial-gradient(ellipse at center,rgba(16,27,40,.92),rgba(6,10,15,.96))}
.stage-msg[hidden]{display:none}
.stage-msg strong{font-size:1.15rem;font-weight:700}
.stage-msg p{margin:0;max-width:32rem;color:#c3cfdb}
.stage-msg code{font:600 .78rem/1 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#9fb1c2;background:rgba(255,255,255,.06);border:1px solid rgba(255,255,255,.1);padding:.35em .55em;border-radius:6px}
.stage-msg .ico{display:grid;place-items:center;width:3rem;height:3rem;border-radius:50%;background:rgba(255,255,255,.06);color:#9fb1c2}
.stage-msg[data-tone=offline] .ico{color:#ff7b7b;background:rgba(255,95,95,.12)}
.spinner{width:2.4rem;height:2.4rem;border-radius:50%;border:3px solid rgba(255,255,255,.14);border-top-color:#f2c55c;animation:spin 0.9s linear infinite}
@keyframes spin{to{transform:rotate(360deg)}}
@media (prefers-reduced-motion:reduce){.spinner,.badge .dot{animation:none!important}}
.stage-stats{position:absolute;z-index:4;right:.7rem;bottom:3.4rem;min-width:15rem;padding:.6rem .8rem;border-radius:10px;background:rgba(6,11,17,.86);border:1px solid rgba(255,255,255,.12);backdrop-filter:blur(6px);font-size:.8rem}
.stage-stats[hidden]{display:none}
.stage-stats dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:.18rem .9rem}
.stage-stats dt{color:#9fb1c2}
.stage-stats dd{margin:0;white-space:nowrap;text-align:right;font-variant-numeric:tabular-nums;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.stage-tools{position:absolute;z-index:4;right:.6rem;bottom:.6rem;display:flex;gap:.4rem}
.stage-tools button{display:inline-flex;align-items:center;justify-content:center;gap:.35rem;min-width:2.5rem;height:2.5rem;padding:0 .6rem;border-radius:10px;border:1px solid rgba(255,255,255,.16);background:rgba(8,14,21,.78);color:#eef3f8;font:inherit;font-size:.8rem;cursor:pointer}
.stage-tools button:hover{background:rgba(30,44,60,.92)}
.stage-tools button[aria-pressed=true]{border-color:#f2c55c;color:#ffe6a8}
.stage:focus-visible,.stage-tools button:focus-visible{outline:3px solid #5fb7ff;outline-offset:2px}
.stage-tools button[hidden]{display:none}
.stage-tools{transition:opacity .15s}
@media (hover:hover){.stage:not(:hover):not(:focus-within):not([data-stats]) .stage-tools{opacity:0}}
@container (max-width:520px){
.stage-msg{gap:.3rem;padding:1rem 1rem 3.4rem;font-size:.82rem}
.stage-msg strong{font-size:1rem}
.stage-msg .ico{width:2.3rem;height:2.3rem}
.stage-msg .ico svg{width:20px;height:20px}
.spinner{width:1.9rem;height:1.9rem}
.stage-top{padding:.5rem .55rem 1.2rem;gap:.45rem;font-size:.82rem}
.stage-stats{left:.5rem;right:auto;top:2.6rem;bottom:auto;min-width:12.5rem;padding:.4rem .6rem;font-size:.72rem}
.stage-stats dl{gap:.05rem .8rem}
.stage-tools{right:.4rem;bottom:.4rem}
.stage-tools button{min-width:2.2rem;height:2.2rem}
}
.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}
`;

export interface StageOptions {
  /** Text beside the badge (the office name). */
  title?: string;
  /** Show the tool buttons (stats, sound, fullscreen). Default true. */
  tools?: boolean;
  /** id for the <video> (the player page keeps #video for the tests). */
  videoId?: string;
  /** Where the poster's snapshots come from; without it only pictures handed over (adopt, capture) show. */
  snapshots?: SnapshotSource;
}

/** Live this long (ms): the bar over the picture fades out until a pointer or focus is on the player. */
const CALM_AFTER_MS = 4000;
/** A stage's poster is asked for at most this many device pixels wide. */
const POSTER_MAX_WIDTH = 1920;

const DETAIL: Partial<Record<PlayerState, string>> = {
  connecting: 'Menghubungkan ke gateway CCTV…',
  starting: 'Menunggu gambar pertama dari kamera…',
  reconnecting: 'Koneksi terputus. Menyambung ulang otomatis…',
  stalled: 'Gambar berhenti. Menunggu kamera…',
  offline: 'Kamera tidak mengirim gambar. Dicoba lagi otomatis.',
  busy: 'Gateway sedang mencapai batas penonton. Dicoba lagi otomatis.',
  stopped: 'Pemutaran dihentikan.',
  idle: 'Pilih kamera untuk diputar.',
};

export class Stage {
  readonly el: HTMLDivElement;
  readonly badge: HTMLSpanElement;
  #calmTimer: ReturnType<typeof setTimeout> | undefined;
  readonly titleEl: HTMLSpanElement;
  readonly msg: HTMLDivElement;
  readonly statsEl: HTMLDivElement;
  readonly statsBtn: HTMLButtonElement;
  readonly soundBtn: HTMLButtonElement;
  readonly fullBtn: HTMLButtonElement;
  /** The stream's snapshot over the video until live frames come (and the last frame while reconnecting). */
  readonly poster: Poster;
  readonly posterBinding: PlayerPoster;
  #statsOn = false;

  constructor(
    readonly player: LivePlayer,
    opts: StageOptions = {},
  ) {
    const video = player.video;
    video.classList.add('main');
    if (opts.videoId) video.id = opts.videoId;
    video.setAttribute('aria-label', opts.title ? `Video langsung: ${opts.title}` : 'Video langsung');
    this.badge = h('span', { class: 'badge', 'data-tone': 'starting' }, h('i', { class: 'dot' }), h('span'));
    this.titleEl = h('span', { class: 'stage-title' }, opts.title ?? '');
    this.msg = h('div', { class: 'stage-msg', role: 'status', 'aria-live': 'polite' });
    this.statsEl = h('div', { class: 'stage-stats', hidden: true, 'aria-label': 'Statistik video' });
    this.statsBtn = h(
      'button',
      {
        type: 'button',
        class: 'tool-stats',
        'aria-pressed': 'false',
        title: 'Statistik video (S)',
        onclick: () => this.toggleStats(),
      },
      icon('stats'),
      h('span', { class: 'sr-only' }, 'Statistik'),
    );
    this.soundBtn = h(
      'button',
      {
        type: 'button',
        class: 'tool-sound',
        hidden: true,
        'aria-pressed': 'false',
        title: 'Suara',
        onclick: () => this.toggleSound(),
      },
      icon('mute'),
      h('span', { class: 'sr-only' }, 'Suara'),
    );
    this.fullBtn = h(
      'button',
      { type: 'button', class: 'tool-full', title: 'Layar penuh (F)', onclick: () => this.fullscreen() },
      icon('expand'),
      h('span', { class: 'sr-only' }, 'Layar penuh'),
    );
    const tools =
      opts.tools === false ? null : h('div', { class: 'stage-tools' }, this.soundBtn, this.statsBtn, this.fullBtn);
    this.poster = new Poster(opts.snapshots);
    this.el = h(
      'div',
      { class: 'stage', tabindex: '0', role: 'region', 'aria-label': 'Pemutar video (S: statistik, F: layar penuh)' },
      video,
      this.poster.el,
      h('div', { class: 'stage-top' }, this.badge, this.titleEl),
      this.msg,
      this.statsEl,
      tools,
    );
    this.el.addEventListener('keydown', (ev) => {
      if (ev.target instanceof HTMLInputElement) return;
      if (ev.key === 's' || ev.key === 'S') this.toggleStats();
      if (ev.key === 'f' || ev.key === 'F') this.fullscreen();
    });
    this.posterBinding = new PlayerPoster(this.poster, player, {
      width: () => Math.min(POSTER_MAX_WIDTH, snapshotWidth(this.el.clientWidth, devicePixelRatio)),
      onChange: (shown) => this.el.toggleAttribute('data-poster', shown),
    });
    player.addEventListener('statechange', () => this.render());
    player.addEventListener('stats', () => this.#renderStats());
    player.addEventListener('error', () => this.render());
    this.render();
  }

  setTitle(t: string): void {
    this.titleEl.textContent = t;
    this.player.video.setAttribute('aria-label', `Video langsung: ${t}`);
  }

  /**
   * Live for a few seconds: the bar over the picture (badge, name) fades out, so it does not cover
   * what cameras draw there (most put their clock top left); a pointer or focus brings it back, and
   * so does any other state.
   */
  #calmWhenLive(live: boolean): void {
    if (!live) {
      clearTimeout(this.#calmTimer);
      this.#calmTimer = undefined;
      this.el.removeAttribute('data-calm');
    } else if (this.#calmTimer === undefined && !this.el.hasAttribute('data-calm')) {
      this.#calmTimer = setTimeout(() => {
        this.#calmTimer = undefined;
        this.el.toggleAttribute('data-calm', this.player.state === 'live');
      }, CALM_AFTER_MS);
    }
  }

  render(): void {
    const p = this.player;
    const state = p.state;
    // Access ended (session or token): a neutral pause, not a camera failure; the page's banner says why.
    const authEnded = state === 'error' && isAuthEnded(p.probe.error);
    const tone = authEnded ? 'neutral' : stateTone(state);
    this.el.dataset['state'] = state;
    this.el.toggleAttribute('data-auth-ended', authEnded);
    this.#calmWhenLive(state === 'live');
    this.badge.dataset['tone'] = tone;
    (this.badge.lastElementChild as HTMLElement).textContent = authEnded ? AUTH_ENDED_LABEL : STATE_LABEL[state];
    const hasAudio = !!p.media?.getAudioTracks().length;
    this.soundBtn.hidden = !hasAudio;
    if (state === 'live' || (state === 'stalled' && p.probe.framesDecoded > 0)) {
      this.msg.hidden = true;
      return;
    }
    this.msg.hidden = false;
    this.msg.dataset['tone'] = tone;
    const code = p.probe.error;
    const busy = state === 'connecting' || state === 'starting' || state === 'reconnecting' || state === 'stalled';
    const ico = busy
      ? h('div', { class: 'spinner', 'aria-hidden': 'true' })
      : h(
          'div',
          { class: 'ico' },
          icon(state === 'forbidden' || authEnded ? 'lock' : state === 'offline' ? 'offline' : 'alert', 26),
        );
    this.msg.dataset['detail'] = p.errorMessage ?? '';
    const reason = state === 'offline' ? p.probe.reason : null;
    const detail =
      state === 'forbidden' || state === 'error'
        ? errorText(code ?? 'E_INTERNAL', p.errorMessage ?? undefined)
        : reason
          ? errorText(code ?? 'E_STREAM_OFFLINE', undefined, reason)
          : DETAIL[state];
    this.msg.dataset['reason'] = reason ?? '';
    this.msg.replaceChildren(
      ico,
      h(
        'strong',
        {},
        authEnded ? AUTH_ENDED_LABEL : reason === 'unauthorized' ? HEALTH_LABEL.unauthorized : STATE_LABEL[state],
      ),
      detail ? h('p', {}, detail) : '',
      code && (state === 'forbidden' || state === 'error' || state === 'offline' || state === 'busy')
        ? // The gateway's own (English) message for support, not as a tooltip: the page speaks Indonesian.
          h('code', { 'data-detail': p.errorMessage ?? '' }, `Kode: ${code}`)
        : '',
    );
  }

  toggleStats(force?: boolean): void {
    this.#statsOn = force ?? !this.#statsOn;
    this.statsEl.hidden = !this.#statsOn;
    this.statsBtn.setAttribute('aria-pressed', String(this.#statsOn));
    this.el.toggleAttribute('data-stats', this.#statsOn);
    if (this.#statsOn) this.player.sampleStats = true;
    this.#renderStats();
  }

  get statsVisible(): boolean {
    return this.#statsOn;
  }

  #renderStats(): void {
    if (!this.#statsOn) return;
    const s = this.player.stats;
    if (!s) {
      this.statsEl.replaceChildren(h('dl', {}, h('dt', {}, 'Statistik'), h('dd', {}, 'menunggu data…')));
      return;
    }
    const dl = h('dl');
    for (const [k, v] of statsRows(s)) dl.append(h('dt', {}, k), h('dd', {}, v));
    this.statsEl.title = delayBreakdown(s);
    this.statsEl.replaceChildren(dl);
  }

  toggleSound(): void {
    const v = this.player.video;
    v.muted = !v.muted;
    if (!v.muted) v.play().catch(() => {});
    this.soundBtn.setAttribute('aria-pressed', String(!v.muted));
    this.soundBtn.replaceChildren(icon(v.muted ? 'mute' : 'sound'), h('span', { class: 'sr-only' }, 'Suara'));
  }

  fullscreen(): void {
    const el = this.el as HTMLElement & { webkitRequestFullscreen?: () => void };
    const v = this.player.video as HTMLVideoElement & { webkitEnterFullscreen?: () => void };
    if (document.fullscreenElement) {
      void document.exitFullscreen().catch(() => {});
    } else if (el.requestFullscreen) {
      void el.requestFullscreen().catch(() => v.webkitEnterFullscreen?.());
    } else {
      // iPhone Safari: only the video element itself can go fullscreen.
      v.webkitEnterFullscreen?.();
    }
  }
}
