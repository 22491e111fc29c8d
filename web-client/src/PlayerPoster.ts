// Ties a Poster to a LivePlayer: a snapshot is asked for as soon as a stream is asked for (in parallel
// with signaling), stays over the video until the first frame of live video is presented, and comes
// back while reconnecting, starting from the last frame the video showed: never a black box.
import type { Variant } from './GatewayClient.js';
import type { LivePlayer, PlayerState } from './LivePlayer.js';
import type { Poster } from './Poster.js';

/** A picture of the stream this recent is good enough as a poster (the wall refreshes every 5 s). */
export const POSTER_FRESH_MS = 5000;

export interface PlayerPosterOptions {
  /** Device pixels wide to ask for (the box's size, see snapshotWidth). */
  width: () => number;
  /** The variant to picture when the player plays `playing` (default: the same). */
  variant?: (playing: Variant) => Variant;
  /** Also show the picture while the player is idle or stopped (a wall tile); a stage says why instead. */
  whenIdle?: boolean;
  /** Queue priority of its requests (see SnapshotQueue). */
  priority?: number;
  /** true: ask for no snapshot now (pictures already up, or captured, still show). */
  skip?: () => boolean;
  /** Called when whether the picture is up changed. */
  onChange?: (shown: boolean) => void;
}

const WAITING: ReadonlySet<PlayerState> = new Set(['connecting', 'starting', 'busy']);

export class PlayerPoster {
  #player: LivePlayer | undefined;
  #off: (() => void)[] = [];
  /** The stream the video last showed live frames of (null after a new play: the video is another's). */
  #liveStream: string | null = null;
  /** When live video went away (ms since epoch): a picture older than that is not shown while reconnecting. */
  #leftLiveAt = 0;
  #shown = false;
  /** false: no picture is asked for or shown (the wall's fullscreen view has the tile's live video under it). */
  enabled = true;

  constructor(
    readonly poster: Poster,
    player: LivePlayer,
    readonly opts: PlayerPosterOptions,
  ) {
    this.bind(player);
  }

  /** Follows `player` (a wall tile makes a new one when it moves to another connection). */
  bind(player: LivePlayer): void {
    for (const off of this.#off) off();
    this.#player = player;
    const on = (name: string, fn: (d: Record<string, unknown>) => void) => {
      const l = (ev: Event) => fn((ev as CustomEvent<Record<string, unknown>>).detail);
      player.addEventListener(name, l);
      this.#off.push(() => player.removeEventListener(name, l));
    };
    on('play', (d) => {
      this.#liveStream = null;
      this.want(String(d['stream']), d['variant'] as Variant);
    });
    on('statechange', (d) => this.#changed(d['state'] as PlayerState, d['previous'] as PlayerState));
    on('presented', () => this.sync());
    this.sync();
  }

  /** Asks for a picture of `stream` unless a fresh one is up or on its way. */
  want(stream: string, variant: Variant, maxAgeMs = POSTER_FRESH_MS): void {
    if (!this.enabled || this.opts.skip?.()) return;
    const v = this.opts.variant?.(variant) ?? variant;
    // Live video that came first makes a queued request pointless (and it would hold the stream at the gateway).
    const stillWanted = () => this.enabled && !this.#player?.presenting;
    void this.poster
      .want(stream, v, this.opts.width(), { maxAgeMs, priority: this.opts.priority ?? 10, stillWanted })
      .then(() => this.sync());
  }

  #changed(state: PlayerState, previous: PlayerState): void {
    const p = this.#player;
    if (!p) return;
    const stream = p.probe.stream;
    if (state === 'live') this.#liveStream = stream;
    const wasLive = previous === 'live' || previous === 'stalled';
    if (wasLive && (state === 'reconnecting' || state === 'starting') && stream && stream === this.#liveStream) {
      // Live video went away (connection lost, consumed anew): keep its last frame up meanwhile; it
      // is the newest picture there is (a snapshot is asked for if this lasts, see below).
      this.#leftLiveAt = Date.now();
      void this.poster.capture(p.video, stream).then(() => this.sync());
    } else if (state === 'starting' && stream && p.probe.variant) this.want(stream, p.probe.variant);
    this.sync();
  }

  /** Puts the picture up or takes it down for what the player shows now. */
  sync(): void {
    const p = this.#player;
    if (!p) return;
    const s = p.state;
    let show = false;
    if (!this.enabled) show = false;
    else if (s === 'reconnecting') show = this.poster.takenAt >= this.#leftLiveAt - 2000;
    else if (WAITING.has(s)) show = !p.presenting;
    else if (this.opts.whenIdle && (s === 'idle' || s === 'stopped')) show = true;
    this.poster.visible = show;
    const shown = show && this.poster.picture;
    if (shown !== this.#shown) {
      this.#shown = shown;
      this.opts.onChange?.(shown);
    }
  }

  dispose(): void {
    for (const off of this.#off) off();
    this.#off = [];
    this.#player = undefined;
  }
}
