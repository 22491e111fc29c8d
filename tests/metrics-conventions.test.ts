// The gateway's /metrics follows Prometheus' conventions, checked by Prometheus' own linter (Debian's
// promtool) on what a real gateway exposes with a camera live and a viewer on it; the README's table
// of renamed series and the Grafana dashboard agree with what is exposed; and in production /metrics
// is served only to a token, or on an address of its own.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { version as mediasoupVersion } from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { gatewayOnSim, type Stack, startStack, waitFor } from './support/stack.js';
import { WsClient } from './support/wsClient.js';

const root = path.resolve(import.meta.dirname, '..');
const METRICS_TOKEN = 'metrics-token-for-the-test-suite';
const PRODUCTION = 'NODE_ENV=production';
let stack: Stack;
let viewer: WsClient;
/** One scrape with the camera live and consumed: every per-stream series is in it. */
let text: string;

const scrape = (base: string, token?: string) =>
  fetch(`${base}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

/** Metric families by `# TYPE` line: name → type. */
function families(t: string): Map<string, string> {
  return new Map(
    [...t.matchAll(/^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/gm)].map((m) => [m[1] as string, m[2] as string]),
  );
}

/** promtool on PATH, PROMTOOL, or Debian's /usr/bin/promtool. */
function promtool(): string {
  const dirs = (process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean);
  const found = [process.env['PROMTOOL'], ...dirs.map((d) => path.join(d, 'promtool')), '/usr/bin/promtool'].find(
    (c): c is string => !!c && fs.existsSync(c),
  );
  if (!found) throw new Error("promtool not found: install Debian's prometheus package, or set PROMTOOL");
  return found;
}

beforeAll(async () => {
  // Production with metrics.token: the way most deployments scrape.
  stack = await startStack({
    cameras: [{ id: 'cam-conv', profile: 'baseline', gop: 25, alwaysOn: true, ingest: 'auto' }],
    config: { media: { workers: 1 }, metrics: { token: METRICS_TOKEN } },
    production: PRODUCTION,
  });
  await waitFor('live', () => stack.gateway.streams.get('cam-conv', 'main').state === 'live', 20_000);
  viewer = await WsClient.connect(`${stack.base.replace('http', 'ws')}/ws`);
  await viewer.request('auth', { token: stack.token() });
  const caps = (await viewer.request('getRouterRtpCapabilities')).data?.['rtpCapabilities'];
  const transport = await viewer.request('createTransport');
  const consumed = await viewer.request('consume', {
    transportId: transport.data?.['id'],
    stream: 'cam-conv',
    rtpCapabilities: caps,
  });
  expect(consumed.ok).toBe(true);
  // Ingest stats are sampled once a second: wait for the first, so the bitrate has a value.
  text = await waitFor('ingest bitrate', async () => {
    const t = await (await scrape(stack.base, METRICS_TOKEN)).text();
    return /^cctv_stream_ingest_bytes_per_second\{[^}]*stream="cam-conv"[^}]*\} [1-9]/m.test(t) && t;
  });
}, 60_000);

afterAll(async () => {
  viewer?.close();
  await stack?.close();
});

describe('metric names and types', () => {
  it('pass promtool check metrics with no complaint', async () => {
    const out = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = execFile(promtool(), ['check', 'metrics'], (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
      );
      child.stdin?.end(text);
    });
    console.log(`promtool check metrics on ${families(text).size} metric families: exit ${out.code}`);
    expect(out.output.trim()).toBe('');
    expect(out.code).toBe(0);
  });

  it('expose counters as counters, the process, the event loop and the build', () => {
    const types = families(text);
    for (const [name, type] of types) if (name.endsWith('_total')) expect(type, name).toBe('counter');
    expect(types.get('cctv_stream_ingest_packets_lost_total')).toBe('counter');
    expect(text).toMatch(/^cctv_stream_ingest_packets_lost_total\{stream="cam-conv",variant="main"\} \d+$/m);
    expect(types.get('cctv_ingest_restarts_total')).toBe('counter');
    expect(text).toMatch(/^# HELP cctv_ingest_restarts_total .*FFmpeg or the packet relay/m);
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
    ])
      expect(types.has(name), name).toBe(true);
    expect(types.get('nodejs_gc_duration_seconds')).toBe('histogram');
    const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string })
      .version;
    const build = /^cctv_build_info\{([^}]*)\} (\S+)$/m.exec(text);
    expect(build?.[2]).toBe('1');
    expect(build?.[1]).toContain(`version="${version}"`);
    expect(build?.[1]).toContain(`node_version="${process.version}"`);
    expect(build?.[1]).toContain(`mediasoup_version="${mediasoupVersion}"`);
    // Names for both ingest paths: no metric says FFmpeg in its name.
    for (const name of types.keys()) expect(name).not.toMatch(/ffmpeg|_bps$/);
  });

  it("agree with the README's table of renamed series: every new name exposed, no old one", () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const lines = readme.split('\n').map((l) => l.trim());
    const header = lines.findIndex((l) => /^\|\s*old\s*\|\s*new\s*\|/.test(l));
    expect(header, 'a "| old | new |" table in README.md').toBeGreaterThan(0);
    const rows: { old: string; now: string }[] = [];
    for (const line of lines.slice(header + 2)) {
      if (!line.startsWith('|')) break;
      const [old, now] = line
        .split('|')
        .slice(1, 3)
        .map((c) => c.trim().replace(/`/g, '')) as [string, string];
      rows.push({ old, now });
    }
    expect(rows.length).toBeGreaterThanOrEqual(5);
    const types = families(text);
    const sampled = new Set([...text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)].map((m) => m[1]));
    const dashboard = fs.readFileSync(path.join(root, 'config/grafana/cctv-gateway.json'), 'utf8');
    const rules = fs.readFileSync(path.join(root, 'config/prometheus/alerts.yml'), 'utf8');
    for (const { old, now } of rows) {
      expect(old).toMatch(/^cctv_[a-z0-9_]+$/);
      expect(types.has(old) || sampled.has(old), `${old} is still exposed`).toBe(false);
      expect(dashboard, `the dashboard still asks for ${old}`).not.toMatch(new RegExp(`\\b${old}\\b`));
      expect(rules, `an alert rule still asks for ${old}`).not.toMatch(new RegExp(`\\b${old}\\b`));
      if (now === '—') continue; // removed: the row says why
      expect(types.has(now), `${now} (new name of ${old}) is not exposed`).toBe(true);
    }
    expect(rows.some((r) => r.now === '—')).toBe(true);
  });

  it('have every metric every dashboard query and alert rule asks for', () => {
    const dash = JSON.parse(fs.readFileSync(path.join(root, 'config/grafana/cctv-gateway.json'), 'utf8')) as {
      panels: { title: string; targets?: { expr?: string }[] }[];
      templating: { list: { query?: unknown }[] };
    };
    const queries = [
      ...dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? '')),
      ...dash.templating.list.map((v) => (typeof v.query === 'string' ? v.query : '')),
    ];
    const rules = YAML.parse(fs.readFileSync(path.join(root, 'config/prometheus/alerts.yml'), 'utf8')) as {
      groups: { rules: { expr: string }[] }[];
    };
    const ruleExprs = rules.groups.flatMap((g) => g.rules.map((r) => r.expr));
    expect(ruleExprs.length).toBeGreaterThanOrEqual(5);
    const types = families(text);
    const base = (name: string) => {
      const m = /^(.*)_(bucket|sum|count)$/.exec(name);
      const t = m && types.get(m[1] as string);
      return m && (t === 'histogram' || t === 'summary') ? (m[1] as string) : name;
    };
    const names = (qs: string[]) =>
      new Set(qs.flatMap((q) => [...q.matchAll(/\b(?:cctv|process|nodejs)_[a-z0-9_]+/g)].map((m) => base(m[0]))));
    const used = names(queries);
    expect(used.size).toBeGreaterThan(20);
    for (const name of used) expect(types.has(name), `${name} (in a dashboard query) is not exposed`).toBe(true);
    const asked = names(ruleExprs);
    expect(asked).toContain('nodejs_eventloop_lag_p99_seconds');
    for (const name of asked) expect(types.has(name), `${name} (in an alert rule) is not exposed`).toBe(true);
  });
});

describe('who may read /metrics', () => {
  it('in production with metrics.token: the token or an operator, nobody else', async () => {
    const none = await scrape(stack.base);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('E_UNAUTHENTICATED');
    expect((await scrape(stack.base, `${METRICS_TOKEN}x`)).status).toBe(401);
    expect((await scrape(stack.base, stack.token())).status).toBe(403); // a viewer
    const token = await scrape(stack.base, METRICS_TOKEN);
    expect(token.status).toBe(200);
    expect(token.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect((await scrape(stack.base, stack.token(['*'], 60, 'operator', 'ops'))).status).toBe(200);
    expect(stack.logs.filter((l) => /\/metrics/.test(l.msg))).toHaveLength(0); // nothing to warn about
  });

  it('in production with neither a token nor an address: refused, and one warning says what to set', async () => {
    const bare = await gatewayOnSim(stack.sim, [], { media: { workers: 1 } }, PRODUCTION);
    try {
      const res = await scrape(bare.base);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: 'E_UNAUTHENTICATED', reason: 'missing' } });
      expect((await scrape(bare.base, bare.token(['*'], 60, 'admin', 'root'))).status).toBe(200);
      await scrape(bare.base);
      const warnings = bare.logs.filter((l) => l.level === 40 && /\/metrics/.test(l.msg));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.msg).toMatch(/CCTV_METRICS_TOKEN/);
      expect(warnings[0]?.msg).toMatch(/metrics\.listen/);
    } finally {
      await bare.gateway.close();
    }
  });

  it('with metrics.listen: served on that address alone, the public port answers 404', async () => {
    const own = await gatewayOnSim(
      stack.sim,
      [],
      { media: { workers: 1 }, metrics: { listen: { host: '127.0.0.1', port: 0 } } },
      PRODUCTION,
    );
    try {
      const port = own.gateway.metricsPort;
      expect(port).toBeGreaterThan(0);
      expect(port).not.toBe(own.gateway.port);
      const pub = await scrape(own.base, own.token(['*'], 60, 'admin', 'root'));
      expect(pub.status).toBe(404);
      expect(((await pub.json()) as { error: { code: string } }).error.code).toBe('E_NOT_FOUND');
      const priv = await scrape(`http://127.0.0.1:${port}`);
      expect(priv.status).toBe(200);
      expect(await priv.text()).toMatch(/^# TYPE cctv_build_info gauge$/m);
      const other = await fetch(`http://127.0.0.1:${port}/api/streams`);
      expect(other.status).toBe(404);
      expect(((await other.json()) as { error: { code: string } }).error.code).toBe('E_NOT_FOUND');
      const huge = await scrape(`http://127.0.0.1:${port}`, 'x'.repeat(9000));
      expect(huge.status).toBe(400);
      expect(own.logs.filter((l) => l.level === 40 && /\/metrics/.test(l.msg))).toHaveLength(0);
    } finally {
      await own.gateway.close();
    }
  });
});
