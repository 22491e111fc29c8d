// The first script of the single-stream (phone) view: a few KiB, inlined in the page, that ask for the
// camera's snapshot while the main bundle (app.js, mediasoup-client with it) is still on its way,
// and put it on screen the moment it is decoded, before that bundle has even run. app.js takes the
// answer from here (window.cctvEarlySnapshot) instead of asking again; the view's own poster takes
// this picture's place when it shows (removeEarlyPoster).
import { type EarlySnapshot, isSingleStreamView, requestEarlySnapshot } from './earlyPoster.js';

const w = window as unknown as {
  cctvEarlySnapshot?: EarlySnapshot | null;
  cctvEarlyPoster?: HTMLImageElement;
  cctvEarlyShown?: Promise<void>;
};
const early = isSingleStreamView() ? requestEarlySnapshot() : null;
w.cctvEarlySnapshot = early;
// Settles once the picture is up, or there is none: app.js starts the view after it (or a short
// wait), so the view's work does not hold the main thread while the picture comes in.
w.cctvEarlyShown = early?.snapshot
  .then(async (s) => {
    const img = document.createElement('img');
    img.className = 'early-poster';
    img.alt = '';
    img.src = URL.createObjectURL(s.blob);
    await img.decode();
    if (w.cctvEarlyPoster === undefined) {
      w.cctvEarlyPoster = img;
      (document.body ?? document.documentElement).append(img);
      performance.mark('cctv:early-poster');
    } else URL.revokeObjectURL(img.src); // the view's own poster was first
  })
  .catch(() => {}); // no picture: the view's poster says why, if it asks
