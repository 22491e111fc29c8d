// The one restart loop of the gateway. A source (FFmpeg, an RTSP session, a mediasoup worker) only
// knows how to run once: `run()` starts it and returns a handle whose `ended` settles when it stops.
// The supervisor owns the pause between runs (capped exponential backoff with jitter, reset after a
// healthy run), restarts on request, and says what happened in typed events.
import { EventEmitter } from 'node:events';
import { backoffDelay } from './backoff.js';

export type SupervisorState = 'stopped' | 'starting' | 'running' | 'backoff';

/** Why a run ended; each source has its own reasons (e.g. 'auth', 'stall', a signal name). */
export interface RunEnd<R extends string> {
  reason: R;
  /** For operators (already free of secrets). */
  message: string;
  /** Exit code or protocol status, when there is one. */
  code?: number | null;
  signal?: string | null;
}

export interface Run<R extends string> {
  /** Settles when the run has ended, by itself or after stop(); never rejects. */
  readonly ended: Promise<RunEnd<R>>;
  /** Ends the run (restart or stop); `ended` settles afterwards. */
  stop(reason: R): void | Promise<void>;
}

export interface SupervisorEvents<R extends string> {
  state: [SupervisorState];
  /** A run has started. */
  started: [run: Run<R>];
  /** A run ended by itself or by restart(); the next one starts after `delayMs`. */
  failed: [RunEnd<R> & { delayMs: number; restarts: number }];
}

export interface SupervisorOptions<R extends string> {
  /** Starts one run; a rejection counts as a run that ended at once (see startFailure). */
  run: () => Promise<Run<R>>;
  /** How a rejected start is reported. */
  startFailure: (err: Error) => RunEnd<R>;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** A run that lasted this long resets the backoff. */
  healthyAfterMs: number;
  /**
   * The pause after this end instead of the backoff (e.g. a camera that rejected the password waits
   * minutes, not seconds); undefined keeps the backoff.
   */
  delayFor?: (end: RunEnd<R>) => number | undefined;
  random?: () => number;
}

export class Supervisor<R extends string> extends EventEmitter<SupervisorEvents<R>> {
  #state: SupervisorState = 'stopped';
  #wanted = false;
  #stopReason: R | undefined;
  /** The run stop() ended: its end is no failure. */
  #stoppedRun: Run<R> | undefined;
  #restartReason: R | undefined;
  #current: Run<R> | undefined;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #attempt = 0;
  #restarts = 0;
  #runningSince = 0;

  constructor(private readonly opts: SupervisorOptions<R>) {
    super();
  }

  get state(): SupervisorState {
    return this.#state;
  }
  get restarts(): number {
    return this.#restarts;
  }
  /** When the current run started (ms since epoch); 0 while none runs. */
  get runningSince(): number {
    return this.#current ? this.#runningSince : 0;
  }
  get current(): Run<R> | undefined {
    return this.#current;
  }

  /** Keeps a run going until stop(). Idempotent. */
  start(): void {
    this.#wanted = true;
    this.#stopReason = undefined;
    this.#loop ??= this.#supervise().finally(() => {
      this.#loop = undefined;
      if (this.#wanted) this.start(); // start() came while the last run was ending
    });
  }

  /** Ends the current run (e.g. it stalled); the next one starts after the backoff. */
  restart(reason: R): void {
    const run = this.#current;
    if (!this.#wanted || !run || this.#restartReason) return;
    this.#restartReason = reason;
    void run.stop(reason);
  }

  /** Skips the current pause: the next run starts now (e.g. a viewer is waiting). */
  hurry(): void {
    this.#wake?.();
  }

  /** Ends the current run and the supervision; resolves once the run has ended. */
  async stop(reason: R): Promise<void> {
    this.#wanted = false;
    this.#stopReason = reason;
    this.#stoppedRun = this.#current;
    this.#wake?.();
    await this.#current?.stop(reason);
    if (this.#loop && !this.#wanted) await this.#loop;
  }

  #setState(s: SupervisorState): void {
    if (this.#state === s) return;
    this.#state = s;
    this.emit('state', s);
  }

  async #supervise(): Promise<void> {
    while (this.#wanted) {
      this.#setState('starting');
      const startedAt = Date.now();
      let end: RunEnd<R>;
      let run: Run<R> | undefined;
      try {
        run = await this.opts.run();
        this.#current = run;
        this.#runningSince = Date.now(); // after the start (e.g. a slow DESCRIBE) has finished
        this.#setState('running');
        this.emit('started', run);
        if (this.#stopReason !== undefined) {
          this.#stoppedRun = run;
          void run.stop(this.#stopReason);
        }
        end = await run.ended;
      } catch (err) {
        end = this.opts.startFailure(err as Error);
      }
      this.#current = undefined;
      const restartReason = this.#restartReason;
      this.#restartReason = undefined;
      const stopped = run !== undefined && run === this.#stoppedRun;
      this.#stoppedRun = undefined;
      if (!this.#wanted) break;
      if (stopped) continue; // stop() then start(): a new run, not a failure
      if (Date.now() - startedAt >= this.opts.healthyAfterMs) this.#attempt = 0;
      const reported = restartReason ? { ...end, reason: restartReason } : end;
      const delayMs =
        this.opts.delayFor?.(reported) ??
        backoffDelay(this.#attempt++, this.opts.backoffInitialMs, this.opts.backoffMaxMs, this.opts.random);
      this.#restarts++;
      this.#setState('backoff');
      this.emit('failed', {
        ...reported,
        delayMs,
        restarts: this.#restarts,
      });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    this.#setState('stopped');
  }
}
