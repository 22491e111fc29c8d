// GET /api/audit over every file of the trail, newest first. Memory follows the page, never the
// trail: one pass counts the matches per file (keeping, for plain files, where the newest lie); the
// page is then read back by position, or for a gzipped file by reading it once more.
import fs from 'node:fs';
import { eachLine, type TrailFile, trailFiles } from './files.js';
import { type AuditQuery, type QueryKind, queryKindOf, recordTime } from './records.js';

export interface QueryResult {
  total: number;
  records: Record<string, unknown>[];
}

type Parsed = Record<string, unknown> & { kind?: string; sub?: string; stream?: string; at?: string; start?: string };

function matcher(q: AuditQuery): (line: Buffer) => Parsed | undefined {
  const kind: QueryKind = q.kind ?? 'view';
  const from = q.from ? Date.parse(q.from) : Number.NEGATIVE_INFINITY;
  const to = q.to ? Date.parse(q.to) : Number.POSITIVE_INFINITY;
  return (line) => {
    let r: Parsed;
    try {
      r = JSON.parse(line.toString('utf8'));
    } catch {
      return undefined; // a torn line after a crash, or an empty one: skip it, keep the rest
    }
    if (typeof r !== 'object' || r === null) return undefined;
    if (kind !== 'all' && queryKindOf(r) !== kind) return undefined;
    if (from !== Number.NEGATIVE_INFINITY || to !== Number.POSITIVE_INFINITY) {
      const t = Date.parse(recordTime(r));
      if (!(t >= from && t <= to)) return undefined;
    }
    if (q.sub !== undefined && r.sub !== q.sub) return undefined;
    if (q.stream !== undefined && r.stream !== q.stream) return undefined;
    return r;
  };
}

/** Newest first across the live file and the rotated ones, with the total number of matches. */
export async function queryTrail(live: string, q: AuditQuery): Promise<QueryResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await queryOnce(live, q);
    } catch (err) {
      // A file rotated or compressed between the passes: once more over the new list.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 2) throw err;
    }
  }
}

async function queryOnce(live: string, asked: AuditQuery): Promise<QueryResult> {
  // A node's /cluster/audit passes the query string as it came: numbers as text.
  const q = { ...asked, limit: Number(asked.limit), offset: Number(asked.offset) };
  const match = matcher(q);
  const from = q.from ? Date.parse(q.from) : Number.NEGATIVE_INFINITY;
  // A rotated file holds nothing newer than its rotation: one rotated before `from` cannot match.
  const files = trailFiles(live).filter((f) => f.rotatedAt === undefined || f.rotatedAt >= from);
  // The page is among the newest offset+limit matches, so among each file's newest that many: of a
  // plain file a ring keeps their byte positions (8 bytes each) and the page is read back by position.
  const keep = q.offset + q.limit;
  type Starts = Uint32Array | Float64Array;
  const counts: { file: TrailFile; n: number; end?: number; starts?: Starts; lengths?: Uint32Array }[] = [];
  for (const file of files) {
    // The live file grows while it is read: both passes stop where the first one began.
    const end = file.gz ? undefined : fs.statSync(file.path).size;
    // Byte positions: 4 bytes each while the file is under 4 GiB (files rotate at 64 MiB by default).
    const starts: Starts | undefined =
      end === undefined ? undefined : end <= 0xffff_ffff ? new Uint32Array(keep) : new Float64Array(keep);
    const lengths = file.gz ? undefined : new Uint32Array(keep);
    let n = 0;
    await eachLine(
      file.path,
      (line, _torn, start) => {
        if (!match(line)) return;
        if (starts && lengths) {
          starts[n % keep] = start;
          lengths[n % keep] = line.length;
        }
        n++;
      },
      { gz: file.gz, ...(end !== undefined ? { end } : {}) },
    );
    counts.push({ file, n, ...(end !== undefined ? { end, starts, lengths } : {}) });
  }
  const total = counts.reduce((s, c) => s + c.n, 0);
  // Oldest-first ordinals of the page: newest-first [offset, offset+limit).
  const hi = total - q.offset;
  const lo = Math.max(0, hi - q.limit);
  const page: Record<string, unknown>[] = [];
  let base = 0;
  for (const c of counts) {
    const first = base;
    base += c.n;
    if (hi <= lo || base <= lo || first >= hi) continue;
    const a = Math.max(lo, first) - first;
    const b = Math.min(hi, base) - first;
    if (c.starts && c.lengths) {
      const fd = await fs.promises.open(c.file.path, 'r');
      try {
        for (let i = a; i < b; i++) {
          const line = Buffer.alloc(c.lengths[i % keep] as number);
          await fd.read(line, 0, line.length, c.starts[i % keep] as number);
          const r = match(line);
          if (r) page.push(r);
        }
      } finally {
        await fd.close();
      }
      continue;
    }
    let i = 0;
    await eachLine(
      c.file.path,
      (line) => {
        const r = match(line);
        if (!r) return;
        if (i >= a && i < b) page.push(r);
        i++;
      },
      { gz: c.file.gz },
    );
  }
  return { total, records: page.reverse() };
}

const CSV_COLUMNS = [
  'seq',
  'at',
  'kind',
  'sub',
  'role',
  'stream',
  'variant',
  'start',
  'end',
  'durationMs',
  'endReason',
  'result',
  'via',
  'for',
  'client',
  'userAgent',
  'id',
] as const;

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  let s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  // A spreadsheet would run a cell that starts with these as a formula (CSV injection).
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** The page as CSV (RFC 4180): fixed columns, then `detail` with each record's other fields as JSON. */
export function toCsv(records: Record<string, unknown>[]): string {
  const known = new Set<string>([...CSV_COLUMNS, 'prev', 'h']);
  const rows = [[...CSV_COLUMNS, 'detail'].join(',')];
  for (const r of records) {
    const row = CSV_COLUMNS.map((k) => (k === 'kind' ? cell(r.kind ?? 'view') : cell(r[k])));
    const rest = Object.fromEntries(Object.entries(r).filter(([k]) => !known.has(k)));
    row.push(Object.keys(rest).length ? cell(rest) : '');
    rows.push(row.join(','));
  }
  return `${rows.join('\r\n')}\r\n`;
}
