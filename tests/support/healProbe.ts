// What a browser viewer shows across a worker death, read without trusting the web client's own
// counters: an init script timestamps every frame a <video> presents (requestVideoFrameCallback) with
// the ids of the tracks it plays, so "the first new frame" is the first frame of a new consumer's
// track; and it keeps the page's RTCPeerConnections, whose remote ICE ufrag names the WebRtcServer
// transport, hence the worker slot, the page's transport lives on.
import type { Frame, Page } from 'playwright-core';
import type { WorkerSlot } from '../../gateway/src/media/WorkerSlot.js';

/** Plain JS (no build step touches it): Playwright runs it in every frame of the page's context. */
const INIT_SCRIPT = `(() => {
  if (window.__heal) return;
  const pcs = [];
  const Native = window.RTCPeerConnection;
  if (Native) {
    window.RTCPeerConnection = class extends Native {
      constructor(...args) {
        super(...args);
        pcs.push(this);
      }
    };
  }
  const recs = {};
  window.__heal = {
    watch(name, selector, inner) {
      if (recs[name]) return;
      const rec = { frames: [], video: null, handle: 0, armedAt: 0 };
      recs[name] = rec;
      const find = () => {
        const el = document.querySelector(selector);
        return (inner ? el && el.video : el) || null;
      };
      const arm = () => {
        if (rec.video && rec.handle) rec.video.cancelVideoFrameCallback(rec.handle);
        const v = find();
        rec.video = v;
        rec.handle = 0;
        rec.armedAt = performance.now();
        if (!v) return;
        rec.handle = v.requestVideoFrameCallback(() => {
          rec.handle = 0;
          const s = v.srcObject;
          const tracks = s && s.getVideoTracks ? s.getVideoTracks().map((t) => t.id).join(',') : '';
          rec.frames.push([Date.now(), tracks]);
          if (rec.frames.length > 6000) rec.frames.splice(0, 3000);
          arm();
        });
      };
      arm();
      // A callback can be lost when the element's source changes: re-arm when none came for a second.
      setInterval(() => {
        if (performance.now() - rec.armedAt > 1000 || find() !== rec.video) arm();
      }, 250);
    },
    frames(name, since) {
      const r = recs[name];
      return r ? r.frames.filter((f) => f[0] >= since) : [];
    },
    ufrags() {
      return pcs
        .filter((pc) => pc.signalingState !== 'closed')
        .map((pc) => /a=ice-ufrag:(\\S+)/.exec((pc.remoteDescription && pc.remoteDescription.sdp) || ''))
        .filter(Boolean)
        .map((m) => m[1]);
    },
  };
})();`;

/** A presented frame: [Date.now() in the page, ids of the video tracks of the element's srcObject]. */
export type PresentedFrame = [number, string];

interface HealWindow {
  __heal: {
    watch(name: string, selector: string, inner: boolean): void;
    frames(name: string, since: number): PresentedFrame[];
    ufrags(): string[];
  };
}

/** Call before the page's first goto: the script then runs in the page and in each iframe. */
export async function prepareHealProbe(page: Page): Promise<void> {
  await page.context().addInitScript({ content: INIT_SCRIPT });
}

/**
 * Starts recording the frames of the <video> `selector` finds in `frame` (with `inner`, the element's
 * `.video`, as <cctv-player> has). Safe before the element exists.
 */
export function watchVideo(frame: Frame, name: string, selector: string, inner = false): Promise<void> {
  return frame.evaluate(([n, s, i]) => (window as unknown as HealWindow).__heal.watch(n, s, i), [
    name,
    selector,
    inner,
  ] as const);
}

export function framesSince(frame: Frame, name: string, since: number): Promise<PresentedFrame[]> {
  return frame.evaluate(([n, t]) => (window as unknown as HealWindow).__heal.frames(n, t), [name, since] as const);
}

/** Server-side ICE ufrags of the frame's open peer connections. */
export function pageUfrags(frame: Frame): Promise<string[]> {
  return frame.evaluate(() => (window as unknown as HealWindow).__heal.ufrags());
}

/** ufrag → index of the serving slot whose WebRtcServer holds that transport. */
export async function slotsByUfrag(slots: readonly WorkerSlot[]): Promise<Map<string, number>> {
  const map = new Map<string, number>();
  for (const slot of slots) {
    if (!slot.serving) continue;
    const dump = (await slot.webRtcServer.dump().catch(() => null)) as {
      localIceUsernameFragments?: { localIceUsernameFragment: string }[];
    } | null;
    for (const e of dump?.localIceUsernameFragments ?? []) map.set(e.localIceUsernameFragment, slot.index);
  }
  return map;
}

export interface Heal {
  /** ms from the kill to the first frame of a new track (or, failing that, the first after a gap). */
  ms: number;
  newTrack: boolean;
}

/**
 * The first new frame after `killAt` in `frames` (all frames since a little before the kill): the
 * first frame whose tracks differ from those playing at the kill; if the tracks never changed, the
 * first frame after a pause of at least `gapMs` that began after the kill. Undefined: not yet.
 */
export function firstNewFrame(frames: readonly PresentedFrame[], killAt: number, gapMs = 400): Heal | undefined {
  const before = frames.filter((f) => f[0] < killAt).at(-1);
  const after = frames.filter((f) => f[0] >= killAt);
  const changed = after.find((f) => f[1] !== '' && f[1] !== before?.[1]);
  if (changed) return { ms: changed[0] - killAt, newTrack: true };
  let last = before?.[0] ?? killAt;
  for (const f of after) {
    if (f[0] - last >= gapMs && last >= killAt - 100) return { ms: f[0] - killAt, newTrack: false };
    last = f[0];
  }
  return undefined;
}

/** Longest pause between presented frames (and up to `until`) from `from` on. */
export function longestGap(frames: readonly PresentedFrame[], from: number, until: number): number {
  let last = from;
  let gap = 0;
  for (const f of frames) {
    if (f[0] < from) continue;
    gap = Math.max(gap, f[0] - last);
    last = f[0];
  }
  return Math.max(gap, until - last);
}
