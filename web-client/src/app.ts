// Entry of the gateway's own pages: the wall at / (no stream chosen), the single-stream view at
// /watch.html, /m/<stream> and /?stream=<id> (the link the gateway prints and the tests open).
import { startWall } from './wall.js';
import { startWatch } from './watch.js';

const single =
  location.pathname.endsWith('/watch.html') ||
  location.pathname.startsWith('/m/') ||
  new URLSearchParams(location.search).has('stream');
if (single) startWatch();
else startWall();
