// Entry of the gateway's own pages: the wall at / (no stream chosen), the single-stream view at
// /watch.html, /m/<stream> and /?stream=<id> (the link the gateway prints and the tests open).
// The phone view's snapshot is asked for first (by early.js, else here); the views are imported lazily (esbuild evaluates a
// dynamically imported module, and mediasoup-client with it, only then), so that request goes out
// before the rest of the bundle has run.
import { type EarlySnapshot, isSingleStreamView, requestEarlySnapshot } from './earlyPoster.js';

// When the entry runs: how long the browser took to get here (tests print it).
performance.mark('cctv:start');
if (isSingleStreamView()) {
  // early.js (loaded before this bundle) has asked already; a page without it asks now.
  const w = window as unknown as { cctvEarlySnapshot?: EarlySnapshot | null };
  const early = w.cctvEarlySnapshot !== undefined ? w.cctvEarlySnapshot : requestEarlySnapshot();
  void import('./watch.js').then((m) => m.startWatch(early));
} else void import('./wall.js').then((m) => m.startWall());
