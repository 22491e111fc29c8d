// Node side of the benchmark viewer page (web/clockViewer.ts): bundles it once with esbuild and serves
// it through Playwright at `<origin>/__bench/` of whichever server is under test, so the page is
// same-origin with the gateway's /ws, the floor's /floor/* and Janus' /janus (no CORS, no origin list).
import path from 'node:path';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { launchChromium as launchTestChromium } from '../../tests/support/browser.js';
import type { DelaySamples, JoinOptions, JoinResult, ReceiverStats } from '../web/clockViewer.js';
import { LOAD_TESTS_DIR } from './report.js';

/**
 * The tests' headless Chromium (loopback WebRTC, every window presenting frames). The viewer page is
 * served by Playwright (no address), which Local Network Access would treat as public.
 */
export function launchChromium(): Promise<Browser> {
  return launchTestChromium(['LocalNetworkAccessChecks']);
}

let bundle: Promise<string> | undefined;

function viewerBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [path.join(LOAD_TESTS_DIR, 'web', 'clockViewer.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'error',
  }).then((r) => r.outputFiles[0]?.text ?? '');
  return bundle;
}

const HTML =
  '<!doctype html><html><head><meta charset="utf-8"><title>bench viewer</title></head>' +
  '<body style="margin:0;background:#000"></body><script src="/__bench/viewer.js"></script></html>';

type BenchWindow = {
  bench: {
    join(o: JoinOptions): Promise<JoinResult>;
    leave(): Promise<void>;
    take(): DelaySamples;
    reset(): void;
    receiverStats(): Promise<ReceiverStats | null>;
  };
};

/** One viewer page at `origin`; the methods run in the page. */
export class ViewerPage {
  private constructor(readonly page: Page) {}

  /** A page in a window (browser context) of its own, like a separate viewer. */
  static async open(browser: Browser, origin: string): Promise<ViewerPage> {
    const js = await viewerBundle();
    const ctx = await browser.newContext({ viewport: { width: 800, height: 600 } });
    const page = await ctx.newPage();
    page.on('pageerror', (e) => process.stderr.write(`[viewer pageerror] ${e.message}\n`));
    page.on('crash', () => process.stderr.write('[viewer] page crashed\n'));
    if (process.env['BENCH_DEBUG']) page.on('console', (m) => process.stderr.write(`[viewer console] ${m.text()}\n`));
    await page.route(`${origin}/__bench/**`, (route) => {
      const url = new URL(route.request().url());
      if (url.pathname === '/__bench/viewer.js') {
        return route.fulfill({ status: 200, contentType: 'text/javascript', body: js });
      }
      return route.fulfill({ status: 200, contentType: 'text/html', body: HTML });
    });
    await page.goto(`${origin}/__bench/viewer.html`);
    await page.waitForFunction(() => 'bench' in window);
    return new ViewerPage(page);
  }

  join(o: JoinOptions): Promise<JoinResult> {
    return this.page.evaluate((opts) => (window as unknown as BenchWindow).bench.join(opts), o);
  }

  leave(): Promise<void> {
    return this.page.evaluate(() => (window as unknown as BenchWindow).bench.leave());
  }

  take(): Promise<DelaySamples> {
    return this.page.evaluate(() => (window as unknown as BenchWindow).bench.take());
  }

  reset(): Promise<void> {
    return this.page.evaluate(() => (window as unknown as BenchWindow).bench.reset());
  }

  receiverStats(): Promise<ReceiverStats | null> {
    return this.page.evaluate(() => (window as unknown as BenchWindow).bench.receiverStats());
  }

  async close(): Promise<void> {
    await this.leave().catch(() => {});
    await this.page
      .context()
      .close()
      .catch(() => {});
  }
}
