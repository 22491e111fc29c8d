// The Command Center wall (/): every stream the token allows, grouped and filterable by kecamatan,
// searchable by name. Only tiles on screen play (IntersectionObserver), on the `sub` variant where a
// camera has one; a tile that leaves the screen closes its consumers after a short grace period, so
// 107 tiles never means 107 streams. A click (or Enter) opens the tile fullscreen on `main`: the sub
// picture stays up until main's first frame is rendered, then they swap, without a black gap.
// Which cameras are offline comes from the gateway (GET /api/streams, every 10 s: its health checks
// reach every camera, watched or not), not from the tiles this browser happened to play.
// Pictures: a tile shows its camera's snapshot until live video has a frame (when the gateway
// ingests the camera already), and its last frame once it stops; a tile on screen that does not play
// (over capacity) shows a snapshot refreshed every 5 s. The snapshot mode (/?mode=snapshots, or the
// toolbar's "Mode cuplikan") plays no tile: every office as a refreshed snapshot on one screen, live
// on click (the fullscreen view). At most 4 snapshot requests at once per page.

import type { HealthStatus } from '../../gateway/src/http/app.js';
import { emblem, h, icon, normalise } from './dom.js';
import { GatewayClient, type GatewayError, latencyParam, type StreamSummary, type Variant } from './GatewayClient.js';
import { LivePlayer, type PlayerState } from './LivePlayer.js';
import {
  AUTH_ENDED_LABEL,
  CITY,
  clockText,
  errorText,
  HEALTH_LABEL,
  isAuthEnded,
  ORG,
  reasonText,
  SNAPSHOT_LABEL,
  STATE_LABEL,
  sinceText,
  stateTone,
  UI,
} from './labels.js';
import { PlayerPoster } from './PlayerPoster.js';
import { Poster } from './Poster.js';
import { SnapshotQueue } from './SnapshotQueue.js';
import { type Access, type AccessProbe, accessProbe, signOutControl, startAccess } from './session.js';
import { type SnapshotSource, snapshotSource, snapshotVariant, snapshotWidth } from './snapshot.js';
import { STAGE_CSS, Stage } from './stage.js';
import { groupByKecamatan, OTHER } from './streams.js';
import { GRID_CHOICES, type GridChoice, gridLayout, headingRuns, parseGridChoice } from './wallGrid.js';

/** The wall's grid size and order, remembered on this device. */
const GRID_KEY = 'cctv-wall-grid';
const SORT_KEY = 'cctv-wall-sort';
/** 'kecamatan': grouped under kecamatan headings; 'name': one list by name; 'offline': cameras that are down first. */
export type WallSort = 'kecamatan' | 'name' | 'offline';
const SORTS: readonly WallSort[] = ['kecamatan', 'name', 'offline'];
/** The group key of the cameras that are down (sorted first). */
const DOWN_GROUP = '\u0000down';
/** A tile's caption bar under the video and a heading row above a tile row (px; theme.css draws them). */
const TILE_BAR_PX = 34;
const HEAD_ROW_PX = 20;
const GRID_GAP_PX = 8;

/** A tile that left the screen keeps playing this long (scrolling back is instant). */
export const LEAVE_GRACE_MS = 2500;
/** While a tile is fullscreen, the wall behind it keeps playing this long. */
const FOCUS_GRACE_MS = 15_000;
/**
 * Tiles per signaling connection: the gateway allows 64 consumers per connection, and a camera with
 * audio takes two. A bigger wall (a 4K screen shows more) opens another connection.
 */
export const TILES_PER_CONNECTION = 30;
/** How often the wall asks the gateway which cameras answer. */
export const HEALTH_POLL_MS = 10_000;
/** A tile that does not play refreshes its snapshot this often (±10 %, so refreshes stay spread). */
export const SNAPSHOT_REFRESH_MS = 5000;
/** Snapshot requests one wall has out at once. */
export const SNAPSHOT_CONCURRENCY = 4;
/** In the snapshot mode tiles this close to the screen (one screen height) stay fresh too: scrolling shows no blank. */
const NEAR_MARGIN = '100% 0px 100% 0px';

/** 'live': tiles on screen play; 'snapshots': no tile plays, every tile is a refreshed snapshot. */
export type WallMode = 'live' | 'snapshots';

/** Snapshot answers that another try will not change (until a new token or config). */
const SNAPSHOT_GIVE_UP = new Set([403, 404]);

/** Player states the gateway's "camera down" overrides: the tile shows why instead of a retry spinner. */
const DOWN_OVERRIDES: ReadonlySet<PlayerState> = new Set([
  'idle',
  'stopped',
  'connecting',
  'starting',
  'offline',
  'error',
]);

/** What a tile shows: its player's state, or 'paused' when access ended (never a camera failure). */
export type TileState = PlayerState | 'paused';

interface TileSnapshot {
  id: string;
  visible: boolean;
  hidden: boolean;
  consuming: boolean;
  state: TileState;
  variant: Variant | null;
  framesDecoded: number;
  /** The camera's health as the gateway last said (null: not known yet). */
  health: HealthStatus['state'] | null;
  /** Counted in the wall's offline count. */
  offline: boolean;
  /** Within a screen of the viewport (the snapshot mode keeps its snapshot fresh). */
  near: boolean;
  poster: {
    /** The picture is up (over a video that has no frame yet, or instead of one). */
    visible: boolean;
    /** When the pictured frame was taken (ms since epoch), or null: no picture. */
    takenAt: number | null;
    kind: 'snapshot' | 'frame' | null;
    /** Snapshot refreshes this tile asked for (not counting the poster before it plays). */
    requests: number;
    error: string | null;
  };
}

export interface WallSnapshot {
  ready: boolean;
  mode: WallMode;
  /** Snapshot requests running, waiting, and the most that ever ran at once. */
  snapshots: { active: number; waiting: number; peak: number };
  connection: string;
  /** signaling connections the wall holds */
  connections: number;
  /** The offline count shown in the header. */
  offline: number;
  /** Access ended (the session banner is up): every tile is paused, none counted offline. */
  authEnded: boolean;
  /** When the gateway last answered the health poll (ms since epoch; 0: not yet). */
  healthAt: number;
  tiles: TileSnapshot[];
  focus: {
    stream: string;
    variant: Variant | null;
    state: PlayerState;
    framesDecoded: number;
    /** frames the sub picture underneath had shown when main took over (0 = there was a gap) */
    underFramesAtSwap: number | null;
    swapped: boolean;
    /**
     * The fullscreen view's poster (performance.now() times): its first picture of this camera, up
     * while main had no frame, taken down when main's first frame took its place.
     */
    poster: { visible: boolean; firstShownAt: number | null; hiddenAt: number | null };
    /** performance.now() of main's first frame. */
    firstFrameAt: number | null;
  } | null;
}

/** "Kantor Kelurahan Bukit Lama" → "Kel. Bukit Lama": the distinctive part fits a small tile. */
export function shortName(name: string): string {
  return name.replace(/^Kantor\s+Kelurahan\s+/i, 'Kel. ').replace(/^Kantor\s+Kecamatan\s+/i, 'Kec. ');
}

/** "Kantor kelurahan · Kec. Kemuning"; the kind is its own span (the snapshot mode's small tiles drop it). */
function officeKind(s: StreamSummary): (HTMLElement | string)[] {
  const kind = /^Kantor\s+Kelurahan/i.test(s.name)
    ? UI.officeKel
    : /^Kantor\s+Kecamatan/i.test(s.name)
      ? UI.officeKec
      : '';
  const kec = s.kecamatan ? `Kec. ${s.kecamatan}` : '';
  return [kind ? h('span', { class: 'tile-kind' }, kec ? `${kind} · ` : kind) : '', kec];
}

class Tile {
  readonly el: HTMLElement;
  readonly video: HTMLVideoElement;
  player: LivePlayer;
  readonly poster: Poster;
  readonly #posterBinding: PlayerPoster;
  readonly hit: HTMLButtonElement;
  readonly badge: HTMLSpanElement;
  readonly msg: HTMLDivElement;
  intersecting = false;
  /** Within a screen of the viewport. */
  near = false;
  filteredOut = false;
  /** What the tile last showed of the gateway's health (redrawn only when that changes). */
  #healthShown = '';
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the next snapshot refresh is due (ms since epoch). */
  #refreshAt = 0;
  #requests = 0;

  constructor(
    readonly s: StreamSummary,
    readonly wall: Wall,
  ) {
    this.video = h('video', { muted: true, autoplay: true, playsinline: true, 'aria-hidden': 'true' });
    this.poster = new Poster(wall.snapshots, { className: 'tile-poster', queue: wall.snapshotQueue });
    this.player = this.#makePlayer(wall.client);
    this.#posterBinding = new PlayerPoster(this.poster, this.player, {
      width: () => this.posterWidth,
      variant: () => this.posterVariant,
      whenIdle: true,
      priority: 10,
      // Live mode: a poster only of a stream the gateway ingests (quick); of an idle camera live video
      // comes as soon as a snapshot would, and the request would only add to the wall's start.
      skip: () => this.wall.mode === 'live' && !this.wall.ingesting(this.s, this.posterVariant),
      onChange: () => this.render(),
    });
    this.badge = h('span', { class: 'badge' }, h('i', { class: 'dot' }), h('span'));
    this.msg = h('div', { class: 'tile-msg', 'aria-hidden': 'true' });
    this.hit = h(
      'button',
      { type: 'button', class: 'tile-hit', onclick: () => wall.openFocus(this) },
      h('span', { class: 'tile-name', title: s.name }, shortName(s.name)),
      h('span', { class: 'tile-district' }, ...officeKind(s)),
    );
    const link = h(
      'a',
      {
        class: 'tile-link',
        href: `/m/${encodeURIComponent(s.id)}`,
        title: UI.openSingle,
        'aria-label': `Buka ${s.name} di tampilan tunggal`,
      },
      icon('phone', 16),
    );
    this.el = h(
      'div',
      { class: 'tile', 'data-id': s.id },
      this.video,
      this.poster.el,
      this.msg,
      h('div', { class: 'tile-top' }, this.badge),
      this.hit,
      link,
    );
    this.render();
  }

  #makePlayer(client: GatewayClient): LivePlayer {
    const p = new LivePlayer(client, this.video, { sampleStats: false, stallAfterMs: 4000 });
    p.addEventListener('statechange', () => {
      this.render();
      this.#refresh();
    });
    p.addEventListener('error', (ev) => {
      if (isAuthEnded((ev as CustomEvent<{ code?: string }>).detail.code)) this.wall.accessLost();
    });
    return p;
  }

  /** Holds (or is trying to get) consumers at the gateway. */
  get active(): boolean {
    return this.player.state !== 'idle' && this.player.state !== 'stopped';
  }

  get variant(): Variant {
    return this.s.variants.includes('sub') ? 'sub' : 'main';
  }

  /** The snapshot width for this tile: its device pixels (a hidden tile: a typical tile's). */
  get posterWidth(): number {
    return snapshotWidth(this.el.clientWidth || 320, devicePixelRatio);
  }

  /** sub for a small tile where the camera has one. */
  get posterVariant(): Variant {
    return snapshotVariant(this.s.variants, this.posterWidth);
  }

  /**
   * Keeps a refreshed snapshot up: on screen but not playing (over capacity, or the snapshot mode,
   * where tiles a screen away stay fresh too). Live mode leaves tiles off screen alone: a snapshot
   * holds the stream at the gateway like a short viewer, and off-screen tiles would keep every
   * camera's ingest running. They keep their last frame, and get a snapshot as they come back.
   */
  get refreshing(): boolean {
    if (this.filteredOut || this.wall.paused || this.wall.authEnded || this.cameraDown) return false;
    if (this.wall.mode === 'snapshots') return this.intersecting || this.near;
    const st = this.player.state;
    return this.intersecting && (st === 'idle' || st === 'stopped' || st === 'busy');
  }

  /** Schedules the next snapshot refresh, or stops refreshing. */
  #refresh(): void {
    if (!this.refreshing || this.#refreshAt === Number.POSITIVE_INFINITY) {
      clearTimeout(this.#refreshTimer);
      this.#refreshTimer = undefined;
      return;
    }
    if (this.#refreshTimer) return;
    this.#refreshTimer = setTimeout(() => void this.#refreshNow(), Math.max(0, this.#refreshAt - Date.now()));
  }

  async #refreshNow(): Promise<void> {
    if (!this.refreshing) {
      this.#refreshTimer = undefined;
      return;
    }
    this.#requests++;
    // Tiles on screen before those only near it.
    const err = await this.poster.want(this.s.id, this.posterVariant, this.posterWidth, {
      maxAgeMs: 0,
      priority: this.intersecting ? 2 : 1,
    });
    this.#refreshTimer = undefined;
    const jitter = SNAPSHOT_REFRESH_MS * (0.9 + Math.random() * 0.2);
    this.#refreshAt = Date.now() + Math.max(jitter, err?.retryAfterMs ?? 0);
    if (err?.status === 401) this.wall.accessLost();
    // Forbidden or unknown: asking again will not help (a new token or stream list starts over).
    else if (err && SNAPSHOT_GIVE_UP.has(err.status)) this.#refreshAt = Number.POSITIVE_INFINITY;
    this.render();
    this.#refresh();
  }

  /** Snapshots may be asked for again (a new token). */
  resetRefresh(): void {
    if (this.#refreshAt === Number.POSITIVE_INFINITY) this.#refreshAt = 0;
  }

  /** The gateway's word on this tile's camera: the variant it plays, else main. */
  get health(): HealthStatus | undefined {
    const own = this.wall.healthOf(this.s.id, this.variant);
    return own && own.state !== 'unknown' ? own : (this.wall.healthOf(this.s.id, 'main') ?? own);
  }

  /** The gateway says the camera does not answer (or rejects the gateway's password). */
  get cameraDown(): boolean {
    const h = this.health?.state;
    return h === 'down' || h === 'unauthorized';
  }

  get state(): TileState {
    const p = this.player.state;
    // Access ended: the wall is paused (the banner says why); the health it knew is stale too.
    if (this.wall.authEnded || (p === 'error' && isAuthEnded(this.player.probe.error))) return 'paused';
    if (this.cameraDown && DOWN_OVERRIDES.has(p)) return 'offline';
    if (p === 'idle' || p === 'stopped') {
      // Until the gateway's first health answer, the state the stream list had.
      const failed = this.s.state === 'error' || this.s.state === 'unauthorized';
      return !this.wall.healthAt && failed ? 'offline' : 'idle';
    }
    return p;
  }

  /** Counted as offline: the gateway says so, or this tile just found out. */
  get offline(): boolean {
    return this.state === 'offline';
  }

  /**
   * "Kamera terputus: sambungan ditolak · sejak 08.14", "Kata sandi kamera ditolak · sejak kemarin
   * 22.10". The cause only where the gateway gives it (operators and admins).
   */
  get offlineText(): string {
    const h = this.health;
    if (!h || !this.cameraDown) return STATE_LABEL.offline;
    const why = h.state === 'down' ? reasonText(h.reason) : null;
    const what = why ? `${HEALTH_LABEL[h.state]}: ${why}` : HEALTH_LABEL[h.state];
    const since = sinceText(h.since);
    return since ? `${what} · ${since}` : what;
  }

  /** A new health answer: redraws the tile if what it says changed (or the day did: "kemarin"). */
  healthUpdated(): void {
    const h = this.health;
    const shown = h ? `${h.state} ${h.reason ?? ''} ${sinceText(h.since)}` : '';
    if (shown === this.#healthShown) return;
    this.#healthShown = shown;
    this.render();
  }

  render(): void {
    const st = this.state;
    if (st === 'paused') {
      this.#renderPaused();
      return;
    }
    const tone = stateTone(st);
    this.el.dataset['state'] = st;
    this.el.dataset['health'] = this.health?.state ?? 'unknown';
    this.badge.dataset['tone'] = tone;
    const still = this.poster.visible && this.poster.picture;
    this.el.toggleAttribute('data-poster', still);
    (this.badge.lastElementChild as HTMLElement).textContent =
      st === 'offline'
        ? UI.badgeOffline
        : st === 'idle'
          ? still
            ? SNAPSHOT_LABEL
            : UI.badgeIdle
          : tone === 'starting'
            ? UI.badgeStarting
            : STATE_LABEL[st];
    this.badge.title = still ? `${SNAPSHOT_LABEL} ${clockText(this.poster.takenAt)}` : '';
    const words = st === 'offline' ? this.offlineText : STATE_LABEL[st];
    this.hit.setAttribute(
      'aria-label',
      `${this.s.name}${this.s.kecamatan ? `, Kecamatan ${this.s.kecamatan}` : ''}: ${words}. Buka layar penuh.`,
    );
    const busy = tone === 'starting' && st !== 'stalled';
    this.msg.replaceChildren(
      busy
        ? h('div', { class: 'spinner' })
        : st === 'offline' || st === 'busy' || st === 'error' || st === 'forbidden'
          ? h(
              'div',
              { class: 'tile-off' },
              icon(
                st === 'forbidden' || (st === 'offline' && this.health?.state === 'unauthorized') ? 'lock' : 'offline',
                22,
              ),
              h('span', {}, words),
            )
          : '',
    );
    this.wall.renderCounts();
  }

  /** Dimmed, "Sesi berakhir": no camera is blamed; the one banner explains. */
  #renderPaused(): void {
    this.el.dataset['state'] = 'paused';
    this.badge.title = '';
    this.el.dataset['health'] = this.health?.state ?? 'unknown';
    this.badge.dataset['tone'] = 'neutral';
    (this.badge.lastElementChild as HTMLElement).textContent = AUTH_ENDED_LABEL;
    this.hit.setAttribute('aria-label', `${this.s.name}: ${AUTH_ENDED_LABEL}. Buka layar penuh.`);
    this.msg.replaceChildren(h('div', { class: 'tile-paused' }, icon('lock', 22), h('span', {}, AUTH_ENDED_LABEL)));
    this.wall.renderCounts();
  }

  /** Plays while on screen, the wall in front and in live mode. */
  get #wanted(): boolean {
    return this.wall.mode === 'live' && this.intersecting && !this.filteredOut && !this.wall.paused;
  }

  /** Plays while on screen and the wall is in front; otherwise closes after a grace period. */
  update(): void {
    this.#update();
    this.#refresh();
  }

  #update(): void {
    const wanted = this.#wanted;
    if (wanted) {
      clearTimeout(this.#closeTimer);
      this.#closeTimer = undefined;
      const st = this.player.state;
      const authStopped = st === 'error' && isAuthEnded(this.player.probe.error);
      if (st === 'idle' || st === 'stopped' || (authStopped && !this.wall.authEnded)) {
        if (this.wall.authEnded) return;
        const client = this.wall.clientFor(this);
        if (client !== this.player.client) {
          this.player.dispose();
          this.player = this.#makePlayer(client);
          this.#posterBinding.bind(this.player);
        }
        void this.player.play(this.s.id, this.variant);
      }
      return;
    }
    const playing = this.player.state !== 'idle' && this.player.state !== 'stopped';
    if (playing && !this.#closeTimer) {
      // Snapshot mode: at once (the last frame stays up as the tile's picture).
      const grace =
        this.wall.mode === 'snapshots' ? 0 : this.wall.paused && this.intersecting ? FOCUS_GRACE_MS : LEAVE_GRACE_MS;
      this.#closeTimer = setTimeout(() => void this.#stopKeepingPicture(), grace);
    }
  }

  /** Stops playing; the last frame stays up as the tile's picture instead of a black box. */
  async #stopKeepingPicture(): Promise<void> {
    if (this.player.presenting) await this.poster.capture(this.video, this.s.id);
    this.#closeTimer = undefined;
    if (this.#wanted) return;
    this.player.stop();
    this.render();
    this.#refresh();
  }

  snapshot(): TileSnapshot {
    return {
      id: this.s.id,
      visible: this.intersecting && !this.filteredOut,
      hidden: this.filteredOut,
      consuming: !!this.player.watch && this.player.watch.consumers.length > 0,
      state: this.state,
      variant: this.player.watch?.variant ?? null,
      framesDecoded: this.player.probe.framesDecoded,
      health: this.health?.state ?? null,
      offline: this.offline,
      near: this.near,
      poster: {
        visible: this.poster.probe.visible,
        takenAt: this.poster.picture ? this.poster.takenAt : null,
        kind: this.poster.probe.kind,
        requests: this.#requests,
        error: this.poster.probe.error,
      },
    };
  }
}

class Wall {
  /** The first connection lists streams and carries the fullscreen view; clients[1..] only tiles. */
  readonly client: GatewayClient;
  readonly clients: GatewayClient[] = [];
  token: string;
  /** Where the token comes from (a token in the address, or the sign-in session); set by startWall. */
  access: Access | undefined;
  readonly tiles = new Map<string, Tile>();
  paused = false;
  ready = false;
  mode: WallMode;
  /** Snapshots with the wall's token, at most SNAPSHOT_CONCURRENCY at once. */
  readonly snapshots: SnapshotSource = snapshotSource({ base: location.origin, token: () => this.token });
  readonly snapshotQueue = new SnapshotQueue(SNAPSHOT_CONCURRENCY);
  streams: StreamSummary[] = [];
  /** The gateway's health of every variant ('<stream>/<variant>'), and when it last said. */
  readonly #health = new Map<string, HealthStatus>();
  /** '<stream>/<variant>' the gateway ingested at its last answer. */
  readonly #ingesting = new Set<string>();
  healthAt = 0;
  #healthTimer: ReturnType<typeof setTimeout> | undefined;
  /** The poll stopped because access ended; a fresh token starts it again. */
  #healthStopped = false;
  readonly #io: IntersectionObserver;
  /** Which tiles are within a screen of the viewport. */
  readonly #nearIo: IntersectionObserver;
  readonly #modeBtn: HTMLButtonElement;
  readonly #counts = h('div', { class: 'counts', role: 'status', 'aria-live': 'polite' });
  readonly #who = h('div', { class: 'who', hidden: true });
  readonly #board = h('div', { class: 'board', id: 'board' });
  readonly #chips = h('div', { class: 'chips', role: 'group', 'aria-label': UI.filterByKecamatan });
  readonly #search = h('input', {
    type: 'search',
    id: 'wall-search',
    placeholder: UI.searchOfficePlaceholder,
    autocomplete: 'off',
    'aria-label': UI.searchOffice,
  });
  #district: string | null = null;
  /** Tiles per screen ('auto': as many as fill it) and the order, both remembered on this device. */
  #grid: GridChoice = parseGridChoice(localStorage.getItem(GRID_KEY));
  #sort: WallSort = (SORTS as readonly string[]).includes(localStorage.getItem(SORT_KEY) ?? '')
    ? (localStorage.getItem(SORT_KEY) as WallSort)
    : 'kecamatan';
  /** The tiles shown, in the order on screen (the fullscreen view steps through it). */
  #shown: Tile[] = [];
  /** What the offline-first order was when last laid out (redone when a camera goes down or comes back). */
  #orderKey = '';
  #layoutQueued = false;
  readonly #gridSelect = h(
    'select',
    { id: 'wall-grid', 'aria-label': UI.gridLabel, title: UI.gridTitle },
    ...GRID_CHOICES.map((g) => h('option', { value: String(g) }, g === 'auto' ? UI.gridAuto : `${g}×${g}`)),
  );
  readonly #sortSelect = h(
    'select',
    { id: 'wall-sort', 'aria-label': UI.sortLabel },
    h('option', { value: 'kecamatan' }, UI.sortKecamatan),
    h('option', { value: 'name' }, UI.sortName),
    h('option', { value: 'offline' }, UI.sortOfflineFirst),
  );
  readonly #empty = h('p', { class: 'empty', hidden: true }, UI.noMatchWall);
  // fullscreen
  readonly #focus: HTMLElement;
  readonly #focusPlayer: LivePlayer;
  readonly #focusStage: Stage;
  readonly #under = h('video', {
    class: 'under',
    muted: true,
    autoplay: true,
    playsinline: true,
    'aria-hidden': 'true',
  });
  readonly #focusTitle = h('h2', { id: 'focus-title' });
  readonly #focusMeta = h('p', { class: 'meta' });
  /** The fullscreen view's state, in its bar (the stage's own badge would cover the camera's clock). */
  readonly #focusBadge = h('span', { class: 'badge', 'aria-hidden': 'true' }, h('i', { class: 'dot' }), h('span'));
  readonly #focusLink = h('a', { class: 'btn ghost' }, icon('phone'), h('span', {}, UI.singleView));
  #focused: Tile | undefined;
  #underFramesAtSwap: number | null = null;
  #swapped = false;
  #renderQueued = false;

  constructor(
    token: string,
    readonly tilesPerConnection = TILES_PER_CONNECTION,
    mode: WallMode = 'live',
  ) {
    this.token = token;
    this.mode = mode;
    this.client = this.#newClient();
    this.#nearIo = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          const t = this.tiles.get((e.target as HTMLElement).dataset['id'] ?? '');
          if (!t) continue;
          t.near = e.isIntersecting;
          t.update();
        }
      },
      { rootMargin: NEAR_MARGIN },
    );
    this.#modeBtn = h(
      'button',
      {
        type: 'button',
        class: 'btn ghost',
        id: 'mode-toggle',
        'aria-pressed': String(mode === 'snapshots'),
        title: UI.snapshotModeTitle,
        onclick: () => this.setMode(this.mode === 'snapshots' ? 'live' : 'snapshots'),
      },
      icon('image'),
      h('span', {}, UI.snapshotMode),
    );
    this.#io = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          const t = this.tiles.get((e.target as HTMLElement).dataset['id'] ?? '');
          if (!t) continue;
          t.intersecting = e.isIntersecting && e.intersectionRatio >= 0.1;
          t.update();
        }
      },
      { threshold: [0, 0.1, 0.5, 1] },
    );
    const focusVideo = h('video', { class: 'pending', muted: true, autoplay: true, playsinline: true });
    this.#focusPlayer = new LivePlayer(this.client, focusVideo);
    this.#focusPlayer.addEventListener('error', (ev) => {
      if (isAuthEnded((ev as CustomEvent<{ code?: string }>).detail.code)) this.accessLost();
    });
    this.#focusStage = new Stage(this.#focusPlayer, { tools: true, snapshots: this.snapshots });
    this.#focusStage.el.prepend(this.#under);
    this.#focusPlayer.addEventListener('playing', () => this.#swap());
    this.#focusPlayer.addEventListener('statechange', () => {
      const st = this.#focusPlayer.state;
      this.#focusBadge.dataset['tone'] = stateTone(st);
      (this.#focusBadge.lastElementChild as HTMLElement).textContent = STATE_LABEL[st];
    });
    this.#focus = h(
      'div',
      { class: 'focus', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'focus-title', hidden: true },
      h(
        'div',
        { class: 'focus-bar' },
        h(
          'button',
          {
            type: 'button',
            class: 'btn icon-only',
            'aria-label': UI.prevCamera,
            onclick: () => this.#stepFocus(-1),
          },
          icon('prev', 22),
        ),
        h('div', { class: 'focus-text' }, this.#focusTitle, this.#focusMeta),
        this.#focusBadge,
        h(
          'button',
          {
            type: 'button',
            class: 'btn icon-only',
            'aria-label': UI.nextCamera,
            onclick: () => this.#stepFocus(1),
          },
          icon('next', 22),
        ),
        h('span', { class: 'spacer' }),
        this.#focusLink,
        h(
          'button',
          { type: 'button', class: 'btn close', onclick: () => this.closeFocus() },
          icon('close'),
          h('span', {}, UI.close),
          h('kbd', {}, 'Esc'),
        ),
      ),
      h('div', { class: 'focus-stage' }, this.#focusStage.el),
    );
    this.#focus.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') this.closeFocus();
      if (ev.key === 'ArrowRight') this.#stepFocus(1);
      if (ev.key === 'ArrowLeft') this.#stepFocus(-1);
      if (ev.key === 'Tab') this.#trapTab(ev);
    });
    document.addEventListener('fullscreenchange', () => {
      if (!document.fullscreenElement && this.#focused && this.#wentFullscreen) this.closeFocus();
    });
  }

  #newClient(): GatewayClient {
    const c = new GatewayClient(GatewayClient.defaultUrl(), this.token, { latency: latencyParam() });
    c.on('state', () => this.renderCounts());
    c.on('authExpired', (d) => this.accessLost(typeof d['reason'] === 'string' ? d['reason'] : null));
    this.clients.push(c);
    return c;
  }

  /** A connection with room for one more tile (opens another when all are full). */
  clientFor(tile: Tile): GatewayClient {
    const load = (c: GatewayClient) =>
      [...this.tiles.values()].filter((t) => t !== tile && t.player.client === c && t.active).length;
    return this.clients.find((c) => load(c) < this.tilesPerConnection) ?? this.#newClient();
  }

  /**
   * A fresh token for every connection; tiles stopped by an expired token play again. `keep`: keep it
   * for the tab (a token handed over by a script); a session's renewed tokens are not kept, or the
   * next load would use a token that no one renews.
   */
  async setToken(token: string, keep = true): Promise<void> {
    this.token = token;
    if (keep) sessionStorage.setItem('cctv-token', token);
    await Promise.all(this.clients.map((c) => c.setToken(token)));
    for (const t of this.tiles.values()) {
      t.resetRefresh();
      t.update();
    }
    if (this.#focused && this.#focusPlayer.state === 'error' && isAuthEnded(this.#focusPlayer.probe.error))
      this.#focusPlayer.retryNow();
    if (this.ready && this.#healthStopped) {
      this.#healthStopped = false;
      void this.#pollHealth();
    }
  }

  /** Access ended (the banner is up): every tile shows paused; nothing is counted offline. */
  get authEnded(): boolean {
    return this.access?.ended ?? false;
  }

  /** The gateway refused the token (a player, the socket or the REST API said so): renew, or end. */
  accessLost(reason?: string | null): void {
    this.access?.lost(reason);
  }

  /** Access ended: tiles go paused, the health poll stops (it would be refused). */
  accessEnded(): void {
    clearTimeout(this.#healthTimer);
    this.#healthStopped = true;
    // The gateway ends the views too; the last picture stays, dimmed. A fresh token plays them again.
    for (const t of this.tiles.values()) if (t.active) t.player.stop(false);
    for (const t of this.tiles.values()) t.render();
  }

  /** "Masuk sebagai …" and "Keluar" in the header, for a sign-in session. */
  showIdentity(access: Access): void {
    if (access.kind !== 'session') return;
    this.#who.replaceChildren(...signOutControl(access.identity));
    this.#who.hidden = false;
  }

  #wentFullscreen = false;

  mount(): void {
    const clock = h('time', { class: 'clock' });
    const tick = () => {
      const now = new Date();
      clock.dateTime = now.toISOString();
      clock.replaceChildren(
        `${now.toLocaleDateString('id-ID', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: 'Asia/Jakarta' })} · `,
        h(
          'b',
          {},
          now.toLocaleTimeString('id-ID', {
            hour: '2-digit',
            minute: '2-digit',
            second: '2-digit',
            timeZone: 'Asia/Jakarta',
          }),
        ),
        ' WIB',
      );
    };
    tick();
    setInterval(tick, 1000);
    this.#search.addEventListener('input', () => this.applyFilter());
    this.#gridSelect.value = String(this.#grid);
    this.#gridSelect.addEventListener('change', () => {
      this.#grid = parseGridChoice(this.#gridSelect.value);
      localStorage.setItem(GRID_KEY, String(this.#grid));
      this.layout();
    });
    this.#sortSelect.value = this.#sort;
    this.#sortSelect.addEventListener('change', () => {
      this.#sort = this.#sortSelect.value as WallSort;
      localStorage.setItem(SORT_KEY, this.#sort);
      this.layout();
    });
    window.addEventListener('resize', () => this.layout());
    document.body.classList.add('wall-page');
    document.body.classList.toggle('snapshot-mode', this.mode === 'snapshots');
    document.body.replaceChildren(
      h('a', { class: 'skip', href: '#board' }, UI.skipToCameras),
      h(
        'header',
        { class: 'wall-head' },
        h(
          'div',
          { class: 'brand' },
          emblem(36),
          h(
            'div',
            { class: 'brand-text' },
            h('small', {}, `Pemerintah ${CITY}`),
            h('h1', {}, ORG),
            h('p', {}, UI.wallSubtitle),
          ),
        ),
        h('div', { class: 'head-right' }, this.#counts, h('div', { class: 'head-row' }, clock, this.#who)),
      ),
      h(
        'nav',
        { class: 'toolbar', 'aria-label': UI.filterCameras },
        h('label', { class: 'search' }, icon('search'), this.#search),
        this.#chips,
        h('div', { class: 'view-opts' }, this.#gridSelect, this.#sortSelect),
        this.#modeBtn,
        h(
          'a',
          { class: 'btn ghost', href: '/watch.html', title: UI.phoneViewTitle },
          icon('phone'),
          h('span', {}, UI.phoneView),
        ),
      ),
      h('main', { class: 'wall' }, this.#board, this.#empty),
      h('footer', { class: 'foot' }, `Dinas Komunikasi dan Informatika ${CITY} · ${ORG}`),
      this.#focus,
    );
    this.renderCounts();
  }

  async load(): Promise<void> {
    await this.client.connect();
    this.streams = await this.client.listStreams();
    const groups = groupByKecamatan(this.streams);
    // One grid for every kecamatan: headings are rows within it (layout()), not grids of their own.
    const els: HTMLElement[] = [];
    for (const list of groups.values())
      for (const s of list) {
        const t = new Tile(s, this);
        this.tiles.set(s.id, t);
        els.push(t.el);
      }
    this.#board.replaceChildren(...els);
    new ResizeObserver(() => this.layout()).observe(document.querySelector('.toolbar') as HTMLElement);
    this.#chips.replaceChildren(
      this.#chip(null, UI.all, this.streams.length),
      ...[...groups].map(([d, l]) => this.#chip(d, d, l.length)),
    );
    for (const t of this.tiles.values()) {
      this.#io.observe(t.el);
      this.#nearIo.observe(t.el);
    }
    this.ready = true;
    this.applyFilter();
    this.renderCounts();
    void this.#pollHealth();
  }

  /**
   * 'snapshots': no tile plays (each shows its refreshed snapshot, the last frame first); 'live': tiles
   * on screen play. The address says it (?mode=snapshots), so a reload or a bookmark keeps it.
   */
  setMode(mode: WallMode): void {
    if (mode === this.mode) return;
    this.mode = mode;
    const params = new URLSearchParams(location.search);
    if (mode === 'snapshots') params.set('mode', 'snapshots');
    else params.delete('mode');
    const q = params.toString();
    history.replaceState(null, '', location.pathname + (q ? `?${q}` : '') + location.hash);
    document.body.classList.toggle('snapshot-mode', mode === 'snapshots');
    this.#modeBtn.setAttribute('aria-pressed', String(mode === 'snapshots'));
    this.layout();
    for (const t of this.tiles.values()) t.update();
    this.renderCounts();
  }

  /** A tile's group in the current order ('' for none). */
  #groupOf(t: Tile): string {
    if (this.#sort === 'name') return '';
    if (this.#sort === 'offline' && t.offline) return DOWN_GROUP;
    return t.s.kecamatan ?? OTHER;
  }

  /** The tiles that pass the filter, in the chosen order. */
  #ordered(): Tile[] {
    const coll = new Intl.Collator('id', { numeric: true, sensitivity: 'base' });
    const all = [...this.tiles.values()].filter((t) => !t.filteredOut);
    if (this.#sort === 'name') return all.sort((a, b) => coll.compare(shortName(a.s.name), shortName(b.s.name)));
    // The stream list's order is by kecamatan already; offline first keeps it within each part.
    if (this.#sort === 'offline') return [...all.filter((t) => t.offline), ...all.filter((t) => !t.offline)];
    return all;
  }

  #headingText(group: string): string {
    if (group === DOWN_GROUP) return UI.groupOffline;
    return group === OTHER ? UI.otherGroup : `Kecamatan ${group}`;
  }

  /** Lays the tiles out again on the next frame (resize, filter, order, grid size, mode). */
  layout(): void {
    if (this.#layoutQueued) return;
    this.#layoutQueued = true;
    requestAnimationFrame(() => {
      this.#layoutQueued = false;
      this.#layoutNow();
    });
  }

  /**
   * One grid that fills the screen: columns and row height from gridLayout(), a heading row above each
   * tile row naming the kecamatan of the tiles under it. The tiles stay where they are in the DOM
   * (moving a playing <video> would restart it); only their grid cells change.
   */
  #layoutNow(): void {
    const shown = this.#ordered();
    this.#shown = shown;
    this.#orderKey = shown.map((t) => t.s.id).join(' ');
    const board = this.#board;
    for (const el of board.querySelectorAll('.group-head')) el.remove();
    const groups = shown.map((t) => this.#groupOf(t));
    if (this.mode === 'snapshots') {
      // The snapshot wall's own dense grid (theme.css); only the order is ours.
      board.style.gridTemplateColumns = '';
      board.style.gridTemplateRows = '';
      shown.forEach((t, i) => {
        t.el.style.gridArea = '';
        t.el.style.order = String(i);
      });
      return;
    }
    const top = board.getBoundingClientRect().top + window.scrollY;
    const toolbar = (document.querySelector('.toolbar') as HTMLElement | null)?.offsetHeight ?? 0;
    // The first screen, under the header; a page whose header takes most of it: under the toolbar.
    let height = window.innerHeight - top - GRID_GAP_PX;
    if (height < window.innerHeight * 0.5) height = window.innerHeight - toolbar - 2 * GRID_GAP_PX;
    const g = gridLayout({
      groups,
      width: board.clientWidth,
      height,
      gap: GRID_GAP_PX,
      bar: TILE_BAR_PX,
      head: HEAD_ROW_PX,
      choice: this.#grid,
    });
    board.dataset['cols'] = String(g.cols);
    board.dataset['fits'] = String(g.fits);
    board.style.gridTemplateColumns = `repeat(${g.cols}, minmax(0, 1fr))`;
    const rowTracks = `${g.headings ? `${HEAD_ROW_PX}px ` : ''}${Math.floor(g.rowHeight)}px`;
    board.style.gridTemplateRows = Array.from({ length: g.rows }, () => rowTracks).join(' ');
    const per = g.headings ? 2 : 1;
    shown.forEach((t, i) => {
      const row = Math.floor(i / g.cols) * per + per;
      t.el.style.order = '';
      t.el.style.gridArea = `${row} / ${(i % g.cols) + 1} / ${row + 1} / ${(i % g.cols) + 2}`;
    });
    if (!g.headings) return;
    const heads: HTMLElement[] = [];
    for (const run of headingRuns(groups, g.cols)) {
      const n = groups.filter((x) => x === run.group).length;
      const el = h(
        'h2',
        { class: 'group-head', 'data-group': run.group === DOWN_GROUP ? 'down' : run.group },
        this.#headingText(run.group),
        h('span', { class: 'n' }, `${n} ${UI.countCameras}`),
      );
      el.style.gridArea = `${run.row * 2 + 1} / ${run.start + 1} / ${run.row * 2 + 2} / ${run.end + 1}`;
      heads.push(el);
    }
    board.append(...heads);
  }

  /**
   * The gateway ingests this variant now (its last health poll, or the stream list for main before
   * that): a snapshot of it is quick. Of an idle one it waits for the camera's first keyframe, as
   * long as live video does.
   */
  ingesting(s: StreamSummary, variant: Variant): boolean {
    if (this.healthAt) return this.#ingesting.has(`${s.id}/${variant}`);
    return variant === 'main' && (s.state === 'live' || s.state === 'stalled');
  }

  healthOf(stream: string, variant: Variant): HealthStatus | undefined {
    return this.#health.get(`${stream}/${variant}`);
  }

  /** Asks the gateway how every camera is, now and then every HEALTH_POLL_MS; a failed ask keeps the last answer. */
  async #pollHealth(): Promise<void> {
    clearTimeout(this.#healthTimer);
    if (this.authEnded) {
      this.#healthStopped = true;
      return;
    }
    try {
      const res = await fetch('/api/streams', { headers: { authorization: `Bearer ${this.token}` } });
      if (res.status === 401) this.accessLost();
      if (res.ok) {
        const body = (await res.json()) as {
          streams: { id: string; variants: { name: Variant; state?: string; health?: HealthStatus }[] }[];
        };
        this.#health.clear();
        this.#ingesting.clear();
        for (const s of body.streams)
          for (const v of s.variants) {
            if (v.health) this.#health.set(`${s.id}/${v.name}`, v.health);
            if (v.state === 'live' || v.state === 'stalled') this.#ingesting.add(`${s.id}/${v.name}`);
          }
        this.healthAt = Date.now();
        for (const t of this.tiles.values()) t.healthUpdated();
      }
    } catch {
      // the gateway is unreachable: the connection state says so; the next poll tries again
    }
    if (this.authEnded) this.#healthStopped = true;
    else this.#healthTimer = setTimeout(() => void this.#pollHealth(), HEALTH_POLL_MS);
  }

  #chip(district: string | null, label: string, n: number): HTMLButtonElement {
    const b = h(
      'button',
      {
        type: 'button',
        class: 'chip',
        'aria-pressed': String(district === this.#district),
        onclick: () => {
          this.#district = district;
          for (const c of this.#chips.querySelectorAll('button')) c.setAttribute('aria-pressed', String(c === b));
          this.applyFilter();
        },
      },
      label,
      h('span', { class: 'n' }, String(n)),
    );
    return b;
  }

  applyFilter(): void {
    const q = normalise(this.#search.value.trim());
    let shown = 0;
    for (const t of this.tiles.values()) {
      const match =
        (this.#district === null || this.#district === (t.s.kecamatan ?? OTHER)) &&
        (!q || normalise(`${t.s.name} ${t.s.kecamatan ?? ''} ${t.s.id}`).includes(q));
      t.filteredOut = !match;
      t.el.hidden = !match;
      if (match) shown++;
      t.update();
    }
    this.#empty.hidden = shown > 0;
    this.layout();
  }

  renderCounts(): void {
    if (this.#renderQueued) return;
    this.#renderQueued = true;
    queueMicrotask(() => {
      this.#renderQueued = false;
      const all = [...this.tiles.values()];
      const live = all.filter((t) => t.state === 'live').length;
      const stills = all.filter((t) => t.poster.picture).length;
      // Every camera the gateway knows to be down, on screen or not, and any this browser just found.
      const off = all.filter((t) => t.offline).length;
      const conn = this.clients.some((c) => c.state === 'reconnecting') ? 'reconnecting' : this.client.state;
      // Offline first: a camera that went down (or came back) moves.
      if (
        this.ready &&
        this.#sort === 'offline' &&
        this.#ordered()
          .map((t) => t.s.id)
          .join(' ') !== this.#orderKey
      )
        this.layout();
      this.#counts.replaceChildren(
        this.mode === 'snapshots'
          ? h('span', { class: 'pill' }, h('b', {}, String(stills)), ` ${UI.countStills}`)
          : h('span', { class: 'pill live' }, h('i', { class: 'dot' }), h('b', {}, String(live)), ` ${UI.countLive}`),
        h('span', { class: 'pill off' }, h('i', { class: 'dot' }), h('b', {}, String(off)), ` ${UI.countOffline}`),
        h('span', { class: 'pill' }, h('b', {}, String(all.length)), ` ${UI.countCameras}`),
        conn === 'reconnecting' || conn === 'connecting'
          ? h('span', { class: 'pill warn' }, h('i', { class: 'dot' }), UI.reconnecting)
          : '',
      );
    });
  }

  // ---- fullscreen (focus) view ----

  openFocus(t: Tile): void {
    const opening = !this.#focused;
    this.#focused = t;
    this.#swapped = false;
    this.#underFramesAtSwap = null;
    this.#focusTitle.textContent = t.s.name;
    this.#focusMeta.textContent = [t.s.kecamatan ? `Kecamatan ${t.s.kecamatan}` : null, UI.fullQuality]
      .filter(Boolean)
      .join(' · ');
    this.#focusLink.setAttribute('href', `/m/${encodeURIComponent(t.s.id)}`);
    this.#focusStage.setTitle(t.s.name);
    // The tile's sub picture underneath until main's first frame; a tile that does not play lends its
    // picture (and main's snapshot follows), so the view never opens black.
    const low = t.player.media;
    this.#under.srcObject = low;
    this.#under.hidden = !low;
    if (low) this.#under.play().catch(() => {});
    const underLive = !!low && t.player.state === 'live';
    this.#focusStage.posterBinding.enabled = !underLive;
    if (!underLive && t.poster.picture) void this.#focusStage.poster.adopt(t.poster);
    this.#focusPlayer.video.classList.add('pending');
    this.#focusStage.el.classList.toggle('has-under', !!low && t.player.state === 'live');
    this.#focus.hidden = false;
    document.body.classList.add('focus-open');
    this.paused = true;
    for (const x of this.tiles.values()) x.update();
    void this.#focusPlayer.play(t.s.id, 'main');
    if (opening) {
      (this.#focus.querySelector('.close') as HTMLButtonElement).focus();
      const el = this.#focus as HTMLElement;
      if (document.fullscreenEnabled && !document.fullscreenElement && el.requestFullscreen) {
        el.requestFullscreen()
          .then(() => {
            this.#wentFullscreen = true;
          })
          .catch(() => {});
      }
    }
  }

  #swap(): void {
    if (this.#swapped || !this.#focused) return;
    this.#swapped = true;
    this.#underFramesAtSwap = this.#focused.player.probe.framesDecoded;
    this.#focusPlayer.video.classList.remove('pending');
    this.#focusStage.el.classList.remove('has-under');
    // Let main fade in over the sub picture, then drop the sub picture.
    setTimeout(() => {
      if (this.#swapped) this.#under.srcObject = null;
    }, 400);
  }

  #stepFocus(d: number): void {
    if (!this.#focused) return;
    const visible = this.#shown.length ? this.#shown : [...this.tiles.values()].filter((t) => !t.filteredOut);
    const i = visible.indexOf(this.#focused);
    const next = visible[(i + d + visible.length) % visible.length];
    if (next) this.openFocus(next);
  }

  #trapTab(ev: KeyboardEvent): void {
    const items = [...this.#focus.querySelectorAll<HTMLElement>('button:not([hidden]),a[href]')];
    const first = items[0];
    const last = items[items.length - 1];
    if (ev.shiftKey && document.activeElement === first) {
      ev.preventDefault();
      last?.focus();
    } else if (!ev.shiftKey && document.activeElement === last) {
      ev.preventDefault();
      first?.focus();
    }
  }

  closeFocus(): void {
    const t = this.#focused;
    if (!t) return;
    this.#focused = undefined;
    this.#focusPlayer.stop();
    this.#under.srcObject = null;
    this.#focus.hidden = true;
    document.body.classList.remove('focus-open');
    if (document.fullscreenElement) void document.exitFullscreen().catch(() => {});
    this.#wentFullscreen = false;
    this.paused = false;
    for (const x of this.tiles.values()) x.update();
    t.hit.focus();
  }

  snapshot(): WallSnapshot {
    const f = this.#focused;
    return {
      ready: this.ready,
      mode: this.mode,
      snapshots: this.snapshotQueue.load,
      connection: this.client.state,
      connections: this.clients.length,
      offline: [...this.tiles.values()].filter((t) => t.offline).length,
      authEnded: this.authEnded,
      healthAt: this.healthAt,
      tiles: [...this.tiles.values()].map((t) => t.snapshot()),
      focus: f
        ? {
            stream: f.s.id,
            variant: this.#focusPlayer.watch?.variant ?? null,
            state: this.#focusPlayer.state,
            framesDecoded: this.#focusPlayer.probe.framesDecoded,
            underFramesAtSwap: this.#underFramesAtSwap,
            swapped: this.#swapped,
            poster: {
              visible: this.#focusStage.poster.probe.visible,
              firstShownAt: this.#focusStage.poster.probe.firstShownAt,
              hiddenAt: this.#focusStage.poster.probe.hiddenAt,
            },
            firstFrameAt: this.#focusPlayer.probe.firstFrameAt,
          }
        : null,
    };
  }
}

export function startWall(): void {
  // ?perConnection=N: tiles per signaling connection (default 30), e.g. to try a big wall's sharding.
  const params = new URLSearchParams(location.search);
  const per = Number(params.get('perConnection')) || TILES_PER_CONNECTION;
  // ?mode=snapshots: the snapshot wall (every office as a refreshed snapshot, live on click).
  const mode: WallMode = params.get('mode') === 'snapshots' ? 'snapshots' : 'live';
  document.head.append(h('style', {}, STAGE_CSS));
  const wall = new Wall('', Math.max(1, Math.min(TILES_PER_CONNECTION, per)), mode);
  const w = window as unknown as {
    cctvWall: () => WallSnapshot;
    cctvSetToken: (t: string) => Promise<void>;
    cctvAccess: AccessProbe;
  };
  w.cctvWall = () => wall.snapshot();
  w.cctvSetToken = (t) => {
    wall.access?.useToken(t);
    return wall.setToken(t);
  };
  w.cctvAccess = { kind: 'pending' };
  wall.mount();
  let loading = false;
  const load = () => {
    if (wall.ready || loading) return;
    loading = true;
    wall
      .load()
      .catch((err: GatewayError) => {
        // Refused access is not a wall failure: renew (load again with the new token) or the banner.
        if (isAuthEnded(err.code)) wall.accessLost(err.reason);
        else showWallError(err.code ?? 'E_INTERNAL', err.message);
      })
      .finally(() => {
        loading = false;
      });
  };
  void startAccess({
    keep: ['latency', 'perConnection', 'mode'],
    onToken: async (t) => {
      await wall.setToken(t, false);
      load();
    },
    onEnded: () => wall.accessEnded(),
  }).then(async (access) => {
    wall.access = access;
    w.cctvAccess = accessProbe(access);
    if (access.kind === 'none') {
      // 'missing': on the way to the sign-in page; otherwise the banner says why.
      if (access.reason === 'unavailable') showWallError('E_UNAUTHENTICATED', UI.noToken);
      return;
    }
    wall.showIdentity(access);
    await wall.setToken(access.token, false);
    load();
  });
}

function showWallError(code: string, message?: string): void {
  const board = document.getElementById('board');
  board?.replaceChildren(
    h(
      'div',
      { class: 'wall-error', role: 'alert' },
      icon('alert', 28),
      h('strong', {}, code === 'E_FORBIDDEN_STREAM' ? STATE_LABEL.forbidden : UI.wallNotLoaded),
      h('p', {}, errorText(code, message)),
      h('code', {}, `${UI.code}: ${code}`),
    ),
  );
}
