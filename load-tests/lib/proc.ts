// Process and machine accounting from /proc (Linux): CPU time per group of processes over a window,
// memory (RSS and PSS), and how busy the whole machine was (other people's work included), so every
// number can say whether it was taken on a quiet or a busy machine.
import fs from 'node:fs';
import os from 'node:os';
import { cpuSeconds, rssMiB } from '../cpu.js';

export { cpuSeconds, rssMiB };

/** Proportional set size in MiB (shared pages split between their users): sums over processes honestly. */
export function pssMiB(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Busy and total jiffies of the whole machine (all cores). */
function machineJiffies(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // guest time is already in user
  return { busy: total - idle, total };
}

/** Process ids of everything `cmdMatch` accepts (argv[0] and the rest, as read from /proc). */
export function findPids(cmdMatch: (argv: string[]) => boolean): number[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let cmd = '';
    try {
      cmd = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const argv = cmd.split('\0').filter(Boolean);
    if (argv.length && cmdMatch(argv)) pids.push(Number(d));
  }
  return pids;
}

/** Every descendant of `pid` (children, grandchildren, ...), read from /proc/<pid>/task/<tid>/children. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const walk = (p: number): void => {
    let tids: string[] = [];
    try {
      tids = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const tid of tids) {
      let kids = '';
      try {
        kids = fs.readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const k of kids.trim().split(/\s+/).filter(Boolean).map(Number)) {
        out.push(k);
        walk(k);
      }
    }
  };
  walk(pid);
  return out;
}

export type PidGroups = Record<string, () => number[]>;

export interface CpuWindow {
  seconds: number;
  /** Percent of one core per group. */
  groups: Record<string, number>;
  /** Whole machine, percent of one core (so up to 100 x cores). */
  machinePct: number;
  /** Machine minus the groups measured: other work on the box (other engineers' tests, the desktop...). */
  otherPct: number;
  cores: number;
  loadavg1: number;
}

/** Starts a CPU window now; `stop()` returns the usage since. Processes that exit meanwhile count up to their exit. */
export function startCpuWindow(groups: PidGroups): { stop: () => CpuWindow } {
  const before = new Map<string, Map<number, number>>();
  for (const [k, pids] of Object.entries(groups)) before.set(k, new Map(pids().map((p) => [p, cpuSeconds(p)])));
  const m0 = machineJiffies();
  const t0 = performance.now();
  return {
    stop: () => {
      const seconds = (performance.now() - t0) / 1000;
      const out: Record<string, number> = {};
      let ours = 0;
      for (const [k, pids] of Object.entries(groups)) {
        const b = before.get(k) ?? new Map<number, number>();
        // Processes started during the window count from zero (e.g. a cold-started FFmpeg).
        const all = new Set([...b.keys(), ...pids()]);
        let used = 0;
        for (const p of all) used += Math.max(0, cpuSeconds(p) - (b.get(p) ?? 0));
        out[k] = round1((used / seconds) * 100);
        ours += used;
      }
      const m1 = machineJiffies();
      const machineSecs = (m1.busy - m0.busy) / 100;
      return {
        seconds: round1(seconds),
        groups: out,
        machinePct: round1((machineSecs / seconds) * 100),
        otherPct: round1(Math.max(0, ((machineSecs - ours) / seconds) * 100)),
        cores: os.availableParallelism(),
        loadavg1: round1(os.loadavg()[0] ?? 0),
      };
    },
  };
}

export async function cpuOver(groups: PidGroups, ms: number): Promise<CpuWindow> {
  const w = startCpuWindow(groups);
  await new Promise((r) => setTimeout(r, ms));
  return w.stop();
}

/** How busy the machine is right now, over `ms` (percent of one core, all cores together). */
export async function machineBusy(ms = 1000): Promise<number> {
  return (await cpuOver({}, ms)).machinePct;
}

export function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

export interface UdpCounters {
  inDatagrams: number;
  /** Datagrams dropped because a receiving socket's buffer was full (the reader fell behind). */
  rcvbufErrors: number;
  sndbufErrors: number;
  inErrors: number;
}

/** UDP counters of this network namespace (/proc/net/snmp): inside scripts/netns.sh, only the benchmark's own traffic. */
export function udpCounters(): UdpCounters {
  const lines = fs
    .readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const names = (lines[0] ?? '').split(/\s+/).slice(1);
  const values = (lines[1] ?? '').split(/\s+/).slice(1).map(Number);
  const get = (k: string) => values[names.indexOf(k)] ?? 0;
  return {
    inDatagrams: get('InDatagrams'),
    rcvbufErrors: get('RcvbufErrors'),
    sndbufErrors: get('SndbufErrors'),
    inErrors: get('InErrors'),
  };
}
