// Who watched what, when: one JSON line per view session, appended synchronously when the view
// ends (so a record is on disk before the gateway moves on, and a restart loses none).
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

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

export interface AuditQuery {
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

  append(record: AuditRecord): void {
    fs.appendFileSync(this.file, `${JSON.stringify(record)}\n`);
  }

  /** Newest first; `from`/`to` bound the view's start time (ISO 8601). */
  async query(q: AuditQuery): Promise<{ total: number; records: AuditRecord[] }> {
    if (!fs.existsSync(this.file)) return { total: 0, records: [] };
    const from = q.from ? Date.parse(q.from) : Number.NEGATIVE_INFINITY;
    const to = q.to ? Date.parse(q.to) : Number.POSITIVE_INFINITY;
    const matches: AuditRecord[] = [];
    const lines = readline.createInterface({
      input: fs.createReadStream(this.file),
      crlfDelay: Number.POSITIVE_INFINITY,
    });
    for await (const line of lines) {
      if (!line) continue;
      let r: AuditRecord;
      try {
        r = JSON.parse(line) as AuditRecord;
      } catch {
        continue; // a torn last line after a crash: skip it, keep the rest
      }
      const t = Date.parse(r.start);
      if (t < from || t > to) continue;
      if (q.sub && r.sub !== q.sub) continue;
      if (q.stream && r.stream !== q.stream) continue;
      matches.push(r);
    }
    matches.reverse();
    return { total: matches.length, records: matches.slice(q.offset, q.offset + q.limit) };
  }
}
