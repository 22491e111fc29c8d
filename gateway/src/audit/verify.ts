// Checks a trail (`npm run audit:verify`): each line's own hash, `seq` one more than the line
// before, `prev` the hash of the line before (across files), every checkpoint's signature, every
// rotated file ending in its seal, and the signed head beside the live file (`<file>.head`) still in
// the chain, so a cut tail shows. Stops at the first bad line and says where and why.
import fs from 'node:fs';
import { checkpointPayload, GENESIS, hashText, openLine, type SignatureVerifier } from './chain.js';
import { eachLine, type TrailFile } from './files.js';

export interface VerifyProblem {
  file: string;
  /** 1-based line in `file`. */
  line: number;
  seq?: number;
  why: string;
}

export interface VerifyReport {
  ok: boolean;
  problem?: VerifyProblem;
  files: number;
  records: number;
  checkpoints: number;
  /** Lines before the chain began (written by a gateway without it), at the start of the first file. */
  unchained: number;
  firstSeq?: number;
  lastSeq?: number;
  /** The chain's first record does not start the trail: older files were removed (retention). */
  startsMidway: boolean;
  /** Records after the last checkpoint (a running or crashed gateway's last seconds). */
  unsignedTail: number;
  head?: { seq: number; at: string; checked: boolean };
}

/** The signed head a gateway keeps beside its live file: its last checkpoint. */
export interface HeadFile {
  file: string;
  seq: number;
  prev: string;
  at: string;
  alg: string;
  keyId: string;
  sig: string;
}

export const headPath = (live: string) => `${live}.head`;

export function readHead(file: string): HeadFile | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as HeadFile;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

class Stop extends Error {}

export async function verifyTrail(
  files: TrailFile[],
  keys: SignatureVerifier[],
  opts: { head?: { path: string; value: HeadFile } | undefined } = {},
): Promise<VerifyReport> {
  const report: VerifyReport = {
    ok: true,
    files: files.length,
    records: 0,
    checkpoints: 0,
    unchained: 0,
    startsMidway: false,
    unsignedTail: 0,
  };
  const keyFor = (alg: unknown, keyId: unknown) => keys.find((k) => k.alg === alg && k.keyId === keyId);
  const head = opts.head?.value;
  let headFound = false;
  if (head && opts.head) {
    report.head = { seq: head.seq, at: head.at, checked: false };
    const key = keyFor(head.alg, head.keyId);
    const bad = !key
      ? `signed with key ${head.keyId} (${head.alg}), which was not given`
      : !key.verify(checkpointPayload(head.seq, head.prev, head.at), head.sig)
        ? 'its signature does not verify (forged or edited)'
        : undefined;
    if (bad) return fail(report, { file: opts.head.path, line: 1, seq: head.seq, why: `the signed head: ${bad}` });
  }
  let prev: string | undefined;
  let expect: number | undefined;
  let chained = false;
  let gap: { where: VerifyProblem; seq: number; expect: number } | undefined;
  const missing = (g: NonNullable<typeof gap>): never => {
    report.problem = {
      ...g.where,
      seq: g.seq,
      why: `seq ${g.seq} where ${g.expect} was due: ${g.seq - g.expect} record(s) before this line are missing (deleted)`,
    };
    throw new Stop();
  };
  const last: { kind?: unknown; reason?: unknown } = {};
  let where: VerifyProblem = { file: '', line: 0, why: '' };
  try {
    for (const [i, file] of files.entries()) {
      let n = 0;
      last.kind = undefined;
      last.reason = undefined;
      await eachLine(
        file.path,
        (buf, torn) => {
          n++;
          const text = buf.toString('utf8');
          where = { file: file.path, line: n, why: '' };
          const bad = (why: string, seq?: number, at: VerifyProblem = where): never => {
            report.problem = { ...at, ...(seq !== undefined ? { seq } : {}), why };
            throw new Stop();
          };
          if (torn) bad('the file ends in the middle of this line (cut or torn)');
          const opened = openLine(text);
          if (!opened) bad('not a JSON record (edited or damaged)');
          const o = opened as NonNullable<typeof opened>;
          if (o.legacy) {
            if (chained) bad('a line without a hash inside the chain (inserted or edited)');
            report.unchained++;
            prev = hashText(text);
            return;
          }
          const r = o.record;
          const seq = typeof r.seq === 'number' ? r.seq : Number.NaN;
          if (!o.hashOk) bad('its hash (h) does not match its content: the line was edited', seq);
          // A seq ahead of its turn: the next line tells a swapped pair (the due one follows) from a deletion.
          if (gap) {
            if (seq === gap.expect)
              bad(
                `seq ${gap.seq} where ${gap.expect} was due, which follows it: records out of order (reordered)`,
                gap.seq,
                gap.where,
              );
            missing(gap);
          }
          if (expect !== undefined && seq !== expect) {
            if (seq > expect) {
              gap = { where, seq, expect };
              return;
            }
            bad(`seq ${seq} after seq ${expect - 1}: records out of order or repeated (reordered or copied)`, seq);
          }
          if (prev !== undefined && r.prev !== prev)
            bad('its prev is not the hash of the line before: a record before it was deleted, replaced or moved', seq);
          if (!chained) {
            chained = true;
            report.firstSeq = seq;
            report.startsMidway = !(seq === 1 && (r.prev === GENESIS || report.unchained > 0));
          }
          if (r.kind === 'checkpoint') {
            const key = keyFor(r['alg'], r['keyId']);
            if (!key)
              bad(`a checkpoint signed with key ${String(r['keyId'])} (${String(r['alg'])}), which was not given`, seq);
            if (!key?.verify(checkpointPayload(seq, String(r.prev), String(r['at'])), String(r['sig'])))
              bad('the checkpoint signature does not verify: a forged or edited checkpoint', seq);
            report.checkpoints++;
            report.unsignedTail = 0;
          } else report.unsignedTail++;
          if (head && seq === head.seq) {
            if (r.kind !== 'checkpoint' || r.prev !== head.prev || r['sig'] !== head.sig)
              bad(`the record at seq ${seq} is not the checkpoint the signed head names (${headPath(file.path)})`, seq);
            headFound = true;
          }
          report.records++;
          report.lastSeq = seq;
          prev = String(r.h);
          expect = seq + 1;
          last.kind = r.kind;
          last.reason = r['reason'];
        },
        { gz: file.gz },
      );
      if (gap) missing(gap);
      const isLast = i === files.length - 1;
      if (file.rotatedAt !== undefined && !(last.kind === 'checkpoint' && last.reason === 'rotate'))
        return fail(report, {
          file: file.path,
          line: n + 1,
          why: 'a rotated file must end with its sealing checkpoint: its tail was cut',
        });
      if (isLast && head && !headFound) {
        const why =
          report.lastSeq !== undefined && report.lastSeq < head.seq
            ? `the trail ends at seq ${report.lastSeq} but its signed head (at ${head.at}) is at seq ${head.seq}: records after line ${n} were cut (truncated tail)`
            : `the checkpoint the signed head names (seq ${head.seq}) is not in the trail`;
        return fail(report, { file: file.path, line: n + 1, why });
      }
    }
  } catch (err) {
    if (err instanceof Stop) {
      report.ok = false;
      return report;
    }
    throw err;
  }
  if (report.head) report.head.checked = headFound;
  return report;
}

function fail(report: VerifyReport, problem: VerifyProblem): VerifyReport {
  report.ok = false;
  report.problem = problem;
  return report;
}

/** One line for people: "ok …" or "FAIL file:line (seq n): why". */
export function describe(report: VerifyReport): string {
  if (!report.ok && report.problem) {
    const p = report.problem;
    return `FAIL ${p.file}:${p.line}${p.seq !== undefined && !Number.isNaN(p.seq) ? ` (seq ${p.seq})` : ''}: ${p.why}`;
  }
  const parts = [
    `ok: ${report.records} records in ${report.files} file(s), seq ${report.firstSeq ?? '-'}–${report.lastSeq ?? '-'}`,
    `${report.checkpoints} signed checkpoints`,
  ];
  if (report.head?.checked) parts.push(`signed head at seq ${report.head.seq} (${report.head.at}) found`);
  else parts.push('no signed head file (a cut tail after the last checkpoint cannot be seen)');
  if (report.unsignedTail) parts.push(`${report.unsignedTail} record(s) after the last checkpoint`);
  if (report.startsMidway) parts.push('the chain starts midway (older files removed by retention?)');
  if (report.unchained) parts.push(`${report.unchained} line(s) from before the chain`);
  return parts.join('; ');
}
