// The audit trail: who watched whom, when, signed in, minted a token, took a snapshot or read the
// trail. One JSON line per record, hash-chained (chain.ts), written with one write(2) each before
// the call returns (a SIGKILL loses nothing written; fdatasync follows within SYNC_MS, at once for
// records that must be on disk before their action is answered). A view is written when it starts
// and when it ends; signed checkpoints every `checkpointSec` say the gateway was alive, so on the
// next start the views a crash left open are closed as `gateway crashed` at the last time known.
// A write that fails (full disk, unwritable file) makes the trail degraded: records wait in memory
// (bounded; what is dropped is written as a gap) and are retried every second.
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { GatewayError } from '../../../signaling/src/errors.js';
import { checkpointPayload, GENESIS, hashText, openLine, type Signer, sealLine } from './chain.js';
import { eachLine, rotatedName, type TrailFile, trailFiles } from './files.js';
import { type QueryResult, queryTrail } from './query.js';
import {
  type AccessRecord,
  type AuditQuery,
  type CheckpointRecord,
  type GapRecord,
  type TrailRecord,
  type ViewStartRecord,
  viewEnded,
} from './records.js';
import { type HeadFile, headPath } from './verify.js';

export type {
  AccessRecord,
  AuditQuery,
  AuditReadRecord,
  AuditRecord,
  MintRecord,
  SignInRecord,
  SnapshotRecord,
  ViewStartRecord,
} from './records.js';

/** Background fdatasync follows a write within this; a power cut loses at most this much. */
const SYNC_MS = 200;
const RETRY_MS = 1000;
/** Records kept in memory while the trail cannot be written; more are dropped and written as a gap. */
const MAX_PENDING = 10_000;
const DAY_MS = 86_400_000;

export interface AuditLogOptions {
  file: string;
  checkpointSec: number;
  rotate: { daily: boolean; maxBytes: number };
  /** Rotated files older than this are deleted; 0 keeps them for ever. */
  retentionDays: number;
  /** Refuse new views, sign-ins and mints while the trail cannot be written. */
  required: boolean;
  signer: Signer;
  now?: () => number;
}

export interface AuditLogEvents {
  appended: [kind: string];
  /** A write failed (ENOSPC, EACCES, EIO…). */
  failed: [code: string];
  /** Degraded: records cannot be written now (detail says why); ok: they can again. */
  state: [state: 'ok' | 'degraded', detail: string];
  /** Records given up on while degraded (written as a gap record later). */
  dropped: [count: number];
  rotated: [file: string];
  /** On start: views a crash (or a stop without their end) left open, closed now. */
  recovered: [views: number, lastAlive: string | null];
  /** Something worth one log line (compression or retention trouble, a trail shorter than its head). */
  warning: [message: string, detail: Record<string, unknown>];
}

type Pending = TrailRecord | ((seq: number, prev: string) => TrailRecord);

interface Replay {
  seq: number;
  head: string;
  open: Map<string, ViewStartRecord>;
  lastAlive: number | undefined;
  stopped: boolean;
  firstAt: number | undefined;
  torn?: { offset: number; text: string };
}

const iso = (t: number) => new Date(t).toISOString();
const dayOf = (t: number) => iso(t).slice(0, 10);

export class AuditLog {
  readonly observer = new EventEmitter<AuditLogEvents>();
  #fd: number | undefined;
  #size = 0;
  #fileDay = '';
  #seq = 0;
  #head = GENESIS;
  readonly #open = new Map<string, ViewStartRecord>();
  #pending: Pending[] = [];
  #lost: { n: number; from: number; to: number; reason: string } | undefined;
  #error: string | undefined;
  #retry: NodeJS.Timeout | undefined;
  #checkpoints: NodeJS.Timeout | undefined;
  #syncTimer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> | undefined;
  #syncWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #compressing = new Set<Promise<void>>();
  #closed = false;
  readonly #now: () => number;

  private constructor(private readonly opts: AuditLogOptions) {
    this.#now = opts.now ?? Date.now;
  }

  get file(): string {
    return this.opts.file;
  }

  get required(): boolean {
    return this.opts.required;
  }

  /** Opens the trail: continues its chain, closes the views a crash left open, starts checkpoints. */
  static async create(opts: AuditLogOptions): Promise<AuditLog> {
    const log = new AuditLog(opts);
    await log.#open_();
    return log;
  }

  async #open_(): Promise<void> {
    const { file } = this.opts;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const r = await replay(file);
    if (r.torn) fs.truncateSync(file, r.torn.offset);
    this.#seq = r.seq;
    this.#head = r.head;
    for (const [id, v] of r.open) this.#open.set(id, v);
    this.#fd = fs.openSync(file, 'a', 0o640);
    this.#size = fs.fstatSync(this.#fd).size;
    const now = this.#now();
    this.#fileDay = dayOf(r.firstAt ?? now);
    const head = readHeadSafe(headPath(file));
    if (head && head.seq > this.#seq)
      this.#warn('the audit trail ends before its signed head: its tail was cut', { seq: this.#seq, head: head.seq });
    if (r.torn)
      this.append({
        kind: 'gap',
        at: iso(now),
        reason: 'torn last line (the gateway stopped mid-write); cut from the chain, kept here',
        torn: r.torn.text.slice(0, 4096),
      });
    const lastAlive = r.lastAlive;
    const crashed = !r.stopped && r.seq > 0;
    const open = [...this.#open.values()];
    for (const v of open) {
      const end = Math.max(lastAlive ?? Date.parse(v.at), Date.parse(v.at));
      this.append(viewEnded(v, end, crashed ? 'gateway crashed' : 'gateway stopped'));
    }
    this.append({
      kind: 'gateway',
      at: iso(now),
      event: 'start',
      pid: process.pid,
      crashed,
      lastAlive: lastAlive === undefined ? null : iso(lastAlive),
      recovered: open.length,
    });
    if (open.length) this.observer.emit('recovered', open.length, lastAlive === undefined ? null : iso(lastAlive));
    this.checkpoint('start');
    // Rotated files a crash left uncompressed, and what retention no longer keeps.
    for (const f of trailFiles(file)) if (f.rotatedAt !== undefined && !f.gz) this.#compress(f.path);
    this.#sweep();
    this.#checkpoints = setInterval(() => this.checkpoint('interval'), this.opts.checkpointSec * 1000);
    this.#checkpoints.unref();
  }

  /** 'degraded' while records cannot be written (they wait in memory, see `pending`). */
  get state(): 'ok' | 'degraded' {
    return this.#error ? 'degraded' : 'ok';
  }

  status(): { state: 'ok' | 'degraded'; required: boolean; pending: number; error?: string } {
    return {
      state: this.state,
      required: this.opts.required,
      pending: this.#pending.length,
      ...(this.#error ? { error: this.#error } : {}),
    };
  }

  /** Views currently open (their start written, their end not yet). */
  get openViews(): number {
    return this.#open.size;
  }

  /**
   * Appends now (one write, before returning); never throws. False: it could not be written and waits
   * in memory (the trail is degraded).
   */
  append(record: AccessRecord | TrailRecord): boolean {
    if (this.#closed) return false;
    this.#enqueue(record);
    return this.#drain();
  }

  /**
   * For actions answered only once their record is on disk (a sign-in, a token mint, a view with
   * `audit.required`): written and fdatasync'd. When it cannot be and the trail is required, throws
   * E_UNAVAILABLE and the record is not kept (the action is refused, it did not happen).
   */
  async record(record: AccessRecord): Promise<void> {
    if (!this.writeNow(record)) return;
    await this.sync().catch(() => {
      if (this.opts.required) throw unavailable();
    });
  }

  /**
   * Writes now or, with `audit.required`, throws E_UNAVAILABLE (the record is dropped: the caller
   * refuses the action). Without it, a record that cannot be written waits in memory. True: written.
   */
  writeNow(record: AccessRecord): boolean {
    if (!this.opts.required) return this.append(record);
    if (this.#closed || !this.#drain()) throw unavailable();
    try {
      this.#write(record);
      return true;
    } catch (err) {
      this.#failed(err as NodeJS.ErrnoException);
      throw unavailable();
    }
  }

  /** Throws E_UNAVAILABLE when `audit.required` and the trail cannot be written (a new view is refused). */
  admit(): void {
    if (this.opts.required && (this.#error || this.#closed)) throw unavailable();
  }

  /** A signed checkpoint (and the head file beside the trail), then fdatasync. */
  checkpoint(reason: CheckpointRecord['reason']): void {
    if (this.#closed) return;
    // While degraded one checkpoint waits, not one per interval.
    if (this.#pending.some((p) => typeof p === 'function')) return;
    this.#enqueue(this.#checkpointRecord(reason));
    this.#drain();
    this.sync().catch(() => {});
  }

  #checkpointRecord(reason: CheckpointRecord['reason']): Pending {
    return (seq, prev) => {
      const at = iso(this.#now());
      const { alg, keyId } = this.opts.signer;
      return {
        kind: 'checkpoint',
        at,
        open: this.#open.size,
        reason,
        alg,
        keyId,
        sig: this.opts.signer.sign(checkpointPayload(seq, prev, at)),
      };
    };
  }

  /** Resolves once everything written so far is on disk (fdatasync, shared by concurrent callers). */
  sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#syncWaiters.push({ resolve, reject });
      clearTimeout(this.#syncTimer);
      this.#syncTimer = undefined;
      if (!this.#syncing) this.#runSync();
    });
  }

  #runSync(): void {
    const fd = this.#fd;
    const waiters = this.#syncWaiters.splice(0);
    if (fd === undefined) {
      for (const w of waiters) w.resolve();
      return;
    }
    this.#syncing = new Promise<void>((done) => {
      fs.fdatasync(fd, (err) => {
        this.#syncing = undefined;
        // EBADF: the file was rotated and closed meanwhile, after its own fdatasync.
        if (err && err.code !== 'EBADF') {
          this.#failed(err);
          for (const w of waiters) w.reject(err);
        } else for (const w of waiters) w.resolve();
        done();
        if (this.#syncWaiters.length) this.#runSync();
      });
    });
  }

  #scheduleSync(): void {
    if (this.#syncTimer || this.#closed) return;
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined;
      this.sync().catch(() => {});
    }, SYNC_MS);
    this.#syncTimer.unref();
  }

  #enqueue(p: Pending): void {
    if (this.#pending.length < MAX_PENDING || typeof p === 'function') {
      this.#pending.push(p);
      return;
    }
    const t = this.#now();
    this.#lost ??= { n: 0, from: t, to: t, reason: this.#error ?? 'unwritable' };
    this.#lost.n++;
    this.#lost.to = t;
    this.observer.emit('dropped', 1);
  }

  /** Writes what waits, in order; false when a write failed (it stays first in line). */
  #drain(): boolean {
    while (this.#pending.length) {
      try {
        this.#write(this.#pending[0] as Pending);
      } catch (err) {
        this.#failed(err as NodeJS.ErrnoException);
        return false;
      }
      this.#pending.shift();
    }
    if (this.#lost) {
      const { n, from, to, reason } = this.#lost;
      const gap: GapRecord = { kind: 'gap', at: iso(this.#now()), reason, lost: n, from: iso(from), to: iso(to) };
      try {
        this.#write(gap);
      } catch (err) {
        this.#failed(err as NodeJS.ErrnoException);
        return false;
      }
      this.#lost = undefined;
    }
    if (this.#error) {
      this.#error = undefined;
      clearTimeout(this.#retry);
      this.#retry = undefined;
      this.observer.emit('state', 'ok', 'records are written again');
    }
    return true;
  }

  #failed(err: NodeJS.ErrnoException): void {
    const code = err.code ?? 'EIO';
    this.observer.emit('failed', code);
    if (!this.#error) {
      this.#error = `${code}: ${err.message}`;
      this.observer.emit('state', 'degraded', this.#error);
    }
    if (!this.#retry && !this.#closed) {
      this.#retry = setInterval(() => this.#drain(), RETRY_MS);
      this.#retry.unref();
    }
  }

  #write(p: Pending): void {
    const now = this.#now();
    const { daily, maxBytes } = this.opts.rotate;
    if (this.#size > 0 && ((daily && dayOf(now) !== this.#fileDay) || this.#size >= maxBytes)) this.#rotate(now);
    this.#writeLine(p);
  }

  #writeLine(p: Pending): void {
    const fd = this.#fd;
    if (fd === undefined) throw Object.assign(new Error('the audit trail is closed'), { code: 'ECLOSED' });
    const prev = this.#head;
    const record = typeof p === 'function' ? p(this.#seq + 1, prev) : p;
    const { line, h } = sealLine(record, this.#seq + 1, prev);
    const buf = Buffer.from(`${line}\n`, 'utf8');
    const n = fs.writeSync(fd, buf);
    if (n < buf.length) {
      // A part of a line would break the chain: cut it off again (O_APPEND wrote it at the end).
      try {
        fs.ftruncateSync(fd, fs.fstatSync(fd).size - n);
      } catch {}
      throw Object.assign(new Error(`short write (${n} of ${buf.length} bytes): the disk is full`), {
        code: 'ENOSPC',
      });
    }
    this.#seq++;
    this.#head = h;
    this.#size += buf.length;
    if (record.kind === 'view-start') this.#open.set(record.id, record);
    else if ((record.kind === 'view' || record.kind === undefined) && record.id) this.#open.delete(record.id);
    if (record.kind === 'checkpoint') this.#writeHead(record, prev);
    this.observer.emit('appended', record.kind ?? 'view');
    this.#scheduleSync();
  }

  /** The signed head beside the trail: a tail cut before it shows (verify.ts). Replaced atomically. */
  #writeHead(c: CheckpointRecord, prev: string): void {
    const head: HeadFile = {
      file: path.basename(this.opts.file),
      seq: this.#seq,
      prev,
      at: c.at,
      alg: c.alg,
      keyId: c.keyId,
      sig: c.sig,
    };
    const file = headPath(this.opts.file);
    try {
      fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(head)}\n`);
      fs.renameSync(`${file}.tmp`, file);
    } catch (err) {
      this.observer.emit('failed', (err as NodeJS.ErrnoException).code ?? 'EIO');
    }
  }

  #rotate(now: number): void {
    const fd = this.#fd as number;
    this.#writeLine(this.#checkpointRecord('rotate'));
    fs.fdatasyncSync(fd);
    const rotated = rotatedName(this.opts.file, now, this.#seq);
    fs.renameSync(this.opts.file, rotated);
    fs.closeSync(fd);
    this.#fd = fs.openSync(this.opts.file, 'a', 0o640);
    this.#size = 0;
    this.#fileDay = dayOf(now);
    this.#writeLine({
      kind: 'file',
      at: iso(now),
      previous: `${path.basename(rotated)}.gz`,
      open: [...this.#open.values()],
    });
    this.observer.emit('rotated', rotated);
    this.#compress(rotated);
  }

  #compress(plain: string): void {
    const job = (async () => {
      const tmp = `${plain}.gz.tmp`;
      try {
        await pipeline(fs.createReadStream(plain), createGzip(), fs.createWriteStream(tmp));
        const fd = fs.openSync(tmp, 'r');
        fs.fsyncSync(fd);
        fs.closeSync(fd);
        fs.renameSync(tmp, `${plain}.gz`);
        fs.unlinkSync(plain);
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        this.#warn('a rotated audit file could not be compressed; it stays uncompressed', {
          file: plain,
          err: (err as Error).message,
        });
      }
      this.#sweep();
    })();
    this.#compressing.add(job);
    void job.finally(() => this.#compressing.delete(job));
  }

  /** Deletes rotated files whose newest record is older than `retentionDays`. */
  #sweep(): void {
    if (this.opts.retentionDays <= 0) return;
    const before = this.#now() - this.opts.retentionDays * DAY_MS;
    for (const f of trailFiles(this.opts.file)) {
      if (f.rotatedAt === undefined || f.rotatedAt >= before) continue;
      try {
        fs.unlinkSync(f.path);
      } catch (err) {
        this.#warn('an expired audit file could not be deleted', { file: f.path, err: (err as Error).message });
      }
    }
  }

  #warn(message: string, detail: Record<string, unknown>): void {
    this.observer.emit('warning', message, detail);
  }

  /** Newest first across every file of the trail (query.ts). */
  query(q: AuditQuery): Promise<QueryResult> {
    return queryTrail(this.opts.file, q);
  }

  /** Writes the stop record and a last checkpoint, syncs, closes. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#checkpoints);
    this.append({ kind: 'gateway', at: iso(this.#now()), event: 'stop', pid: process.pid });
    this.checkpoint('stop');
    this.#closed = true;
    clearInterval(this.#retry);
    clearTimeout(this.#syncTimer);
    await this.#syncing;
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) {
      try {
        fs.fdatasyncSync(fd);
      } catch {}
      fs.closeSync(fd);
    }
    await Promise.all([...this.#compressing]);
  }
}

const unavailable = () =>
  new GatewayError(
    'E_UNAVAILABLE',
    'the audit trail cannot be written, and auditing is required here (audit.required): refused until it can',
    'audit_unavailable',
  );

function readHeadSafe(file: string): HeadFile | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as HeadFile;
  } catch {
    return undefined;
  }
}

/** Reads the end of the chain and the views still open: the live file, or the newest rotated one. */
async function replay(live: string): Promise<Replay> {
  const r: Replay = {
    seq: 0,
    head: GENESIS,
    open: new Map(),
    lastAlive: undefined,
    stopped: false,
    firstAt: undefined,
  };
  const files = trailFiles(live);
  const last = files.at(-1);
  if (!last) return r;
  // An empty live file (a crash right after a rotation): the chain and the open views are in the rotated one.
  const before = files.at(-2);
  if (last.rotatedAt === undefined && before && fs.statSync(last.path).size === 0) await replayFile(before, r);
  await replayFile(last, r);
  return r;
}

async function replayFile(last: TrailFile, r: Replay): Promise<void> {
  // The live file was not created yet after a rotation: the rotated file's end is the chain's end.
  const isLive = last.rotatedAt === undefined;
  let offset = 0;
  await eachLine(
    last.path,
    (buf, torn) => {
      const text = buf.toString('utf8');
      if (torn && isLive) {
        r.torn = { offset, text };
        return;
      }
      offset += buf.length + 1;
      const o = openLine(text);
      if (!o || o.legacy) {
        r.head = hashText(text);
        return;
      }
      const rec = o.record as unknown as TrailRecord & { seq: number; h: string };
      r.seq = rec.seq;
      r.head = rec.h;
      const at = Date.parse(('at' in rec ? rec.at : rec.end) ?? '');
      if (Number.isFinite(at)) {
        r.lastAlive = Math.max(r.lastAlive ?? at, at);
        r.firstAt ??= at;
      }
      switch (rec.kind) {
        case 'file':
          r.open = new Map(rec.open.map((v) => [v.id, v]));
          break;
        case 'view-start':
          r.open.set(rec.id, rec);
          break;
        case 'view':
        case undefined:
          if (rec.id) r.open.delete(rec.id);
          break;
        case 'gateway':
          r.stopped = rec.event === 'stop';
          break;
        case 'checkpoint':
          break;
        default:
          if (r.stopped) r.stopped = false;
      }
    },
    { gz: last.gz },
  );
  if (!isLive) r.firstAt = undefined;
}
