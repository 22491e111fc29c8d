// Every benchmark in one run: delay, time to first frame, fan-out, ingest, worker heal. Writes each one's
// load-tests/out/<name>.json, the combined load-tests/results/<date>.json (meant to be committed) and
// prints the combined table in markdown for README's Performance section.
// Run: npm run bench   (BENCH_ONLY=delay,ttff,fanout,ingest,heal to pick; each benchmark's own BENCH_* too)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type DelayResult, delayOptionsFromEnv, delayRows, runDelay } from './delay.js';
import { type FanoutResult, fanoutOptionsFromEnv, fanoutRows, janusRatio, runFanout } from './fanout.js';
import { type HealResult, healOptionsFromEnv, healRows, runHeal } from './heal.js';
import { type CityResult, type IngestResult, ingestOptionsFromEnv, ingestRows, runIngest } from './ingest.js';
import { machineBusy } from './lib/proc.js';
import { LOAD_TESTS_DIR, markdownTable, progress, type Row, round, textTable, writeResult } from './lib/report.js';
import { coldStepsText, runTtff, type TtffResult, ttffOptionsFromEnv, ttffRows } from './ttff.js';

export interface AllResults {
  benchmark: 'all';
  date: string;
  machine: { cpus: string; cores: number; memoryGiB: number; node: string; kernel: string };
  /** Whole-machine CPU (percent of one core, all cores) just before the run: other people's work. */
  machineBusyBeforePct: number;
  durationSeconds: number;
  delay?: DelayResult;
  ttff?: TtffResult;
  fanout?: FanoutResult;
  ingest?: IngestResult;
  heal?: HealResult;
  errors: Record<string, string>;
}

type Name = 'delay' | 'ttff' | 'fanout' | 'ingest' | 'heal';

const yes = (ok: boolean | null) => (ok === null ? '–' : ok ? 'yes' : 'no');
/** One verdict per ingest path when the packet relay was measured too (H.264 cameras use it by default). */
const verdicts = (ffmpeg: number | null | undefined, relay: number | null | undefined, max: number) => {
  const v = (x: number | null | undefined) => yes(x == null ? null : x <= max);
  return relay === undefined ? v(ffmpeg) : `FFmpeg ${v(ffmpeg)}, relay ${v(relay)}`;
};

/** The one table for README: each target, what we measured, the reference points and the verdict. */
export function summaryRows(r: AllResults): Row[] {
  const rows: Row[] = [];
  const d = r.delay;
  if (d) {
    const p = (name: string) => d.paths.find((x) => x.path === name);
    const g = p('gateway');
    const f = p('floor');
    const j = p('janus');
    const relay = p('relay');
    const withRelay = (v: number | null | undefined) => (relay ? { 'gateway, packet relay': v } : {});
    const ratio = (a?: number | null, b?: number | null) => (a && b ? round(a / b, 2) : null);
    rows.push({
      metric: 'glass-to-glass p50 (ms)',
      gateway: g?.p50,
      ...withRelay(relay?.p50),
      floor: f?.p50,
      janus: j?.p50,
      'ours/janus': ratio(g?.p50, j?.p50),
      target: '≤ 60',
      met: verdicts(g?.p50, relay?.p50, 60),
    });
    rows.push({
      metric: 'glass-to-glass p95 (ms)',
      gateway: g?.p95,
      ...withRelay(relay?.p95),
      floor: f?.p95,
      janus: j?.p95,
      'ours/janus': ratio(g?.p95, j?.p95),
      target: '≤ 100',
      met: verdicts(g?.p95, relay?.p95, 100),
    });
    rows.push({
      metric: 'glass-to-glass p99 (ms)',
      gateway: g?.p99,
      ...withRelay(relay?.p99),
      floor: f?.p99,
      janus: j?.p99,
      'ours/janus': ratio(g?.p99, j?.p99),
    });
    rows.push({
      metric: 'gateway − floor at p50 (ms; at receive time)',
      gateway: `${d.gatewayOverFloorP50Ms ?? '–'} (${d.gatewayOverFloorReceiveP50Ms ?? '–'})`,
      target: '≤ 15',
      met: yes(d.gatewayOverFloorP50Ms === null ? null : d.gatewayOverFloorP50Ms <= 15),
    });
    /** The relay's two bars: at most floor + 10 ms, and not above Janus (with the bootstrap interval). */
    const relayBars = (
      label: string,
      overFloor: number | null | undefined,
      vsJanus: DelayResult['relayVsJanusP50'] | undefined,
    ) => {
      rows.push({
        metric: `${label} − floor at p50 (ms)`,
        'gateway, packet relay': overFloor,
        target: '≤ 10',
        met: yes(overFloor == null ? null : overFloor <= 10),
      });
      rows.push({
        metric: `${label} − janus at p50 (ms, 95% CI)`,
        'gateway, packet relay': vsJanus ? `${vsJanus.diff} (${vsJanus.ci95[0]} … ${vsJanus.ci95[1]})` : null,
        target: '≤ 0',
        met: yes(vsJanus ? vsJanus.diff <= 0 : null),
      });
    };
    if (relay) relayBars('packet relay', d.relayOverFloorP50Ms, d.relayVsJanusP50);
    const low = p('relay-low');
    if (low) {
      rows.push({
        metric: "glass-to-glass p50 / p95 (ms), viewer latency 'low'",
        'gateway, packet relay': `${low.p50} / ${low.p95}`,
        target: '≤ 60 / ≤ 100',
        met: yes(low.p50 == null || low.p95 == null ? null : low.p50 <= 60 && low.p95 <= 100),
      });
      relayBars("packet relay, latency 'low'", d.relayLowOverFloorP50Ms, d.relayLowVsJanusP50);
    }
    rows.push({
      metric: 'capture → browser receive p50 (ms)',
      gateway: g?.receiveP50,
      ...withRelay(relay?.receiveP50),
      floor: f?.receiveP50,
      janus: j?.receiveP50,
    });
  }
  const t = r.ttff;
  if (t) {
    const m = (name: string) => t.modes.find((x) => x.mode === name);
    const warm = m('warm');
    const cold = m('cold');
    const janus = m('janus');
    rows.push({
      metric: 'first frame, warm, p50 / p95 (ms)',
      gateway: warm ? `${warm.ttff.p50} / ${warm.ttff.p95}` : null,
      janus: janus ? `${janus.ttff.p50} / ${janus.ttff.p95}` : null,
      'ours/janus': warm?.ttff.p50 && janus?.ttff.p50 ? round(warm.ttff.p50 / janus.ttff.p50, 2) : null,
      target: '≤ 1000 at p50',
      met: yes(warm?.ttff.p50 == null ? null : warm.ttff.p50 <= 1000),
    });
    rows.push({
      metric: 'first frame, cold (on demand), p50 / p95 (ms)',
      gateway: cold ? `${cold.ttff.p50} / ${cold.ttff.p95}` : null,
      target: '≤ 2500 at p50',
      met: yes(cold?.ttff.p50 == null ? null : cold.ttff.p50 <= 2500),
    });
    if (cold?.steps) {
      rows.push({ metric: 'cold start steps (median ms after the request)', gateway: coldStepsText(cold.steps) });
    }
    const relay = m('cold-relay');
    if (relay) {
      rows.push({
        metric: 'first frame, cold, packet relay, p50 / p95 (ms)',
        gateway: `${relay.ttff.p50} / ${relay.ttff.p95}`,
        target: '≤ 2500 at p50',
        met: yes(relay.ttff.p50 == null ? null : relay.ttff.p50 <= 2500),
      });
      if (relay.steps) {
        rows.push({ metric: 'cold start steps, packet relay (median ms)', gateway: coldStepsText(relay.steps) });
      }
    }
  }
  const fo = r.fanout;
  if (fo) {
    const s = fo.summary['single'];
    const sp = fo.summary['spread'];
    const j = fo.summary['janus'];
    const jr = janusRatio(fo.levels);
    rows.push({
      metric: '% of a core per viewer, one stream (at N)',
      gateway: s ? `${s.pctPerViewer} (N=${s.viewers})` : null,
      janus: j ? `${j.pctPerViewer} (N=${j.viewers})` : null,
      'ours/janus': jr.ratio === null ? null : `${jr.ratio} (N=${jr.viewers})`,
      target: 'ours/janus ≤ 1.0',
      met: yes(jr.ratio === null ? null : jr.ratio <= 1),
    });
    rows.push({
      metric: '% of a core per egress Mbps, one stream / spread',
      gateway: s ? `${s.pctPerMbps} / ${sp?.pctPerMbps ?? '–'}` : null,
      janus: j?.pctPerMbps,
      target: '≤ 0.2',
      met: yes(s?.pctPerMbps == null ? null : s.pctPerMbps <= 0.2),
    });
    rows.push({
      metric: 'fan-out climb stopped by',
      gateway: [fo.stoppedBy['single'], fo.stoppedBy['spread']].filter(Boolean).join('; '),
      janus: fo.stoppedBy['janus'],
    });
  }
  const i = r.ingest;
  const cities = i?.cities ?? [];
  const packet = cities.find((c) => c.ingest === 'packet');
  const ffmpeg = cities.find((c) => c.ingest === 'ffmpeg');
  const city = packet ?? ffmpeg;
  if (city) {
    // "gateway" is the FFmpeg path throughout this table; the relay has its own column.
    const cpu = (c?: CityResult) => (c ? `${c.gatewayPct} (${c.gatewayPctPerCamera}/camera)` : null);
    const pss = (c?: CityResult) => (c ? `${c.memory.totalPssMiB} (${c.memory.perCameraPssMiB}/camera)` : null);
    const relayCol = (v: string | null) => (packet ? { 'gateway, packet relay': v } : {});
    rows.push({
      metric: `${city.cameras} always-on passthrough cameras: CPU (% of one core)`,
      gateway: cpu(ffmpeg),
      ...relayCol(cpu(packet)),
      target: '≤ 50',
      met: verdicts(ffmpeg?.gatewayPct, packet?.gatewayPct, 50),
    });
    rows.push({
      metric: `${city.cameras} always-on passthrough cameras: memory (PSS MiB)`,
      gateway: pss(ffmpeg),
      ...relayCol(pss(packet)),
      target: '≤ 4096',
      met: verdicts(ffmpeg?.memory.totalPssMiB, packet?.memory.totalPssMiB, 4096),
    });
    rows.push({
      metric: `${city.cameras} always-on cameras: all live after (s)`,
      gateway: ffmpeg?.startupSeconds,
      ...relayCol(packet ? String(packet.startupSeconds) : null),
    });
  }
  if (i?.transcode) {
    rows.push({
      metric: 'one H.265→H.264 transcode, 720p25 2 Mbps (% of a core)',
      gateway: `${i.transcode.transcodeFfmpegPct} (copy: ${i.transcode.copyFfmpegPct})`,
    });
  }
  const h = r.heal;
  if (h) {
    const a = h.summary['all'];
    rows.push({
      metric: `worker SIGKILLed: kill → each affected viewer's first new frame, p50 / p95 / max (ms; ${h.kills.length} kills)`,
      gateway: a ? `${a.p50 ?? '–'} / ${a.p95 ?? '–'} / ${a.max ?? '–'} (n=${a.n}, ${a.failures} failed)` : null,
      target: '≤ 3000 at p50, each ≤ 6000',
      met: yes(a?.p50 == null || a.max == null ? null : a.p50 <= 3000 && a.max <= 6000 && a.failures === 0),
    });
    rows.push({
      metric: 'worker SIGKILLed: RTSP sessions opened again (per camera)',
      gateway: Object.entries(h.newRtspSessions)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    });
  }
  return rows;
}

function markdown(result: AllResults): string {
  return [
    `### Performance (${result.date.slice(0, 10)}, ${result.machine.cores} cores, ${result.machine.cpus})`,
    '',
    `Machine CPU before the run: ${result.machineBusyBeforePct}% of one core (all cores: ${result.machine.cores * 100}%).`,
    '',
    markdownTable(summaryRows(result)),
  ].join('\n');
}

async function main(): Promise<void> {
  // `--from results/<date>.json` prints the markdown of a saved run again, without running anything.
  const from = process.argv.indexOf('--from');
  if (from > 0 && process.argv[from + 1]) {
    const saved = JSON.parse(fs.readFileSync(process.argv[from + 1] as string, 'utf8')) as AllResults;
    process.stdout.write(markdown(saved));
    return;
  }
  const only = new Set((process.env['BENCH_ONLY'] ?? 'delay,ttff,fanout,ingest,heal').split(',') as Name[]);
  const started = performance.now();
  const cpus = os.cpus();
  const result: AllResults = {
    benchmark: 'all',
    date: new Date().toISOString(),
    machine: {
      cpus: cpus[0]?.model ?? 'unknown',
      cores: os.availableParallelism(),
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      kernel: os.release(),
    },
    machineBusyBeforePct: await machineBusy(2000),
    durationSeconds: 0,
    errors: {},
  };
  const dir = path.join(LOAD_TESTS_DIR, 'results');
  const file = path.join(dir, `${result.date.slice(0, 10)}.json`);
  const save = () => {
    result.durationSeconds = Math.round((performance.now() - started) / 1000);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  };
  const step = async <T>(name: Name, run: () => Promise<T>, rows: (r: T) => Row[]): Promise<T | undefined> => {
    if (!only.has(name)) return undefined;
    progress(`=== ${name} ===`);
    // An exception thrown in a callback of the code under test (not in the benchmark's own awaits)
    // would end the process: count it as this step's failure and go on with the next one.
    let onCrash: ((err: Error) => void) | undefined;
    const crashed = new Promise<never>((_, reject) => {
      onCrash = (err) => reject(Object.assign(err, { message: `uncaught in the code under test: ${err.message}` }));
      process.on('uncaughtException', onCrash);
    });
    try {
      const r = await Promise.race([run(), crashed]);
      process.stdout.write(`\n## ${name}\n\n${textTable(rows(r))}`);
      writeResult(name, r);
      return r;
    } catch (err) {
      result.errors[name] = (err as Error).stack ?? String(err);
      progress(`${name} failed: ${(err as Error).message}`);
      return undefined;
    } finally {
      if (onCrash) process.off('uncaughtException', onCrash);
      crashed.catch(() => {});
    }
  };
  // Saved after every step, so a later failure keeps what was measured.
  result.delay = await step('delay', () => runDelay(delayOptionsFromEnv()), delayRows);
  save();
  result.ttff = await step('ttff', () => runTtff(ttffOptionsFromEnv()), ttffRows);
  save();
  result.fanout = await step('fanout', () => runFanout(fanoutOptionsFromEnv()), fanoutRows);
  save();
  result.ingest = await step('ingest', () => runIngest(ingestOptionsFromEnv()), ingestRows);
  save();
  result.heal = await step('heal', () => runHeal(healOptionsFromEnv()), healRows);
  save();
  writeResult('all', result);
  const md = markdown(result);
  process.stdout.write(`\n${md}\nresults: ${path.relative(process.cwd(), file)}\n`);
  if (Object.keys(result.errors).length) {
    process.stdout.write(`\nfailed: ${Object.keys(result.errors).join(', ')}\n`);
    process.exit(1);
  }
  process.exit(0);
}

await main();
