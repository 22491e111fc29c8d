// One <video> showing one stream variant through a GatewayClient: its state (connecting, starting,
// live, stalled, offline, reconnecting, forbidden, error), decoded-frame counting, stall detection,
// automatic retries for an offline camera or a lost connection, and optional stats sampling.
// Used by the phone view, every wall tile, the wall's fullscreen view and <cctv-player>.
// Events: 'play' (a stream was asked for), 'presented' (the first frame of the media now attached is
// on screen: a poster over the video may go), 'playing', 'statechange', 'stalled', 'offline',
// 'error', 'stats'.
import { FATAL_CODES, type GatewayClient, GatewayError, type Variant, type Watch } from './GatewayClient.js';
import { errorText } from './labels.js';
import { StatsSampler, type StatsSnapshot } from './stats.js';

export type PlayerState =
  | 'idle'
  | 'connecting'
  | 'starting'
  | 'live'
  | 'stalled'
  | 'offline'
  | 'busy'
  | 'reconnecting'
  | 'forbidden'
  | 'error'
  | 'stopped';

/** Read by the browser tests (window.cctvPlayer) and handy in the console. */
export interface PlayerProbe {
  stream: string | null;
  variant: Variant | null;
  state: PlayerState;
  error: string | null;
  /** The gateway's finer cause of `error`, e.g. 'unauthorized' (the camera rejected the password). */
  reason: string | null;
  framesDecoded: number;
  codec: string | null;
  /** Average time a frame waits in the browser's jitter buffer (ms), from the last stats sample. */
  jitterBufferMs: number | null;
  requestedAt: number | null;
  firstFrameAt: number | null;
}

export interface LivePlayerOptions {
  /** No frame for this long while live: 'stalled'. Default 3000 ms. */
  stallAfterMs?: number;
  /** Wait before trying an offline camera again. Default 5000 ms. */
  offlineRetryMs?: number;
  /** Wait before asking again after the gateway refused for capacity (E_CAPACITY). Default 10 s. */
  busyRetryMs?: number;
  /** Sample receive stats every second (needed for the overlay and probe.codec). Default true. */
  sampleStats?: boolean;
}

type VideoWithRvfc = HTMLVideoElement & {
  requestVideoFrameCallback?: (cb: () => void) => number;
};

/** Codes that end playback until something changes (a new token, another stream). */
const STOPPING = new Set([...FATAL_CODES, 'E_FORBIDDEN_STREAM', 'E_NOT_FOUND', 'E_UNSUPPORTED', 'E_BAD_REQUEST']);

export class LivePlayer extends EventTarget {
  readonly #reported = new Set<string>();
  /** The gateway said the camera is down (streamState error/unauthorized) and not yet that it is live again. */
  #cameraDown = false;
  readonly probe: PlayerProbe = {
    stream: null,
    variant: null,
    state: 'idle',
    error: null,
    reason: null,
    framesDecoded: 0,
    codec: null,
    jitterBufferMs: null,
    requestedAt: null,
    firstFrameAt: null,
  };
  errorMessage: string | null = null;
  stats: StatsSnapshot | null = null;
  watch: Watch | undefined;
  lastFrameAt = 0;
  readonly #opts: Required<LivePlayerOptions>;
  #session = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #off: (() => void)[] = [];
  readonly #sampler = new StatsSampler();
  #lastPresented = -1;
  #disposed = false;
  /** The media whose first frame has been presented (a poster may come down). */
  #presentedMedia: MediaStream | null = null;

  constructor(
    readonly client: GatewayClient,
    readonly video: HTMLVideoElement,
    opts: LivePlayerOptions = {},
  ) {
    super();
    this.#opts = {
      stallAfterMs: opts.stallAfterMs ?? 3000,
      offlineRetryMs: opts.offlineRetryMs ?? 5000,
      busyRetryMs: opts.busyRetryMs ?? 10_000,
      sampleStats: opts.sampleStats ?? true,
    };
    video.muted = true;
    video.playsInline = true;
    video.autoplay = true;
    const v = video as VideoWithRvfc;
    if (typeof v.requestVideoFrameCallback === 'function') {
      const onFrame = () => {
        if (this.#disposed) return;
        this.#frame();
        v.requestVideoFrameCallback?.(onFrame);
      };
      v.requestVideoFrameCallback(onFrame);
    } else {
      // Without requestVideoFrameCallback: the first frame of the attached media is there at loadeddata.
      video.addEventListener('loadeddata', () => {
        const w = this.watch;
        if (w && video.srcObject === w.media) this.#presented(w.media);
      });
    }
    this.#timer = setInterval(() => this.#tick(), 1000);
    this.#off.push(
      client.on('state', ({ state }) => {
        if (!this.watch && !this.#retryTimer) return;
        if ((state === 'reconnecting' || state === 'connecting') && this.#active()) this.#setState('reconnecting');
      }),
      client.on('fatal', ({ code, message }) => {
        if (this.probe.stream) this.#fail(new GatewayError(String(code), String(message)));
      }),
      client.on('streamState', (d) => {
        if (d['stream'] !== this.probe.stream || d['variant'] !== this.watch?.variant) return;
        const state = d['state'];
        if (state === 'live') this.#cameraDown = false;
        if (state === 'stalled' && this.probe.state === 'live') this.#setState('stalled');
        else if (state === 'error' || state === 'unauthorized') {
          this.#cameraDown = true;
          // The camera is down (or refuses the password), also while it was live: say so at once.
          // The consumers stay: when the camera is back its first frame makes the player live again.
          this.probe.error = 'E_STREAM_OFFLINE';
          this.probe.reason = state === 'unauthorized' ? 'unauthorized' : 'camera';
          this.errorMessage = typeof d['detail'] === 'string' ? d['detail'] : null;
          if (this.probe.state === 'offline') this.#dispatch('statechange', { state: 'offline', previous: 'offline' });
          else this.#setState('offline');
        }
      }),
    );
  }

  get state(): PlayerState {
    return this.probe.state;
  }

  get media(): MediaStream | null {
    return (this.video.srcObject as MediaStream | null) ?? null;
  }

  /** The video shows a frame of the media it plays now (not a black box, not another camera's). */
  get presenting(): boolean {
    const m = this.media;
    return m !== null && m === this.#presentedMedia && m === this.watch?.media;
  }

  #presented(media: MediaStream): void {
    if (this.#presentedMedia === media) return;
    this.#presentedMedia = media;
    this.#dispatch('presented', { stream: this.probe.stream });
  }

  #active(): boolean {
    return !['idle', 'stopped', 'forbidden', 'error'].includes(this.probe.state);
  }

  #setState(s: PlayerState): void {
    if (s === this.probe.state) return;
    const prev = this.probe.state;
    this.probe.state = s;
    this.#dispatch('statechange', { state: s, previous: prev });
    if (s === 'stalled') this.#dispatch('stalled', { stream: this.probe.stream, since: this.lastFrameAt });
    if (s === 'offline')
      this.#dispatch('offline', {
        stream: this.probe.stream,
        code: this.probe.error ?? 'E_STREAM_OFFLINE',
        message: this.errorMessage ?? errorText('E_STREAM_OFFLINE'),
      });
  }

  #dispatch(name: string, detail: Record<string, unknown>): void {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  /** Plays `stream` (closing whatever played before). Resolves when consuming started or failed. */
  async play(stream: string, variant: Variant = 'main'): Promise<void> {
    this.#teardown();
    this.#cameraDown = false;
    const session = ++this.#session;
    Object.assign(this.probe, {
      stream,
      variant,
      error: null,
      reason: null,
      framesDecoded: 0,
      codec: null,
      jitterBufferMs: null,
      requestedAt: null,
      firstFrameAt: null,
    });
    this.errorMessage = null;
    this.stats = null;
    this.#dispatch('play', { stream, variant });
    this.#setState(this.client.state === 'open' ? 'starting' : 'connecting');
    await this.#start(session);
  }

  async #start(session: number): Promise<void> {
    const { stream, variant } = this.probe;
    if (!stream || !variant) return;
    let w: Watch;
    try {
      w = await this.client.watch(stream, variant);
    } catch (err) {
      if (session === this.#session) this.#fail(err as GatewayError);
      return;
    }
    if (session !== this.#session) {
      w.close();
      return;
    }
    this.watch = w;
    this.probe.variant = w.variant;
    w.on('media', (m) => this.#attach(m));
    w.on('ended', (reason) => {
      if (reason.startsWith('E_')) this.#fail(new GatewayError(reason, errorText(reason)));
      else this.#retry(1000, 'reconnecting');
    });
    w.on('error', (err) => this.#fail(err));
    this.#attach(w.media);
  }

  #attach(media: MediaStream): void {
    this.probe.requestedAt = this.watch?.requestedAt ?? null;
    const changed = this.video.srcObject !== media;
    if (changed) this.video.srcObject = media;
    if (changed) this.#cameraDown = false; // consumed anew: its frames are the camera's
    this.video.play().catch(() => {});
    // New media (e.g. consumed again after a reconnect): live again with its first frame.
    if (changed || this.probe.state !== 'live') this.#setState('starting');
  }

  #fail(err: GatewayError): void {
    const code = err.code ?? 'E_INTERNAL';
    this.probe.error = code;
    this.probe.reason = err.reason ?? null;
    this.errorMessage = err.message;
    if (STOPPING.has(code)) {
      this.#teardown();
      this.#setState(code.startsWith('E_FORBIDDEN') ? 'forbidden' : 'error');
      this.#dispatch('error', { code, message: errorText(code, err.message), detail: err.message });
      return;
    }
    // A rejected password is not tried again by the gateway for minutes: no point asking often.
    if (code === 'E_STREAM_OFFLINE')
      this.#retry(err.reason === 'unauthorized' ? 6 * this.#opts.offlineRetryMs : this.#opts.offlineRetryMs, 'offline');
    else if (code === 'E_CAPACITY') {
      // The gateway is full (or this stream has its maximum of viewers): say so, ask again later.
      this.#retry(this.#opts.busyRetryMs, 'busy');
      this.#dispatch('error', { code, message: errorText(code, err.message), detail: err.message, retrying: true });
    } else if (code === 'E_ICE_FAILED') {
      // No path to the media server (UDP/TCP blocked, TURN refused or unreachable): say so, try again
      // (with a fresh TURN credential) now and then, not every 2 s.
      this.#retry(this.#opts.busyRetryMs, 'reconnecting');
      this.#dispatch('error', {
        code,
        message: errorText(code, err.message, err.reason),
        detail: err.message,
        retrying: true,
      });
    } else this.#retry(2000, 'reconnecting');
  }

  #retry(ms: number, state: PlayerState): void {
    this.watch?.close();
    this.watch = undefined;
    clearTimeout(this.#retryTimer);
    this.#setState(state);
    const session = this.#session;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (session === this.#session) void this.#start(session);
    }, ms);
  }

  #frame(): void {
    // Frames still draining from consumers that are gone (connection lost) do not count.
    const w = this.watch;
    if (!w || w.consumers.length === 0 || this.video.srcObject !== w.media) return;
    this.probe.framesDecoded++;
    this.lastFrameAt = performance.now();
    if (this.probe.firstFrameAt === null) this.probe.firstFrameAt = this.lastFrameAt;
    this.#presented(w.media);
    // Frames still in the browser's buffer when the gateway said the camera is down are not it coming back.
    if (this.#cameraDown) return;
    if (this.probe.state !== 'live') {
      // Tell the gateway how long this join took (its time-to-first-frame histogram).
      const video = w.consumers.find((c) => c.kind === 'video');
      if (video && w.requestedAt && !this.#reported.has(video.id)) {
        this.#reported.add(video.id);
        const ms = Math.max(0, Math.round(this.lastFrameAt - w.requestedAt));
        this.client.request('reportFirstFrame', { consumerId: video.id, ms }).catch(() => {});
      }
      this.probe.error = null;
      this.probe.reason = null;
      this.errorMessage = null;
      this.#setState('live');
      this.#dispatch('playing', {
        stream: this.probe.stream,
        variant: w.variant,
        firstFrameMs: Math.round(this.lastFrameAt - (this.probe.requestedAt ?? this.lastFrameAt)),
      });
    }
  }

  async #tick(): Promise<void> {
    const v = this.video as VideoWithRvfc;
    if (typeof v.requestVideoFrameCallback !== 'function' && this.watch) {
      // Without requestVideoFrameCallback: count frames from the playback quality counters.
      const total = this.video.getVideoPlaybackQuality?.().totalVideoFrames ?? 0;
      if (total > this.#lastPresented && this.#lastPresented >= 0) {
        for (let i = this.#lastPresented; i < total; i++) this.#frame();
      }
      this.#lastPresented = total;
    }
    if (this.probe.state === 'live' && performance.now() - this.lastFrameAt > this.#opts.stallAfterMs) {
      this.#setState('stalled');
    }
    if (this.#opts.sampleStats && this.watch) {
      const s = await this.#sampler.sample(this.watch.video).catch(() => null);
      if (s) {
        this.stats = s;
        this.probe.codec = s.codec;
        this.probe.jitterBufferMs = s.jitterBufferMs;
        this.#dispatch('stats', { stats: s });
      }
    }
  }

  /** Sets whether stats are sampled every second (the overlay turns it on). */
  set sampleStats(on: boolean) {
    this.#opts.sampleStats = on;
  }

  /** Tries again now (after an error, e.g. once a fresh token was set). */
  retryNow(): void {
    if (!this.probe.stream) return;
    void this.play(this.probe.stream, this.probe.variant ?? 'main');
  }

  #teardown(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#session++;
    this.watch?.close();
    this.watch = undefined;
    this.#lastPresented = -1;
  }

  /** Stops playing and releases the stream's consumers at the gateway. */
  stop(clearVideo = true): void {
    this.#teardown();
    if (clearVideo) this.video.srcObject = null;
    this.#setState('stopped');
  }

  dispose(): void {
    this.stop();
    this.#disposed = true;
    clearInterval(this.#timer);
    for (const off of this.#off) off();
  }
}

export function fail(code: string, message?: string): GatewayError {
  return new GatewayError(code, message ?? errorText(code));
}
