// CPU accounting from /proc (Linux): seconds of user+system time per process, and RSS.
import fs from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

export function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Percent of one core used by each named group of processes over `ms`. */
export async function measureCpu(groups: Record<string, () => number[]>, ms: number): Promise<Record<string, number>> {
  const before = Object.fromEntries(
    Object.entries(groups).map(([k, pids]) => [k, pids().map((p) => [p, cpuSeconds(p)] as const)]),
  );
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const secs = (performance.now() - t0) / 1000;
  const out: Record<string, number> = {};
  for (const [k, list] of Object.entries(before)) {
    const used = list.reduce((sum, [pid, c0]) => sum + Math.max(0, cpuSeconds(pid) - c0), 0);
    out[k] = Math.round((used / secs) * 1000) / 10;
  }
  return out;
}

export function printTable(rows: Record<string, string | number>[]): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0] as object);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(width[i] as number)).join(' | ');
  console.log(line(cols));
  console.log(width.map((w) => '-'.repeat(w)).join('-|-'));
  for (const r of rows) console.log(line(cols.map((c) => String(r[c]))));
}
