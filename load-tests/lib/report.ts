// Percentiles, tables and result files shared by the benchmarks.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const LOAD_TESTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const OUT_DIR = path.join(LOAD_TESTS_DIR, 'out');

/** Nearest-rank percentile (p in 0..100) of an unsorted array; null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))] as number;
}

export function median(values: readonly (number | null | undefined)[]): number | null {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return null;
  const s = [...v].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return round(s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2, 2);
}

/**
 * median(a) − median(b) with a 95 % percentile-bootstrap interval (each sample resampled with
 * replacement; a fixed-seed generator, so the same data gives the same interval).
 */
export function medianDifference(
  a: readonly number[],
  b: readonly number[],
  iterations = 4000,
): { diff: number; ci95: [number, number] } | null {
  const ma = median(a);
  const mb = median(b);
  if (ma === null || mb === null) return null;
  let seed = 0x2545f491;
  const rand = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const resample = (v: readonly number[]) => v.map(() => v[Math.floor(rand() * v.length)] as number);
  const diffs: number[] = [];
  for (let i = 0; i < iterations; i++) diffs.push((median(resample(a)) ?? 0) - (median(resample(b)) ?? 0));
  return {
    diff: round(ma - mb),
    ci95: [round(percentile(diffs, 2.5) ?? 0), round(percentile(diffs, 97.5) ?? 0)],
  };
}

export interface Summary {
  n: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  min: number | null;
  max: number | null;
  mean: number | null;
}

export function summarize(values: readonly number[], digits = 1): Summary {
  const r = (x: number | null) => (x === null ? null : round(x, digits));
  const n = values.length;
  return {
    n,
    p50: r(percentile(values, 50)),
    p95: r(percentile(values, 95)),
    p99: r(percentile(values, 99)),
    min: r(n ? Math.min(...values) : null),
    max: r(n ? Math.max(...values) : null),
    mean: r(n ? values.reduce((a, b) => a + b, 0) / n : null),
  };
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export type Row = Record<string, string | number | boolean | null | undefined>;

const cell = (v: Row[string]): string => (v === null || v === undefined ? '–' : String(v));

/** Plain-text table for the terminal. */
export function textTable(rows: readonly Row[]): string {
  if (rows.length === 0) return '';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(width[i] as number)).join(' | ');
  return [
    line(cols),
    width.map((w) => '-'.repeat(w)).join('-|-'),
    ...rows.map((r) => line(cols.map((c) => cell(r[c])))),
  ]
    .join('\n')
    .concat('\n');
}

/** GitHub-flavoured markdown table. */
export function markdownTable(rows: readonly Row[]): string {
  if (rows.length === 0) return '';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${cols.map(esc).join(' | ')} |`,
    `| ${cols.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${cols.map((c) => esc(cell(r[c]))).join(' | ')} |`),
  ]
    .join('\n')
    .concat('\n');
}

/** Writes load-tests/out/<name>.json and prints the JSON on stdout (after whatever table the caller printed). */
export function writeResult(name: string, result: unknown): string {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const file = path.join(OUT_DIR, `${name}.json`);
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result));
  return file;
}

/** Log line on stderr with the elapsed time, so stdout stays table + JSON. */
export function progress(msg: string): void {
  const t = ((performance.now() / 1000) | 0).toString().padStart(4);
  process.stderr.write(`[bench ${t}s] ${msg}\n`);
}

/** True when the file was started directly (`tsx load-tests/x.ts`), not imported by all.ts. */
export function isMain(metaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  const self = fileURLToPath(metaUrl);
  return path.resolve(entry) === self || path.resolve(entry) === self.replace(/\.ts$/, '');
}

/** Positive number from the environment, or the default. */
export function envNumber(name: string, def: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : def;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Rejects after `ms` unless `p` settles first. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}
