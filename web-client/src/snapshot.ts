// The gateway's snapshot API as the players use it: GET /api/streams/<id>/snapshot.jpg?variant=&width=
// answers a JPEG of the stream's newest frame (X-Frame-Age-Ms: how old that frame is). A poster shows
// it while live video starts; the snapshot wall shows nothing else. Authorised like the other REST
// reads: `Authorization: Bearer <token>`, or the sign-in cookie (same origin, no token yet).
import type { Variant } from './GatewayClient.js';

/** What the gateway scales a snapshot to: 16..3840 pixels wide. */
export const SNAPSHOT_MIN_WIDTH = 16;
export const SNAPSHOT_MAX_WIDTH = 3840;
/** Widths are rounded up to this step, so tiles of about one size ask for one size. */
const WIDTH_STEP = 80;
/** A box up to this many device pixels wide is drawn from the sub stream, where the camera has one. */
export const SUB_MAX_WIDTH = 640;
/** One try waits at most this long (the first snapshot of an idle camera takes 1–3 s). */
const FETCH_TIMEOUT_MS = 8000;
/** E_NO_PICTURE is asked once more after Retry-After, but never later than this. */
const NO_PICTURE_RETRY_MAX_MS = 4000;

export interface Snapshot {
  blob: Blob;
  stream: string;
  variant: Variant;
  /** When the pictured frame was taken (ms since epoch, from X-Frame-Age-Ms). */
  takenAt: number;
  /** How old the frame was when the gateway answered (ms), or null if it did not say. */
  ageMs: number | null;
}

export interface SnapshotRequest {
  stream: string;
  variant: Variant;
  /** Device pixels wide; omitted: the stream's own size. */
  width?: number;
  signal?: AbortSignal;
}

/** Fetches one snapshot; rejects with a SnapshotError (or an AbortError). */
export type SnapshotSource = (req: SnapshotRequest) => Promise<Snapshot>;

export class SnapshotError extends Error {
  constructor(
    /** The gateway's code (E_NO_PICTURE, E_CAPACITY, E_FORBIDDEN_STREAM...), or E_NETWORK. */
    readonly code: string,
    /** HTTP status; 0 for a network error. */
    readonly status: number,
    message: string,
    /** The gateway's Retry-After (ms), if it sent one. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

export function snapshotUrl(base: string, stream: string, variant: Variant, width?: number): string {
  const u = new URL(`/api/streams/${encodeURIComponent(stream)}/snapshot.jpg`, base);
  u.searchParams.set('variant', variant);
  if (width) u.searchParams.set('width', String(width));
  return u.toString();
}

/** The width to ask for a box `cssPx` wide: its device pixels rounded up to a step, within the API's range. */
export function snapshotWidth(cssPx: number, dpr = 1): number {
  const px = Math.ceil((Number.isFinite(cssPx) && cssPx > 0 ? cssPx : 320) * (dpr > 0 ? dpr : 1));
  const stepped = Math.ceil(px / WIDTH_STEP) * WIDTH_STEP;
  return Math.max(SNAPSHOT_MIN_WIDTH, Math.min(SNAPSHOT_MAX_WIDTH, stepped));
}

/** The variant to draw a box of `width` device pixels from: sub when the camera has one and the box is small. */
export function snapshotVariant(variants: readonly Variant[], width: number): Variant {
  return width <= SUB_MAX_WIDTH && variants.includes('sub') ? 'sub' : 'main';
}

/** Retry-After (seconds, or an HTTP date) in ms; null when absent or unreadable. */
export function retryAfterMs(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  const s = Number(value);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/**
 * Snapshots from the gateway at `base` with the page's current token (read on every request, so a
 * renewed session token is used at once). No token: the sign-in cookie, if the gateway is this origin.
 */
export function snapshotSource(opts: { base: string; token: () => string }): SnapshotSource {
  const sameOrigin = new URL(opts.base, location.href).origin === location.origin;
  const once = async (req: SnapshotRequest): Promise<Snapshot> => {
    const token = opts.token();
    if (!token && !sameOrigin) throw new SnapshotError('E_UNAUTHENTICATED', 401, 'no token for another origin');
    // A timeout of its own and the caller's abort (AbortSignal.any/timeout are too new for Safari 15).
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
    const forward = () => ctl.abort();
    req.signal?.addEventListener('abort', forward, { once: true });
    let res: Response;
    try {
      res = await fetch(snapshotUrl(opts.base, req.stream, req.variant, req.width), {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        credentials: sameOrigin ? 'same-origin' : 'omit',
        cache: 'no-store',
        signal: ctl.signal,
      });
    } catch (err) {
      clearTimeout(timer);
      if (req.signal?.aborted) throw err;
      throw new SnapshotError('E_NETWORK', 0, (err as Error).message);
    } finally {
      req.signal?.removeEventListener('abort', forward);
    }
    if (!res.ok) {
      clearTimeout(timer);
      const body = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
      throw new SnapshotError(
        body?.error?.code ?? `E_HTTP_${res.status}`,
        res.status,
        body?.error?.message ?? res.statusText,
        retryAfterMs(res.headers.get('retry-after')),
      );
    }
    const blob = await res.blob().finally(() => clearTimeout(timer));
    const age = Number(res.headers.get('x-frame-age-ms'));
    const ageMs = res.headers.has('x-frame-age-ms') && Number.isFinite(age) ? Math.max(0, age) : null;
    return { blob, stream: req.stream, variant: req.variant, takenAt: Date.now() - (ageMs ?? 0), ageMs };
  };
  return async (req) => {
    try {
      return await once(req);
    } catch (err) {
      // No picture yet (the camera's first keyframe is on its way): ask once more when the gateway says.
      if (!(err instanceof SnapshotError) || err.code !== 'E_NO_PICTURE') throw err;
      await sleep(Math.min(NO_PICTURE_RETRY_MAX_MS, err.retryAfterMs ?? 1000), req.signal);
      return once(req);
    }
  };
}
