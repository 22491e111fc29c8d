// The phone view's snapshot, asked for the moment the page's script runs: before the rest of the
// bundle (mediasoup-client, the view itself) is even evaluated, and before the access, the stream
// list and signaling, which follow in parallel. The view's poster then takes this answer instead of
// asking again. Keep this module's imports small: it runs first.
import type { Variant } from './GatewayClient.js';
import { liveToken } from './session.js';
import { type Snapshot, type SnapshotSource, snapshotSource, snapshotWidth } from './snapshot.js';

/** localStorage key of the view's data saver ('1': the sub variant). */
export const SAVER_KEY = 'cctv-datasaver';

/** The stream the single-stream view shows (/m/<id>, /watch.html?stream=<id>, /?stream=<id>), or null. */
export function streamFromAddress(): string | null {
  const fromPath = /^\/m\/([^/]+)/.exec(location.pathname)?.[1];
  return fromPath ? decodeURIComponent(fromPath) : new URLSearchParams(location.search).get('stream');
}

/** This address is the single-stream view (else the wall). */
export function isSingleStreamView(): boolean {
  return (
    location.pathname.endsWith('/watch.html') ||
    location.pathname.startsWith('/m/') ||
    new URLSearchParams(location.search).has('stream')
  );
}

export interface EarlySnapshot {
  stream: string;
  variant: Variant;
  snapshot: Promise<Snapshot>;
}

/**
 * Asks for the view's snapshot now: with the token of the address or the tab (the sign-in cookie
 * when there is none), about as wide as the screen, on sub with the data saver on.
 */
export function requestEarlySnapshot(): EarlySnapshot | null {
  const stream = streamFromAddress();
  if (!stream) return null;
  const token = liveToken(
    new URLSearchParams(location.search).get('token') ?? sessionStorage.getItem('cctv-token') ?? '',
  );
  const variant: Variant = localStorage.getItem(SAVER_KEY) === '1' ? 'sub' : 'main';
  const snapshot = snapshotSource({ base: location.origin, token: () => token })({
    stream,
    variant,
    width: snapshotWidth(Math.min(innerWidth, 960), devicePixelRatio),
  });
  snapshot.catch(() => {}); // a failure is the poster's to see, if it asks; never unhandled
  return { stream, variant, snapshot };
}

/** `source`, but its first request for the early snapshot's stream and variant gets that answer. */
export function primed(source: SnapshotSource, early: EarlySnapshot | null): SnapshotSource {
  let pending = early;
  return (req) => {
    const e = pending;
    if (e && req.stream === e.stream && req.variant === e.variant) {
      pending = null;
      return e.snapshot;
    }
    return source(req);
  };
}

/** The view's own poster shows: early.js's picture (if it is up) gives way on the next frame. */
export function removeEarlyPoster(): void {
  const w = window as unknown as { cctvEarlyPoster?: HTMLImageElement | null };
  const img = w.cctvEarlyPoster;
  w.cctvEarlyPoster = null; // from now on early.js does not put one up
  if (!img) return;
  requestAnimationFrame(() => {
    img.remove();
    URL.revokeObjectURL(img.src);
  });
}
