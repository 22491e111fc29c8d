// One still picture of a stream in an <img>: a snapshot from the gateway, or the last frame a <video>
// showed. Players keep it over their video until live video has its first frame, and show it again
// while reconnecting; wall tiles that do not play show it instead of a blank box. Each picture is an
// object URL, revoked when the next one is on screen; a page whose CSP refuses blob: images
// (img-src without blob:) gets data: URLs instead.

import { removeEarlyPoster } from './earlyPoster.js';
import type { Variant } from './GatewayClient.js';
import type { SnapshotQueue } from './SnapshotQueue.js';
import { SnapshotError, type SnapshotSource } from './snapshot.js';

/** What the poster did last, for tests and the console (times are performance.now()). */
export interface PosterProbe {
  stream: string | null;
  /** When the last snapshot request started, and when its answer arrived. */
  requestedAt: number | null;
  arrivedAt: number | null;
  /** When the picture now shown was decoded and put up, and when the first one of this stream was. */
  shownAt: number | null;
  firstShownAt: number | null;
  /** When the pictured frame was taken (ms since epoch). */
  takenAt: number | null;
  /** The snapshot's age when the gateway answered (X-Frame-Age-Ms). */
  ageMs: number | null;
  /** Where the picture came from: the gateway's snapshot, or the video's last frame. */
  kind: 'snapshot' | 'frame' | null;
  visible: boolean;
  /** When it was last taken down for live video. */
  hiddenAt: number | null;
  /** Pictures shown so far. */
  shown: number;
  /** The last failed request's code (E_NO_PICTURE, E_CAPACITY, E_FORBIDDEN_STREAM, E_NETWORK...). */
  error: string | null;
}

export interface WantOptions {
  /** A picture of the stream taken at most this long ago is kept (default: any). */
  maxAgeMs?: number;
  /** Queue priority (see SnapshotQueue). */
  priority?: number;
  /** Asked when its turn in the queue comes: false skips the request (live video came first). */
  stillWanted?: () => boolean;
}

/** A captured frame is at most this wide (a JPEG of a 4K frame is slow and big). */
const CAPTURE_MAX_WIDTH = 1280;

function toDataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(blob);
  });
}

export class Poster {
  readonly el: HTMLImageElement;
  readonly probe: PosterProbe = {
    stream: null,
    requestedAt: null,
    arrivedAt: null,
    shownAt: null,
    firstShownAt: null,
    takenAt: null,
    ageMs: null,
    kind: null,
    visible: false,
    hiddenAt: null,
    shown: 0,
    error: null,
  };
  /** The stream it pictures, or is about to (set at once, so a later call knows). */
  #stream: string | null = null;
  #blob: Blob | null = null;
  #url: string | null = null;
  /** The page's CSP refused a blob: image: data: URLs from then on. */
  #dataUrls = false;
  #inflight: { stream: string; ctl: AbortController; done: Promise<SnapshotError | null> } | undefined;
  /** Bumped whenever the picture is dropped: answers for an older one are not shown. */
  #gen = 0;
  /** Pictures are put up one at a time (a capture and a snapshot may overlap). */
  #chain: Promise<unknown> = Promise.resolve();
  #visible = false;

  constructor(
    readonly source?: SnapshotSource,
    readonly opts: { className?: string; queue?: SnapshotQueue } = {},
  ) {
    this.el = document.createElement('img');
    this.el.className = opts.className ?? 'poster';
    this.el.alt = '';
    this.el.hidden = true;
    this.el.decoding = 'async';
    this.el.setAttribute('aria-hidden', 'true');
  }

  get stream(): string | null {
    return this.#stream;
  }

  /** A picture is up. */
  get picture(): boolean {
    return this.#blob !== null;
  }

  /** When the picture shown was taken (ms since epoch; 0: none). */
  get takenAt(): number {
    return this.#blob ? (this.probe.takenAt ?? 0) : 0;
  }

  /** A snapshot request is on its way. */
  get fetching(): boolean {
    return this.#inflight !== undefined;
  }

  get visible(): boolean {
    return this.#visible;
  }

  set visible(on: boolean) {
    if (this.#visible && !on) this.probe.hiddenAt = performance.now();
    if (!on) removeEarlyPoster(); // live video is up: no picture may stay over it
    this.#visible = on;
    this.#render();
  }

  #render(): void {
    const shown = this.#visible && this.#blob !== null;
    this.el.hidden = !shown;
    this.probe.visible = shown;
  }

  /** Pictures `stream` from now on: another stream's picture is dropped at once. */
  #target(stream: string): void {
    if (stream === this.#stream) return;
    this.clear();
    this.#stream = stream;
    this.probe.stream = stream;
  }

  /**
   * Fetches a snapshot of `stream` unless one taken within `maxAgeMs` is up or one is on its way.
   * Resolves with the failure (null: shown, kept, or given up for another stream); never rejects.
   */
  want(stream: string, variant: Variant, width: number, opts: WantOptions = {}): Promise<SnapshotError | null> {
    const source = this.source;
    if (!source) return Promise.resolve(null);
    this.#target(stream);
    if (this.#inflight) return this.#inflight.done;
    if (this.#blob && Date.now() - this.takenAt <= (opts.maxAgeMs ?? Number.POSITIVE_INFINITY))
      return Promise.resolve(null);
    const ctl = new AbortController();
    const gen = this.#gen;
    this.probe.requestedAt = performance.now();
    const done = (async (): Promise<SnapshotError | null> => {
      try {
        const ask = () =>
          opts.stillWanted?.() === false
            ? Promise.resolve(null)
            : source({ stream, variant, width, signal: ctl.signal });
        const snap = this.opts.queue ? await this.opts.queue.run(ask, opts.priority ?? 0, ctl.signal) : await ask();
        if (!snap || gen !== this.#gen) return null;
        this.probe.arrivedAt = performance.now();
        this.probe.ageMs = snap.ageMs;
        await this.show(snap.blob, stream, snap.takenAt, 'snapshot');
        this.probe.error = null;
        return null;
      } catch (err) {
        if (ctl.signal.aborted) return null;
        const e = err instanceof SnapshotError ? err : new SnapshotError('E_NETWORK', 0, String(err));
        this.probe.error = e.code;
        return e;
      } finally {
        if (this.#inflight?.ctl === ctl) this.#inflight = undefined;
      }
    })();
    this.#inflight = { stream, ctl, done };
    return done;
  }

  /** Puts up `blob` (unless a newer picture of the stream is up). Resolves true when it is on screen. */
  show(blob: Blob, stream: string, takenAt: number, kind: 'snapshot' | 'frame' = 'snapshot'): Promise<boolean> {
    this.#target(stream);
    const gen = this.#gen;
    const next = this.#chain.then(() => this.#put(blob, takenAt, kind, gen));
    this.#chain = next.catch(() => false);
    return next;
  }

  async #put(blob: Blob, takenAt: number, kind: 'snapshot' | 'frame', gen: number): Promise<boolean> {
    if (gen !== this.#gen || (this.#blob && takenAt < this.takenAt)) return false;
    const url = this.#dataUrls ? await toDataUrl(blob) : URL.createObjectURL(blob);
    if (gen !== this.#gen) {
      if (url.startsWith('blob:')) URL.revokeObjectURL(url);
      return false;
    }
    this.el.src = url;
    try {
      await this.el.decode();
    } catch {
      if (url.startsWith('blob:')) URL.revokeObjectURL(url);
      if (gen !== this.#gen || this.el.src !== url) return false;
      if (this.#dataUrls) {
        this.probe.error = 'E_DECODE';
        return false;
      }
      // Refused as a blob: image (the page's CSP) or not an image at all: try once as a data: URL.
      this.#dataUrls = true;
      const ok = await this.#put(blob, takenAt, kind, gen);
      if (!ok) this.#dataUrls = false;
      return ok;
    }
    if (gen !== this.#gen) return false;
    if (this.#url?.startsWith('blob:') && this.#url !== url) URL.revokeObjectURL(this.#url);
    this.#url = url;
    this.#blob = blob;
    const now = performance.now();
    Object.assign(this.probe, { takenAt, kind, shownAt: now, shown: this.probe.shown + 1 });
    this.probe.firstShownAt ??= now;
    this.el.dataset['takenAt'] = String(Math.round(takenAt));
    this.#render();
    removeEarlyPoster();
    return true;
  }

  /** Puts up the frame `video` shows now (its last one, before it goes away). Resolves true when shown. */
  async capture(video: HTMLVideoElement, stream: string): Promise<boolean> {
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (!w || !h || video.readyState < 2) return false;
    const scale = Math.min(1, CAPTURE_MAX_WIDTH / w);
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(h * scale);
    const ctx = canvas.getContext('2d');
    if (!ctx) return false;
    const at = Date.now();
    try {
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    } catch {
      return false;
    }
    const blob = await new Promise<Blob | null>((r) => canvas.toBlob(r, 'image/jpeg', 0.85));
    return blob ? this.show(blob, stream, at, 'frame') : false;
  }

  /** Shows the picture another poster has (the wall's fullscreen view starts from its tile's). */
  adopt(other: Poster): Promise<boolean> {
    const blob = other.#blob;
    const stream = other.#stream;
    if (!blob || !stream) return Promise.resolve(false);
    return this.show(blob, stream, other.takenAt, other.probe.kind ?? 'snapshot');
  }

  /** Drops the picture and any request on its way. */
  clear(): void {
    this.#gen++;
    this.#inflight?.ctl.abort();
    this.#inflight = undefined;
    if (this.#url?.startsWith('blob:')) URL.revokeObjectURL(this.#url);
    this.#url = null;
    this.#blob = null;
    this.#stream = null;
    this.el.removeAttribute('src');
    delete this.el.dataset['takenAt'];
    Object.assign(this.probe, { stream: null, takenAt: null, ageMs: null, kind: null, firstShownAt: null });
    this.#render();
  }

  dispose(): void {
    this.clear();
    this.el.remove();
  }
}
