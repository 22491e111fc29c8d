// A load-generator process for the soak: churning viewers of the gateway, headless Chromium pages (the
// phone view) and werift peers, each opened, watched for a few seconds and closed, over and over. It
// runs apart from the gateway so the soak's numbers of the gateway's Node process are the gateway's,
// not Playwright's or werift's.
//   parent → child  { cmd: 'round', ... }  churn for `seconds`, then close everything; replies RoundStats
//                   { cmd: 'stop' }        closes the browser and exits
//   child → parent  { ok: true, data } | { ok: false, error }
import { type Browser, launchBrowser } from '../../tests/support/browser.js';
import { openPhone, waitPlaying } from '../../tests/support/healViewers.js';
import { WeriftViewer } from './WeriftViewer.js';

export interface RoundCommand {
  cmd: 'round';
  base: string;
  token: string;
  streams: string[];
  seconds: number;
  /** Concurrent Chromium pages and werift peers. */
  pages: number;
  werift: number;
  /** A viewer stays this long (× 0.5–1.5) after it plays. */
  holdSec: number;
}

export type ChurnCommand = RoundCommand | { cmd: 'stop' };

export interface KindStats {
  opened: number;
  /** Played: a page presented 10 frames in a second, a werift peer got RTP. */
  played: number;
  failed: number;
  /** Open → playing, ms, of those that played. */
  playMs: number[];
  errors: string[];
}

export interface RoundStats {
  browser: KindStats;
  werift: KindStats;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const fresh = (): KindStats => ({ opened: 0, played: 0, failed: 0, playMs: [], errors: [] });

let browser: Browser | undefined;

/** Opens a viewer of `stream`, resolves once it plays; the returned function closes it. */
type Opener = (stream: string, name: string) => Promise<() => Promise<void>>;

const openPage =
  (b: Browser, r: RoundCommand): Opener =>
  async (stream, name) => {
    const v = await openPhone(b, r.base, r.token, stream, name);
    const close = () => v.page.close().catch(() => {});
    try {
      await waitPlaying(v, 20_000);
    } catch (err) {
      await close();
      throw err;
    }
    return close;
  };

const openWerift =
  (r: RoundCommand): Opener =>
  async (stream) => {
    const v = await WeriftViewer.gateway(`${r.base.replace(/^http/, 'ws')}/ws`, r.token, stream);
    const until = Date.now() + 10_000;
    while (v.counters.packets === 0) {
      if (Date.now() > until) {
        await v.close();
        throw new Error(`werift: no RTP of ${stream} within 10 s`);
      }
      await sleep(50);
    }
    return () => v.close();
  };

async function round(r: RoundCommand): Promise<RoundStats> {
  const until = Date.now() + r.seconds * 1000;
  const stats: RoundStats = { browser: fresh(), werift: fresh() };
  let next = 0;
  const loop = async (open: Opener, st: KindStats, name: string) => {
    while (Date.now() < until) {
      const stream = r.streams[next++ % r.streams.length] as string;
      const t0 = performance.now();
      st.opened++;
      let close: (() => Promise<void>) | undefined;
      try {
        close = await open(stream, `${name}-${st.opened}`);
        st.played++;
        st.playMs.push(Math.round(performance.now() - t0));
      } catch (err) {
        st.failed++;
        if (st.errors.length < 5) st.errors.push(`${stream}: ${(err as Error).message.split('\n')[0]}`);
        await sleep(1000); // a failing gateway is not hammered
        continue;
      }
      await sleep(Math.max(0, Math.min(r.holdSec * (0.5 + Math.random()) * 1000, until - Date.now())));
      await close();
    }
  };
  if (r.pages > 0) browser ??= await launchBrowser();
  const b = browser;
  await Promise.all([
    ...Array.from({ length: b ? r.pages : 0 }, (_, i) => loop(openPage(b as Browser, r), stats.browser, `page${i}`)),
    ...Array.from({ length: r.werift }, (_, i) => loop(openWerift(r), stats.werift, `werift${i}`)),
  ]);
  return stats;
}

async function stop(): Promise<void> {
  await browser?.close().catch(() => {});
  browser = undefined;
}

process.on('message', (m: ChurnCommand) => {
  const work = m.cmd === 'round' ? round(m) : stop();
  work.then(
    (data) => {
      process.send?.({ ok: true, data });
      if (m.cmd === 'stop') process.disconnect();
    },
    (err: Error) => process.send?.({ ok: false, error: err.message }),
  );
});
// A parent that dies must not leave Chromium behind.
process.on('disconnect', () => void stop().finally(() => process.exit(0)));
process.on('unhandledRejection', (err) => process.stderr.write(`[churn process] ${String(err)}\n`));
