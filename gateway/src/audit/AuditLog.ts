// Who watched what, when: one JSON line per view session, appended synchronously when the view
// ends (so a record is on disk before the gateway moves on, and a restart loses none).
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';

export interface AuditRecord {
  sub: string;
  role: string;
  stream: string;
  variant: string;
  start: string;
  end: string;
  durationMs: number;
  client: string;
  userAgent: string;
  endReason: string;
}

/** A sign-in, sign-out or refused sign-in: who (as they named themselves), how, from where, the result. */
export interface SignInRecord {
  kind: 'signin' | 'signout';
  at: string;
  /** The account or the provider's subject; for a refused attempt, the name that was tried. */
  sub: string;
  role: string | null;
  via: 'local' | 'oidc';
  /** 'ok', or why not: bad_credentials, disabled, locked, no_role, provider_error… */
  result: string;
  client: string;
  userAgent: string;
}

export interface AuditQuery {
  /** 'view' (default): views; 'signin': sign-ins, sign-outs and refused sign-ins. */
  kind?: 'view' | 'signin';
  from?: string;
  to?: string;
  sub?: string;
  stream?: string;
  limit: number;
  offset: number;
}

export class AuditLog {
  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
  }

  append(record: AuditRecord | SignInRecord): void {
    fs.appendFileSync(this.file, `${JSON.stringify(record)}\n`);
  }

  /**
   * Newest first; `from`/`to` bound the view's start time (ISO 8601). One pass over the file keeps
   * only where the newest offset+limit matches lie (a ring of byte positions), then reads back the
   * page: memory follows the page, never the trail.
   */
  async query(q: AuditQuery): Promise<{ total: number; records: (AuditRecord | SignInRecord)[] }> {
    let fd: FileHandle;
    try {
      fd = await fs.promises.open(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { total: 0, records: [] };
      throw err;
    }
    try {
      const from = q.from ? Date.parse(q.from) : Number.NEGATIVE_INFINITY;
      const to = q.to ? Date.parse(q.to) : Number.POSITIVE_INFINITY;
      const keep = q.offset + q.limit;
      const starts = new Float64Array(keep);
      const lengths = new Uint32Array(keep);
      let total = 0;
      await eachLine(fd, (start, line) => {
        const r = parse(line);
        if (!r) return;
        const signin = 'kind' in r;
        if (signin !== (q.kind === 'signin')) return;
        const t = Date.parse('kind' in r ? r.at : r.start);
        if (t < from || t > to) return;
        if (q.sub && r.sub !== q.sub) return;
        if (q.stream && (!('stream' in r) || r.stream !== q.stream)) return;
        starts[total % keep] = start;
        lengths[total % keep] = line.length;
        total++;
      });
      const records: (AuditRecord | SignInRecord)[] = [];
      // The newest match sits just before the ring's next write position; walk back from there.
      for (let i = q.offset; i < Math.min(keep, total); i++) {
        const k = (total - 1 - i) % keep;
        const line = Buffer.alloc(lengths[k] as number);
        await fd.read(line, 0, line.length, starts[k] as number);
        const r = parse(line);
        if (r) records.push(r);
      }
      return { total, records };
    } finally {
      await fd.close();
    }
  }
}

function parse(line: Buffer): AuditRecord | SignInRecord | undefined {
  try {
    return JSON.parse(line.toString('utf8')) as AuditRecord | SignInRecord;
  } catch {
    return undefined; // a torn last line after a crash, or an empty one: skip it, keep the rest
  }
}

/**
 * Calls `fn` with each line of the file and the byte position it starts at. One buffer: the unfinished
 * line at its end moves to the front and the next read goes after it; a line longer than the buffer
 * (never one of ours) is dropped.
 */
async function eachLine(fd: FileHandle, fn: (start: number, line: Buffer) => void): Promise<void> {
  const buf = Buffer.alloc(128 * 1024);
  let kept = 0;
  let pos = 0;
  for (;;) {
    const { bytesRead } = await fd.read(buf, kept, buf.length - kept, pos);
    if (bytesRead === 0) break;
    const data = buf.subarray(0, kept + bytesRead);
    const base = pos - kept;
    let at = 0;
    for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, at)) {
      fn(base + at, data.subarray(at, nl));
      at = nl + 1;
    }
    kept = data.length - at < buf.length ? data.copy(buf, 0, at) : 0;
    pos += bytesRead;
  }
  if (kept) fn(pos - kept, buf.subarray(0, kept));
}
