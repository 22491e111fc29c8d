// The files of one trail: the live file (`audit.file`, e.g. var/audit.jsonl) and the files rotated
// out of it beside it, `audit.<UTC time of rotation>.<seq of their last record>.jsonl.gz`, ordered by
// that seq (the chain's order; a clock set back cannot reorder them). Lines are read as a stream.
import fs from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';

export interface TrailFile {
  path: string;
  /** Rotated: when it was rotated (the time of its last record), and that record's seq. Live: undefined. */
  rotatedAt?: number;
  lastSeq?: number;
  gz: boolean;
}

function parts(live: string): { dir: string; base: string } {
  const dir = path.dirname(live);
  const name = path.basename(live);
  return { dir, base: name.endsWith('.jsonl') ? name.slice(0, -'.jsonl'.length) : name };
}

const stamp = (t: number) =>
  new Date(t)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

/** Where a file rotated at `at` whose last record is `seq` goes (uncompressed; `.gz` is added once compressed). */
export function rotatedName(live: string, at: number, seq: number): string {
  const { dir, base } = parts(live);
  return path.join(dir, `${base}.${stamp(at)}.${String(seq).padStart(12, '0')}.jsonl`);
}

/** The trail's files, oldest first, the live one (if it exists) last. */
export function trailFiles(live: string): TrailFile[] {
  const { dir, base } = parts(live);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const escaped = base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^${escaped}\\.(\\d{8}T\\d{6}Z)\\.(\\d{12})\\.jsonl(\\.gz)?$`);
  const bySeq = new Map<number, TrailFile>();
  for (const name of names) {
    const m = re.exec(name);
    if (!m) continue;
    const s = m[1] as string;
    const rotatedAt = Date.parse(
      `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`,
    );
    const lastSeq = Number(m[2]);
    const gz = !!m[3];
    // Mid-compression both exist: the plain one is whole, the .gz may not be yet.
    if (bySeq.has(lastSeq) && gz) continue;
    bySeq.set(lastSeq, { path: path.join(dir, name), rotatedAt, lastSeq, gz });
  }
  const files = [...bySeq.values()].sort((a, b) => (a.lastSeq as number) - (b.lastSeq as number));
  if (fs.existsSync(live)) files.push({ path: live, gz: false });
  return files;
}

/**
 * Calls `fn` with each line (without its newline) of a plain or gzipped file, up to `end` bytes of a
 * plain one (a live file read while it grows). A last line without a newline is passed with `torn`;
 * `start` is where the line begins (in the uncompressed text). `line` is valid during the call only:
 * a plain file is read through one reused buffer (no garbage per chunk, so RSS stays flat).
 */
export async function eachLine(
  file: string,
  fn: (line: Buffer, torn: boolean, start: number) => void,
  opts: { gz?: boolean; end?: number } = {},
): Promise<void> {
  if (opts.gz) return eachGzLine(file, fn);
  const fd = await fs.promises.open(file, 'r');
  try {
    const end = opts.end ?? Number.POSITIVE_INFINITY;
    let buf = Buffer.alloc(128 * 1024);
    let kept = 0; // bytes of an unfinished line at the front of buf
    let pos = 0; // file position of the next read
    for (;;) {
      // A line longer than the buffer (a `file` record listing many open views): grow it.
      if (kept === buf.length) {
        const bigger = Buffer.alloc(buf.length * 2);
        buf.copy(bigger, 0, 0, kept);
        buf = bigger;
      }
      const want = Math.min(buf.length - kept, end - pos);
      const { bytesRead } = want > 0 ? await fd.read(buf, kept, want, pos) : { bytesRead: 0 };
      if (bytesRead === 0) break;
      const data = buf.subarray(0, kept + bytesRead);
      const base = pos - kept;
      let at = 0;
      for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, at)) {
        fn(data.subarray(at, nl), false, base + at);
        at = nl + 1;
      }
      kept = data.copy(buf, 0, at); // overlapping copy: Buffer.copy moves like memmove
      pos += bytesRead;
    }
    if (kept) fn(buf.subarray(0, kept), true, pos - kept);
  } finally {
    await fd.close();
  }
}

async function eachGzLine(file: string, fn: (line: Buffer, torn: boolean, start: number) => void): Promise<void> {
  const raw = fs.createReadStream(file, { highWaterMark: 128 * 1024 });
  const input = raw.pipe(createGunzip());
  raw.on('error', (err) => input.destroy(err));
  let rest: Buffer | undefined;
  let base = 0; // where data[0] is in the uncompressed text
  for await (const chunk of input as AsyncIterable<Buffer>) {
    const data = rest ? Buffer.concat([rest, chunk]) : chunk;
    let at = 0;
    for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, at)) {
      fn(data.subarray(at, nl), false, base + at);
      at = nl + 1;
    }
    rest = at < data.length ? Buffer.from(data.subarray(at)) : undefined;
    base += at;
  }
  if (rest?.length) fn(rest, true, base);
}
