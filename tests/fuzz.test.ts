// A seeded fuzz of the signaling socket while a real browser plays a camera: mutated valid requests,
// random and binary frames, invalid UTF-8, huge and deeply nested messages, prototype names as methods
// and keys, from authenticated and unauthenticated clients at once. Replay: CCTV_FUZZ_SEED=<seed>.
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import readline from 'node:readline';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, launchBrowser } from './support/browser.js';
import type { FuzzPlan, FuzzReport } from './support/fuzz.js';
import { openPlayer, probe } from './support/player.js';
import { type Stack, sleep, startStack, waitFor } from './support/stack.js';
import { WsClient } from './support/wsClient.js';

const SEED = Number(process.env['CCTV_FUZZ_SEED'] ?? 0x13c0de);
const FUZZ_MS = 20_000;
/** The signaling server's log interval (SignalingOptions.logIntervalMs, default). */
const LOG_INTERVAL_MS = 10_000;
const CLIENTS = { authenticated: 6, unauthenticated: 6, raw: 3 };

/**
 * Starts the fuzz clients in a process of their own (tests/support/fuzzClients.ts): `started` once
 * they run (tsx's start-up is no fuzz), `report` when they are done.
 */
function fuzzInChild(plan: FuzzPlan): { started: Promise<void>; report: Promise<FuzzReport> } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./support/fuzzClients.ts', import.meta.url).pathname],
    {
      env: { ...process.env, CCTV_FUZZ_PLAN: JSON.stringify(plan) },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines = readline.createInterface({ input: child.stdout });
  let onStarted = () => {};
  const report = new Promise<FuzzReport>((resolve, reject) => {
    lines.on('line', (line) => (line === 'started' ? onStarted() : resolve(JSON.parse(line) as FuzzReport)));
    child.once('exit', (code) => reject(new Error(`fuzz clients exited with ${code} before their report`)));
  });
  const started = new Promise<void>((resolve, reject) => {
    onStarted = resolve;
    report.catch(reject);
  });
  return { started, report };
}

/** The signaling server's refusal lines: a first occurrence or a summary. */
const REFUSAL_LINE =
  /^(signaling request refused|websocket (error|refused: |closed: )|peer .+ more E_\w+|\d+ more refusals)/;

let stack: Stack;
let browser: Browser;
let viewer: Page;

const wsUrl = () => `${stack.base.replace('http', 'ws')}/ws`;

beforeAll(async () => {
  stack = await startStack({
    cameras: [{ id: 'fz-cam', profile: 'baseline', gop: 25, alwaysOn: true, ingest: 'packet' }],
  });
  browser = await launchBrowser();
  viewer = await openPlayer(browser, stack.base, stack.token(['fz-cam']), 'fz-cam');
  await waitFor('viewer playing', async () => (await probe(viewer)).framesDecoded > 25, 20_000);
});

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const rejectedByCode = async (): Promise<Map<string, number>> => {
  const text = await (await fetch(`${stack.base}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^cctv_signaling_rejected_total\{code="([^"]+)"\} (\d+)/gm))
    out.set(m[1] as string, Number(m[2]));
  return out;
};

async function healthProbe(stop: () => boolean): Promise<number[]> {
  const ms: number[] = [];
  while (!stop()) {
    const t0 = performance.now();
    const res = await fetch(`${stack.base}/healthz`);
    await res.text();
    ms.push(performance.now() - t0);
    await sleep(50);
  }
  return ms.sort((a, b) => a - b);
}

describe('signaling fuzz', () => {
  it('answers every hostile message with a client error, logs a bounded number of lines, and the viewer plays on', async () => {
    console.log(`fuzz seed ${SEED} (replay: CCTV_FUZZ_SEED=${SEED} npx vitest run tests/fuzz.test.ts)`);
    const f0 = (await probe(viewer)).framesDecoded;
    const baselineEnd = Date.now() + 5000;
    // The gateway runs in this process: its event loop's delay tells its own stalls from the machine's.
    const loopBefore = monitorEventLoopDelay({ resolution: 10 });
    loopBefore.enable();
    const healthBefore = await healthProbe(() => Date.now() > baselineEnd);
    loopBefore.disable();
    const fpsBefore = ((await probe(viewer)).framesDecoded - f0) / 5;

    const rejectedBefore = await rejectedByCode();
    const logsAt = stack.logs.length;
    const plan: FuzzPlan = {
      url: wsUrl(),
      seed: SEED,
      durationMs: FUZZ_MS,
      tokens: Array.from({ length: CLIENTS.authenticated }, (_, i) =>
        stack.token(['*'], 3600, 'viewer', `fuzzer-${i}`),
      ),
      forged: stack.token(['*']).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')),
      unauthenticated: CLIENTS.unauthenticated,
      raw: CLIENTS.raw,
    };
    const fuzz = fuzzInChild(plan);
    await fuzz.started;
    const framesAtStart = (await probe(viewer)).framesDecoded;
    const t0 = Date.now();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const cpu0 = process.cpuUsage();
    let done = false;
    const [health, stats] = await Promise.all([
      healthProbe(() => done),
      fuzz.report.finally(() => {
        done = true;
      }),
    ]);
    const seconds = (Date.now() - t0) / 1000;
    loop.disable();
    const cpu = process.cpuUsage(cpu0);
    const cpuPct = ((cpu.user + cpu.system) / 1e4 / seconds).toFixed(1);
    const p = await probe(viewer);
    const fpsDuring = (p.framesDecoded - framesAtStart) / seconds;
    const lines = stack.logs.slice(logsAt);

    const rejectedAfter = await rejectedByCode();
    const codes = [...rejectedAfter].filter(([c, n]) => n > (rejectedBefore.get(c) ?? 0)).map(([c]) => c);
    const refusedCount = [...rejectedAfter].reduce((n, [c, v]) => n + v - (rejectedBefore.get(c) ?? 0), 0);
    const errorReplies = Object.entries(stats.replies).reduce((n, [c, v]) => n + (c === 'ok' ? 0 : v), 0);
    const viewsStarted = lines.filter((l) => l.msg === 'view started').length;
    const refusalLines = lines.filter((l) => REFUSAL_LINE.test(l.msg));
    const otherLines = lines.length - refusalLines.length - viewsStarted;
    // Per peer (all 127.0.0.1 here) and code: the first line, then a summary at each interval tick.
    const bound = codes.length * (1 + Math.ceil((seconds * 1000) / LOG_INTERVAL_MS));
    const p99 = health[Math.floor(health.length * 0.99)] ?? Number.POSITIVE_INFINITY;
    const p99Before = healthBefore[Math.floor(healthBefore.length * 0.99)] ?? Number.POSITIVE_INFINITY;
    const byMsg = new Map<string, number>();
    for (const l of lines) byMsg.set(l.msg.replace(/\d+/g, 'N'), (byMsg.get(l.msg.replace(/\d+/g, 'N')) ?? 0) + 1);

    console.log(
      [
        `fuzz: ${stats.sent} messages in ${seconds.toFixed(1)} s over ${stats.connections} connections (${Object.values(CLIENTS).reduce((a, b) => a + b)} clients, ${(stats.cpuMs / 10 / seconds).toFixed(1)} % of a core)`,
        `replies: ${JSON.stringify(stats.replies)}`,
        `closes: ${JSON.stringify(stats.closes)}`,
        `refusals counted in metrics: ${refusedCount} (${codes.join(', ')})`,
        `log lines: ${lines.length} (refusals and summaries ${refusalLines.length}, bound ${bound}; view started ${viewsStarted}; other ${otherLines})`,
        `log lines by message: ${JSON.stringify(Object.fromEntries(byMsg))}`,
        `/healthz: ${health.length} probes, p50 ${health[Math.floor(health.length / 2)]?.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${health.at(-1)?.toFixed(1)} ms (before the fuzz: p99 ${p99Before.toFixed(1)} ms); gateway event-loop delay p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms (before ${(loopBefore.percentile(99) / 1e6).toFixed(1)} ms), its process ${cpuPct} % of a core`,
        `viewer: ${fpsBefore.toFixed(1)} fps before, ${fpsDuring.toFixed(1)} fps during`,
      ].join('\n'),
    );
    if (stats.internal.length) console.log(`E_INTERNAL for:\n${stats.internal.slice(0, 20).join('\n')}`);

    expect(stats.internal).toEqual([]);
    expect(stats.replies['E_INTERNAL'] ?? 0).toBe(0);
    expect(stack.logs.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([]);
    expect(refusedCount).toBeGreaterThanOrEqual(errorReplies);
    expect(errorReplies).toBeGreaterThan(1000);
    expect(refusalLines.length).toBeLessThanOrEqual(bound);
    // Real events stay logged: a view per successful consume, and a few of the gateway's own at most.
    expect(viewsStarted).toBeLessThanOrEqual(stats.consumes);
    expect(otherLines).toBeLessThanOrEqual(10);
    expect(lines.some((l) => / more E_\w+ in the last \d+ s$/.test(l.msg))).toBe(true);
    expect(p99, `/healthz p99 during the fuzz (before it: ${p99Before.toFixed(1)} ms)`).toBeLessThan(100);
    expect(p.error).toBeNull();
    expect(
      Math.abs(fpsDuring - fpsBefore),
      `fps ${fpsBefore.toFixed(1)} before, ${fpsDuring.toFixed(1)} during`,
    ).toBeLessThanOrEqual(fpsBefore * 0.1);

    // Still serving: a new viewer gets a consumer.
    expect((await fetch(`${stack.base}/healthz`)).status).toBe(200);
    const c = await WsClient.connect(wsUrl());
    expect((await c.request('auth', { token: stack.token(['fz-cam']) })).ok).toBe(true);
    const caps = (await c.request('getRouterRtpCapabilities')).data?.['rtpCapabilities'];
    const t = await c.request('createTransport');
    const r = await c.request('consume', { transportId: t.data?.['id'], stream: 'fz-cam', rtpCapabilities: caps });
    expect(r.ok).toBe(true);
    c.close();
  }, 90_000);

  it('names each client error the fuzz found once as E_INTERNAL', async () => {
    const a = await WsClient.connect(wsUrl());
    const b = await WsClient.connect(wsUrl());
    await a.request('auth', { token: stack.token(['fz-cam'], 600, 'viewer', 'a') });
    await b.request('auth', { token: stack.token(['fz-cam'], 600, 'viewer', 'b') });
    const caps = (await a.request('getRouterRtpCapabilities')).data?.['rtpCapabilities'];
    const transportId = (await a.request('createTransport')).data?.['id'];
    const fp = { algorithm: 'sha-256', value: Array(32).fill('ab').join(':') };
    const err = async (p: Promise<{ error?: { code: string; message: string } }>) => (await p).error;

    expect((await a.request('connectTransport', { transportId, dtlsParameters: { fingerprints: [fp] } })).ok).toBe(
      true,
    );
    expect(await err(a.request('connectTransport', { transportId, dtlsParameters: { fingerprints: [fp] } }))).toEqual({
      code: 'E_BAD_REQUEST',
      message: `transport ${transportId} is already connected`,
    });
    const t2 = (await a.request('createTransport')).data?.['id'];
    expect(
      await err(a.request('connectTransport', { transportId: t2, dtlsParameters: { role: 'x', fingerprints: [fp] } })),
    ).toMatchObject({ code: 'E_BAD_REQUEST', message: expect.stringContaining('/dtlsParameters/role') });
    expect(
      await err(
        a.request('connectTransport', { transportId: t2, dtlsParameters: { fingerprints: [{ value: 'zz' }] } }),
      ),
    ).toMatchObject({ code: 'E_BAD_REQUEST', message: expect.stringContaining('/dtlsParameters/fingerprints/0') });
    expect(
      await err(a.request('consume', { transportId, stream: 'fz-cam', rtpCapabilities: { headerExtensions: 5 } })),
    ).toMatchObject({ code: 'E_BAD_REQUEST', message: expect.stringContaining('/rtpCapabilities/headerExtensions') });

    const consumed = await a.request('consume', { transportId, stream: 'fz-cam', rtpCapabilities: caps });
    const consumerId = (consumed.data?.['consumers'] as { id: string }[] | undefined)?.[0]?.id;
    expect(consumerId).toBeTruthy();
    expect(await err(b.request('resume', { consumerId }))).toMatchObject({ code: 'E_NOT_FOUND' });
    expect(
      await err(b.request('connectTransport', { transportId: t2, dtlsParameters: { fingerprints: [fp] } })),
    ).toMatchObject({
      code: 'E_NOT_FOUND',
    });
    expect((await a.request('closeConsumer', { consumerId })).ok).toBe(true);
    expect(await err(a.request('resume', { consumerId }))).toMatchObject({ code: 'E_NOT_FOUND' });

    for (const method of ['constructor', 'toString', '__proto__', 'valueOf', 'hasOwnProperty', '__defineGetter__'])
      expect((await err(b.request(method, { x: 1 })))?.code, method).toBe('E_UNKNOWN_METHOD');
    for (const [text, key] of [
      ['{"__proto__":{"admin":true}}', '__proto__'],
      ['{"constructor":{"prototype":{}}}', 'constructor'],
    ]) {
      expect(await err(b.request('listStreams', JSON.parse(text as string)))).toEqual({
        code: 'E_BAD_REQUEST',
        message: `the key "${key}" is not allowed`,
      });
    }
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    for (const header of ['{"alg":"HS256","typ":"JWT"}', '{"alg":{"toString":1}}']) {
      const token = `${b64(header)}.${b64('not json')}.c2ln`;
      expect(await err(b.request('auth', { token })), header).toMatchObject({ code: 'E_UNAUTHENTICATED' });
    }

    // A burst of createTransport cannot pass the limit (4) while the first ones are still being made.
    const c = await WsClient.connect(wsUrl());
    await c.request('auth', { token: stack.token(['fz-cam']) });
    const burst = await Promise.all(Array.from({ length: 10 }, () => c.request('createTransport')));
    expect(burst.filter((r) => r.ok).length).toBe(4);
    expect(burst.filter((r) => r.error?.code === 'E_LIMIT').length).toBe(6);
    for (const x of [a, b, c]) x.close();
    expect(stack.logs.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([]);
  });
});
