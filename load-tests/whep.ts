// WHEP beside the WebSocket path, in one run on one camera: time to first frame and gateway CPU per
// viewer, in headless Chromium. WebSocket: the benchmark viewer page (mediasoup-client). WHEP: the
// tests' plain RTCPeerConnection page (tests/fixtures/whep/plain.html), same origin as the gateway.
//   ttff     each join a fresh viewer (new connection / new POST, new transport, ICE + DTLS inside);
//            `request`: the consume request (WS) or the POST (WHEP) to the first frame handed to the
//            compositor (requestVideoFrameCallback); `join`: from the start of the join (WS: connect,
//            auth, transport; WHEP: createOffer) to that frame. Joins alternate WS/WHEP.
//   cpu      the gateway's process and its mediasoup workers (percent of one core) with N viewers
//            on one path, minus the same with none; / N = per viewer.
// WHEP offers are the browser's own, unrenumbered (H.264 on Chromium's payload types; README: WHEP).
// Camera: 640x360 25 fps H.264 Baseline 1 Mbps, GOP 1 s, the packet relay.
// Run: npm run bench:whep   (BENCH_WHEP_JOINS=20 BENCH_WHEP_VIEWERS=4 BENCH_WHEP_CPU_SEC=10)
import type { Browser, Page } from 'playwright-core';
import { type Stack, startStack, waitFor } from '../tests/support/stack.js';
import { plainPage } from '../tests/support/whep.js';
import { launchChromium, ViewerPage } from './lib/browserViewer.js';
import { benchCamera } from './lib/camera.js';
import { type CpuWindow, machineBusy, startCpuWindow } from './lib/proc.js';
import {
  envNumber,
  isMain,
  median,
  progress,
  type Row,
  round,
  type Summary,
  sleep,
  summarize,
  textTable,
  writeResult,
} from './lib/report.js';

export interface WhepBenchOptions {
  joins: number;
  viewers: number;
  cpuSeconds: number;
}

type Path = 'websocket' | 'whep';

export interface WhepPathResult {
  path: Path;
  joins: number;
  failures: number;
  /** Consume request (WS) or POST (WHEP) to the first frame (ms). */
  request: Summary;
  /** Start of the join to the first frame (ms). */
  join: Summary;
  /** Gateway CPU (% of one core) with `viewers` viewers, the same with none, and per viewer. */
  cpu: {
    viewers: number;
    connected: number;
    pct: number;
    basePct: number;
    pctPerViewer: number | null;
    window: CpuWindow;
  };
  samples: { request: number[]; join: number[] };
}

export interface WhepBenchResult {
  benchmark: 'whep';
  date: string;
  camera: string;
  options: WhepBenchOptions;
  paths: WhepPathResult[];
  /** WHEP ÷ WebSocket of the medians. */
  ratios: { requestP50: number | null; joinP50: number | null; cpuPerViewer: number | null };
  machineBusyPct: number;
}

export function whepOptionsFromEnv(): WhepBenchOptions {
  return {
    joins: envNumber('BENCH_WHEP_JOINS', 20),
    viewers: envNumber('BENCH_WHEP_VIEWERS', 4),
    cpuSeconds: envNumber('BENCH_WHEP_CPU_SEC', 10),
  };
}

const CAM = 'whep-bench';

type WhepWindow = {
  whepPlay(a: {
    url: string;
    bearer: string;
    renumber: number;
  }): Promise<{ status: number; joined: number; posted: number; body?: string }>;
  whepFirstFrame(timeoutMs: number): Promise<number | undefined>;
  whepStats(): Promise<{ framesDecoded: number; connectionState: string }>;
  whepStop(): Promise<number>;
};

/** A WHEP viewer: the plain page served at `<gateway>/__whep/` (same origin, no CORS), in its own window. */
class WhepPage {
  private constructor(readonly page: Page) {}

  static async open(browser: Browser, base: string): Promise<WhepPage> {
    const html = plainPage();
    const ctx = await browser.newContext({ viewport: { width: 800, height: 600 } });
    const page = await ctx.newPage();
    page.on('pageerror', (e) => process.stderr.write(`[whep pageerror] ${e.message}\n`));
    await page.route(`${base}/__whep/**`, (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: html }),
    );
    await page.goto(`${base}/__whep/plain.html`);
    return new WhepPage(page);
  }

  /** One join: { request, join } in ms to the first frame. */
  async join(base: string, token: string, timeoutMs: number): Promise<{ request: number; join: number }> {
    return this.page.evaluate(
      async ({ url, bearer, renumber, timeoutMs }) => {
        const w = window as unknown as WhepWindow;
        const r = await w.whepPlay({ url, bearer, renumber });
        if (r.status !== 201) throw new Error(`WHEP POST: ${r.status} ${r.body ?? ''}`);
        const at = await w.whepFirstFrame(timeoutMs);
        if (at === undefined) throw new Error(`no frame within ${timeoutMs} ms`);
        return { request: at - r.posted, join: at - r.joined };
      },
      { url: `${base}/whep/${CAM}`, bearer: token, renumber: 0, timeoutMs },
    );
  }

  connected(): Promise<boolean> {
    return this.page
      .evaluate(() => (window as unknown as WhepWindow).whepStats())
      .then((s) => s.connectionState === 'connected' && s.framesDecoded > 0);
  }

  leave(): Promise<number> {
    return this.page.evaluate(() => (window as unknown as WhepWindow).whepStop());
  }

  async close(): Promise<void> {
    await this.leave().catch(() => 0);
    await this.page
      .context()
      .close()
      .catch(() => {});
  }
}

export async function runWhepBench(opts: WhepBenchOptions): Promise<WhepBenchResult> {
  let stack: Stack | undefined;
  let browser: Browser | undefined;
  try {
    progress('whep: starting simulator and gateway');
    stack = await startStack({
      cameras: [{ id: CAM, ...benchCamera('whep'), alwaysOn: true, ingest: 'packet' }],
      config: { log: { level: 'warn' } },
    });
    const s = stack;
    const sv = s.gateway.streams.get(CAM, 'main');
    await waitFor('camera live', () => sv.state === 'live', 30_000);
    browser = await launchChromium();
    const token = s.token();
    const busy = machineBusy(1000);

    // Time to first frame, alternating paths so both see the same load over time.
    const ws = await ViewerPage.open(browser, s.base);
    const wp = await WhepPage.open(browser, s.base);
    const acc: Record<Path, { request: number[]; join: number[]; failures: number }> = {
      websocket: { request: [], join: [], failures: 0 },
      whep: { request: [], join: [], failures: 0 },
    };
    for (let i = 0; i < opts.joins; i++) {
      for (const path of ['websocket', 'whep'] as const) {
        try {
          if (path === 'websocket') {
            const r = await ws.join({ mode: 'gateway', stream: CAM, token, clock: false, timeoutMs: 15_000 });
            acc.websocket.request.push(round(r.ttffMs));
            acc.websocket.join.push(round(r.setupMs + r.ttffMs));
            await ws.leave();
          } else {
            const r = await wp.join(s.base, token, 15_000);
            acc.whep.request.push(round(r.request));
            acc.whep.join.push(round(r.join));
            await wp.leave();
          }
        } catch (err) {
          acc[path].failures++;
          progress(`whep ${path} join ${i + 1} failed: ${(err as Error).message}`);
          await (path === 'websocket' ? ws.leave() : wp.leave().then(() => undefined)).catch(() => {});
        }
        await waitFor('the view to end', () => sv.viewers === 0, 10_000, 20);
        // Joins land at random phases of the 1 s GOP.
        await sleep(150 + Math.floor(Math.random() * 400));
      }
      progress(
        `whep: join ${i + 1}/${opts.joins}: websocket ${acc.websocket.request.at(-1) ?? '–'} ms, whep ${acc.whep.request.at(-1) ?? '–'} ms`,
      );
    }
    await ws.close();
    await wp.close();

    // CPU per viewer: N viewers on one path at a time, against the same gateway with none.
    const groups: Record<string, () => number[]> = { node: () => [process.pid] };
    s.gateway.pool.workers.forEach((w, i) => {
      groups[`worker${i}`] = () => [w.worker.pid];
    });
    const gatewayPct = (c: CpuWindow) => round(Object.values(c.groups).reduce((a, b) => a + b, 0));
    const measure = async () => {
      const win = startCpuWindow(groups);
      await sleep(opts.cpuSeconds * 1000);
      return win.stop();
    };
    await sleep(2000);
    const baseWindow = await measure();
    const basePct = gatewayPct(baseWindow);
    progress(`whep: gateway with no viewer ${basePct} %`);
    const cpu = {} as Record<Path, WhepPathResult['cpu']>;
    for (const path of ['websocket', 'whep'] as const) {
      const viewers: { close(): Promise<void>; connected(): Promise<boolean> }[] = [];
      for (let k = 0; k < opts.viewers; k++) {
        if (path === 'websocket') {
          const p = await ViewerPage.open(browser, s.base);
          await p.join({ mode: 'gateway', stream: CAM, token, clock: false, timeoutMs: 15_000 }).catch(() => undefined);
          viewers.push({
            close: () => p.close(),
            connected: async () => ((await p.receiverStats())?.framesDecoded ?? 0) > 0,
          });
        } else {
          const p = await WhepPage.open(browser, s.base);
          await p.join(s.base, token, 15_000).catch(() => undefined);
          viewers.push(p);
        }
      }
      await sleep(3000); // joins settle: keyframes, jitter buffers, RTCP
      const window = await measure();
      const connected = (await Promise.all(viewers.map((v) => v.connected().catch(() => false)))).filter(
        Boolean,
      ).length;
      const pct = gatewayPct(window);
      cpu[path] = {
        viewers: opts.viewers,
        connected,
        pct,
        basePct,
        pctPerViewer: connected ? round((pct - basePct) / connected, 2) : null,
        window,
      };
      progress(
        `whep: ${path} ${connected}/${opts.viewers} viewers: gateway ${pct} % (per viewer ${cpu[path].pctPerViewer})`,
      );
      for (const v of viewers) await v.close();
      await waitFor('the views to end', () => sv.viewers === 0, 15_000, 50);
      await sleep(1000);
    }

    const paths: WhepPathResult[] = (['websocket', 'whep'] as const).map((path) => ({
      path,
      joins: acc[path].request.length,
      failures: acc[path].failures,
      request: summarize(acc[path].request, 0),
      join: summarize(acc[path].join, 0),
      cpu: cpu[path],
      samples: { request: acc[path].request, join: acc[path].join },
    }));
    const ratio = (a: number | null | undefined, b: number | null | undefined) =>
      a !== null && a !== undefined && b ? round(a / b, 2) : null;
    const [w, h] = paths as [WhepPathResult, WhepPathResult];
    return {
      benchmark: 'whep',
      date: new Date().toISOString(),
      camera: '640x360 25 fps H.264 Constrained Baseline, 1 Mbps, GOP 25 frames (1 s), packet relay',
      options: opts,
      paths,
      ratios: {
        requestP50: ratio(median(h.samples.request), median(w.samples.request)),
        joinP50: ratio(median(h.samples.join), median(w.samples.join)),
        cpuPerViewer: ratio(h.cpu.pctPerViewer, w.cpu.pctPerViewer),
      },
      machineBusyPct: await busy,
    };
  } finally {
    await browser?.close().catch(() => {});
    await stack?.close().catch(() => {});
  }
}

export function whepRows(r: WhepBenchResult): Row[] {
  return r.paths.map((p) => ({
    path: p.path,
    joins: p.joins,
    failures: p.failures,
    'request→frame p50 ms': median(p.samples.request),
    'request p95 ms': p.request.p95,
    'join→frame p50 ms': median(p.samples.join),
    'join p95 ms': p.join.p95,
    viewers: `${p.cpu.connected}/${p.cpu.viewers}`,
    'gateway CPU %': p.cpu.pct,
    'idle CPU %': p.cpu.basePct,
    'CPU % per viewer': p.cpu.pctPerViewer,
  }));
}

if (isMain(import.meta.url)) {
  const result = await runWhepBench(whepOptionsFromEnv());
  process.stdout.write(textTable(whepRows(result)));
  console.log(
    `WHEP / WebSocket: request→frame ${result.ratios.requestP50 ?? '–'}×, join→frame ${result.ratios.joinP50 ?? '–'}×, CPU per viewer ${result.ratios.cpuPerViewer ?? '–'}×`,
  );
  writeResult('whep', result);
  process.exit(0);
}
