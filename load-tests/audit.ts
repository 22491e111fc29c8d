// What auditing 1,000 view starts and 1,000 view ends per second costs: the gateway's own AuditLog
// (hash chain, one write(2) per record, fdatasync in the background, checkpoints every second) on the
// machine's disk, driven at that rate for BENCH_AUDIT_SECONDS. A join waits for its start record
// (Viewer → ViewAudit.started → writeNow, synchronous): that call's latency is what auditing adds
// to a join. CPU is the process's, against the same loop with auditing off; a durable record (a
// sign-in, a token mint: written and fdatasync'd before the answer) is timed alongside.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditLog } from '../gateway/src/audit/AuditLog.js';
import { hmacKey } from '../gateway/src/audit/chain.js';
import { trailFiles } from '../gateway/src/audit/files.js';
import { type AuditRecord, type ViewStartRecord, viewEnded } from '../gateway/src/audit/records.js';
import { headPath, readHead, verifyTrail } from '../gateway/src/audit/verify.js';
import {
  envNumber,
  isMain,
  progress,
  type Row,
  round,
  type Summary,
  summarize,
  textTable,
  writeResult,
} from './lib/report.js';

export interface AuditBenchOptions {
  /** View starts per second (as many ends). */
  rate: number;
  seconds: number;
  checkpointSec: number;
}

export interface AuditRun {
  mode: 'off' | 'audit';
  records: number;
  /** Process CPU over the run, % of one core. */
  cpuPct: number;
  /** The start record's write, as a join waits for it (µs). */
  startUs: Summary | null;
  /** The end record's write (µs): after the view, nobody waits for it. */
  endUs: Summary | null;
  /** A durable record: written and fdatasync'd (ms), while the load runs. */
  durableMs: Summary | null;
  /** Event-loop lag: how late the 10 ms ticks of the load ran (ms). */
  tickLateMs: Summary;
  bytesPerSec: number;
}

export interface AuditBenchResult {
  benchmark: 'audit';
  date: string;
  machine: { cpus: number; model: string; disk: string; loadavg1: number };
  options: AuditBenchOptions;
  runs: AuditRun[];
  added: { cpuPct: number; joinP99Us: number | null; joinP50Us: number | null };
  verify: { ok: boolean; records: number; files: number; ms: number };
}

const key = hmacKey(Buffer.from('bench-audit-key-bench-audit-key-0123'));

async function run(mode: AuditRun['mode'], o: AuditBenchOptions, dir: string): Promise<AuditRun> {
  const file = path.join(dir, `${mode}.jsonl`);
  const log =
    mode === 'audit'
      ? await AuditLog.create({
          file,
          checkpointSec: o.checkpointSec,
          rotate: { daily: true, maxBytes: 64 * 1024 * 1024 },
          retentionDays: 0,
          required: true,
          signer: key,
        })
      : undefined;
  const perTick = o.rate / 100; // a tick every 10 ms
  const open: ViewStartRecord[] = [];
  const startUs: number[] = [];
  const endUs: number[] = [];
  const durableMs: number[] = [];
  const late: number[] = [];
  let records = 0;
  let n = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const until = t0 + o.seconds * 1000;
  let next = t0;
  // Sign-ins alongside, 10 per second, each awaited as its route awaits it.
  const durable = (async () => {
    while (log && performance.now() < until) {
      const s = performance.now();
      await log.record({
        kind: 'signin',
        at: new Date().toISOString(),
        sub: 'operator-1',
        role: 'operator',
        via: 'local',
        result: 'ok',
        client: '10.20.0.7',
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0',
      });
      durableMs.push(performance.now() - s);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  while (performance.now() < until) {
    next += 10;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    late.push(Math.max(0, performance.now() - next));
    for (let i = 0; i < perTick; i++) {
      const at = new Date();
      const start: ViewStartRecord = {
        kind: 'view-start',
        id: `00000000-0000-4000-8000-${String(n++).padStart(12, '0')}`,
        at: at.toISOString(),
        sub: `operator-${n % 200}`,
        role: 'operator',
        stream: `kel-${n % 107}`,
        variant: n % 2 ? 'main' : 'sub',
        client: '10.20.30.40',
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
      };
      const s = performance.now();
      log?.admit();
      log?.writeNow(start);
      startUs.push((performance.now() - s) * 1000);
      open.push(start);
      records++;
      // As many end as start: the oldest open view ends (after ~1 s once the load is steady).
      const v = open.length > o.rate ? open.shift() : undefined;
      if (v) {
        const end: AuditRecord = viewEnded(v, at.getTime(), 'closed_by_viewer');
        const e = performance.now();
        log?.append(end);
        endUs.push((performance.now() - e) * 1000);
        records++;
      }
    }
  }
  await durable;
  const elapsed = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  await log?.close();
  const bytes = mode === 'audit' ? trailFiles(file).reduce((s, f) => s + fs.statSync(f.path).size, 0) : 0;
  return {
    mode,
    records,
    cpuPct: round(((c.user + c.system) / 1000 / elapsed) * 100),
    startUs: log ? summarize(startUs, 1) : null,
    endUs: log ? summarize(endUs, 1) : null,
    durableMs: log ? summarize(durableMs, 2) : null,
    tickLateMs: summarize(late, 2),
    bytesPerSec: Math.round(bytes / (elapsed / 1000)),
  };
}

export async function runAuditBench(o: AuditBenchOptions): Promise<AuditBenchResult> {
  // On the disk the gateway writes to (var/ beside the repository), not a tmpfs.
  const base = path.resolve('var');
  fs.mkdirSync(base, { recursive: true });
  const dir = fs.mkdtempSync(path.join(base, 'bench-audit-'));
  try {
    progress(`auditing off: ${o.rate} starts + ${o.rate} ends per second for ${o.seconds} s`);
    const off = await run('off', o, dir);
    progress(`auditing on: the same, into ${dir}`);
    const on = await run('audit', o, dir);
    const file = path.join(dir, 'audit.jsonl');
    const t = performance.now();
    const report = await verifyTrail(trailFiles(file), [key], {
      head: { path: headPath(file), value: readHead(headPath(file)) as NonNullable<ReturnType<typeof readHead>> },
    });
    const verifyMs = Math.round(performance.now() - t);
    let disk = '';
    try {
      disk =
        fs
          .readFileSync('/proc/mounts', 'utf8')
          .split('\n')
          .find((l) => l.split(' ')[1] === '/')
          ?.split(' ')[2] ?? '';
    } catch {}
    return {
      benchmark: 'audit',
      date: new Date().toISOString(),
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model ?? '',
        disk: `/ (${disk})`,
        loadavg1: round(os.loadavg()[0] ?? 0, 2),
      },
      options: o,
      runs: [off, on],
      added: {
        cpuPct: round(on.cpuPct - off.cpuPct),
        joinP50Us: on.startUs?.p50 ?? null,
        joinP99Us: on.startUs?.p99 ?? null,
      },
      verify: { ok: report.ok, records: report.records, files: report.files, ms: verifyMs },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function auditRows(r: AuditBenchResult): Row[] {
  return r.runs.map((x) => ({
    auditing: x.mode,
    'records/s': Math.round(x.records / r.options.seconds),
    'CPU %': x.cpuPct,
    'start p50 µs': x.startUs?.p50,
    'start p99 µs': x.startUs?.p99,
    'end p99 µs': x.endUs?.p99,
    'durable p50 ms': x.durableMs?.p50,
    'durable p99 ms': x.durableMs?.p99,
    'tick late p99 ms': x.tickLateMs.p99,
    'KB/s': round(x.bytesPerSec / 1024),
  }));
}

export const auditOptionsFromEnv = (): AuditBenchOptions => ({
  rate: envNumber('BENCH_AUDIT_RATE', 1000),
  seconds: envNumber('BENCH_AUDIT_SECONDS', 20),
  checkpointSec: envNumber('BENCH_AUDIT_CHECKPOINT_SEC', 1),
});

if (isMain(import.meta.url)) {
  const result = await runAuditBench(auditOptionsFromEnv());
  process.stdout.write(textTable(auditRows(result)));
  console.log(
    `auditing ${result.options.rate} view starts + ends per second: +${result.added.cpuPct} % of a core, ` +
      `a join waits p50 ${result.added.joinP50Us ?? '–'} µs, p99 ${result.added.joinP99Us ?? '–'} µs for its start record; ` +
      `verify: ${result.verify.ok ? 'ok' : 'FAILED'} (${result.verify.records} records, ${result.verify.ms} ms)`,
  );
  writeResult('audit', result);
  process.exit(0);
}
