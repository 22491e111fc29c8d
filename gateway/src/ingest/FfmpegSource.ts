// A supervised FFmpeg that feeds RTP to mediasoup: restarts with capped backoff and jitter, turns
// stderr into structured, credential-free log lines, and stops cleanly. It knows nothing of mediasoup:
// this is the narrow "RTP source" seam beside which a packet-level RTSP relay can stand later.
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import readline from 'node:readline';
import type { Logger } from '../log.js';
import { backoffDelay } from './backoff.js';
import { classifyFfmpegLine, type FailureReason, redact } from './ffmpegArgs.js';

export type SourceState = 'stopped' | 'running' | 'backoff';
export type RestartReason = FailureReason | 'stall';

export interface RtpSource extends EventEmitter<RtpSourceEvents> {
  readonly state: SourceState;
  readonly restarts: number;
  start(): void;
  restart(reason: RestartReason): void;
  stop(): Promise<void>;
}

export interface RtpSourceEvents {
  state: [SourceState];
  /** The process ended on its own (not by stop()); a restart follows after `delayMs`. */
  failed: [{ reason: RestartReason; code: number | null; signal: string | null; delayMs: number }];
}

export interface FfmpegSourceOptions {
  ffmpegPath: string;
  /** Built at each start, so a restart can pick up new ports or settings. */
  args: () => string[];
  secrets: string[];
  backoffInitialMs: number;
  backoffMaxMs: number;
  logger: Logger;
}

const HEALTHY_AFTER_MS = 10_000; // a run this long resets the backoff
const MAX_LOG_LINES_PER_RUN = 20;

export class FfmpegSource extends EventEmitter<RtpSourceEvents> implements RtpSource {
  #state: SourceState = 'stopped';
  #child: ChildProcess | undefined;
  #timer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #restarts = 0;
  #lastReason: RestartReason | null = null;
  #wanted = false;
  #stopping = false;
  #runningSince = 0;

  constructor(private readonly opts: FfmpegSourceOptions) {
    super();
  }

  get state(): SourceState {
    return this.#state;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** When the current process was started (ms since epoch), 0 when none runs. */
  get runningSince(): number {
    return this.#child ? this.#runningSince : 0;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  start(): void {
    this.#wanted = true;
    // While a stop() is waiting for the old process to exit, that stop() starts the new one.
    if (!this.#child && !this.#timer && !this.#stopping) this.#spawn();
  }

  /** Kills the running process (e.g. stalled) and lets the supervisor start it again. */
  restart(reason: RestartReason): void {
    if (!this.#wanted) return;
    this.#lastReason = reason;
    this.#child?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    this.#wanted = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const child = this.#child;
    if (child && !this.#stopping) {
      this.#stopping = true;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(kill);
      this.#stopping = false;
    }
    if (this.#wanted) this.#spawn();
    else this.#setState('stopped');
  }

  #setState(s: SourceState): void {
    if (this.#state === s) return;
    this.#state = s;
    this.emit('state', s);
  }

  #spawn(): void {
    const { logger } = this.opts;
    const startedAt = Date.now();
    this.#runningSince = startedAt;
    this.#timer = undefined;
    this.#lastReason = null;
    const child = spawn(this.opts.ffmpegPath, this.opts.args(), { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#child = child;
    this.#setState('running');
    logger.info({ pid: child.pid, attempt: this.#attempt }, 'ffmpeg started');

    let logged = 0;
    const seen = new Set<string>();
    readline.createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (raw) => {
      if (!raw.trim()) return;
      const line = redact(raw, this.opts.secrets);
      this.#lastReason = classifyFfmpegLine(line) ?? this.#lastReason;
      const key = line.replace(/0x[0-9a-f]+|\d+/g, '#');
      if (seen.has(key) || logged >= MAX_LOG_LINES_PER_RUN) return;
      seen.add(key);
      logged++;
      const level = /\[(error|fatal|panic)\]/.test(line) ? 'error' : 'warn';
      logger[level]({ ffmpeg: line.replace(/^\[(warning|error|fatal|panic)\]\s*/, '') }, 'ffmpeg says');
    });

    child.on('error', (err) => logger.error({ err: err.message }, 'ffmpeg could not be started'));
    child.on('exit', (code, signal) => {
      if (this.#child === child) this.#child = undefined;
      if (!this.#wanted || this.#stopping) return;
      if (Date.now() - startedAt > HEALTHY_AFTER_MS) this.#attempt = 0;
      const reason: RestartReason = this.#lastReason ?? 'exit';
      const delayMs = backoffDelay(this.#attempt++, this.opts.backoffInitialMs, this.opts.backoffMaxMs);
      this.#restarts++;
      logger.warn({ code, signal, reason, restartInMs: delayMs, restarts: this.#restarts }, 'ffmpeg ended; restarting');
      this.#setState('backoff');
      this.emit('failed', { reason, code, signal, delayMs });
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (this.#wanted && !this.#child) this.#spawn();
      }, delayMs);
    });
  }
}
