// One snapshot decoder process (snapshotter.c): long-lived, one GOP at a time, started on first use
// and again after it dies. A decode that does not answer within the timeout kills the process (the
// next request starts a fresh one).
import type { ChildProcess } from 'node:child_process';
import { tiedSpawn } from '../core/tiedSpawn.js';
import type { Logger } from '../log.js';

export interface Decoded {
  /** Empty when the GOP held no decodable picture. */
  jpeg: Buffer;
  frames: number;
  width: number;
  height: number;
}

const ANSWER_HEAD = 12;

export class SnapshotDecoder {
  #child: ChildProcess | undefined;
  #pending: { resolve: (d: Decoded) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  #buf: Buffer = Buffer.alloc(0);
  #closed = false;

  constructor(
    private readonly path: string,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  /** The decoder process's pid while it runs (for benchmarks' CPU accounting). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Decodes `annexB` up to its last frame and encodes that as a JPEG `width` wide (0: as it is). */
  decode(annexB: Buffer, width: number, quality: number): Promise<Decoded> {
    if (this.#pending) return Promise.reject(new Error('snapshot decoder busy'));
    if (this.#closed) return Promise.reject(new Error('snapshot decoder closed'));
    const child = this.#process();
    return new Promise<Decoded>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.logger.warn(
          { timeoutMs: this.timeoutMs, bytes: annexB.length },
          'snapshot decoder timed out; restarting it',
        );
        this.#fail(new Error(`the snapshot decoder did not answer within ${this.timeoutMs} ms`));
        child.kill('SIGKILL');
      }, this.timeoutMs);
      this.#pending = { resolve, reject, timer };
      const head = Buffer.alloc(7);
      head.writeUInt32BE(annexB.length, 0);
      head.writeUInt16BE(width, 4);
      head[6] = quality;
      child.stdin?.write(head);
      child.stdin?.write(annexB);
    });
  }

  #process(): ChildProcess {
    if (this.#child) return this.#child;
    const child = tiedSpawn(this.path, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child = child;
    this.#buf = Buffer.alloc(0);
    child.stdout?.on('data', (d: Buffer) => this.#onData(d));
    child.stderr?.on('data', (d: Buffer) =>
      this.logger.warn({ stderr: d.toString().trim().slice(0, 300) }, 'snapshot decoder'),
    );
    child.stdin?.on('error', () => {}); // it died: 'exit' says so
    const gone = (why: string) => {
      if (this.#child !== child) return;
      this.#child = undefined;
      if (!this.#closed) this.logger.warn({ why }, 'snapshot decoder exited; the next snapshot starts it again');
      this.#fail(new Error(`the snapshot decoder exited (${why})`));
    };
    child.on('error', (e) => gone(e.message));
    child.on('exit', (code, signal) => gone(signal ?? `code ${code}`));
    return child;
  }

  #onData(d: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
    if (this.#buf.length < ANSWER_HEAD) return;
    const len = this.#buf.readUInt32BE(0);
    if (this.#buf.length < ANSWER_HEAD + len) return;
    const answer: Decoded = {
      jpeg: Buffer.from(this.#buf.subarray(ANSWER_HEAD, ANSWER_HEAD + len)),
      frames: this.#buf.readUInt32BE(4),
      width: this.#buf.readUInt16BE(8),
      height: this.#buf.readUInt16BE(10),
    };
    this.#buf = this.#buf.subarray(ANSWER_HEAD + len);
    const p = this.#pending;
    this.#pending = undefined;
    if (p) {
      clearTimeout(p.timer);
      p.resolve(answer);
    }
  }

  #fail(err: Error): void {
    const p = this.#pending;
    this.#pending = undefined;
    if (!p) return;
    clearTimeout(p.timer);
    p.reject(err);
  }

  close(): void {
    this.#closed = true;
    this.#fail(new Error('snapshot decoder closed'));
    this.#child?.stdin?.end();
    this.#child?.kill('SIGTERM');
    this.#child = undefined;
  }
}
