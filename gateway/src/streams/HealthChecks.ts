// The schedule of camera health checks: each variant nobody watches is checked (StreamVariant's
// checkHealth: one RTSP DESCRIBE and hang-up) once per interval, the variants spread evenly over it
// (variant i of n first at i/n of the interval, then once every interval: no burst of 214 DESCRIBEs
// after a start), and at most a few checks in flight at once (a camera that never answers holds its
// check for the connect timeout). A variant whose ingest runs is skipped: its ingest knows.
//
// One timer for all (unref'd): each tick takes the next variant of the list as it is then, so
// cameras added or removed by a reconfigure are picked up by themselves.
import type { Logger } from '../log.js';

/** What a check needs of a variant (StreamVariant has it). */
export interface HealthTarget {
  readonly id: string;
  readonly closed: boolean;
  readonly ingestRunning: boolean;
  readonly health: { readonly state: string; readonly reason?: string | undefined };
  /** Never throws; does nothing while the ingest runs, a password backoff waits or a check runs. */
  checkHealth(): Promise<void>;
}

export interface HealthChecksOptions {
  /** The variants to check, read at every tick. */
  targets: () => readonly HealthTarget[];
  /** Each variant is checked once per this (config.health.checkIntervalSec). */
  intervalMs: number;
  /** Checks in flight at most; more that fall due wait their turn. Default 4. */
  maxInFlight?: number;
  logger?: Logger;
}

export const DEFAULT_MAX_IN_FLIGHT = 4;

export class HealthChecks {
  readonly #targets: () => readonly HealthTarget[];
  readonly #intervalMs: number;
  readonly #max: number;
  readonly #logger: Logger | undefined;
  readonly #inFlight = new Set<HealthTarget>();
  /** Fell due while the limit was reached; in order, each once. */
  readonly #waiting = new Set<HealthTarget>();
  #timer: NodeJS.Timeout | undefined;
  /** When the next tick is due (ms since epoch) and which place of the list it takes. */
  #due = 0;
  #next = 0;
  #started = false;
  #closed = false;
  #checks = 0;
  #skipped = 0;

  constructor(opts: HealthChecksOptions) {
    if (!(opts.intervalMs > 0)) throw new Error(`health check interval must be > 0 ms (got ${opts.intervalMs})`);
    this.#targets = opts.targets;
    this.#intervalMs = opts.intervalMs;
    this.#max = Math.max(1, opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
    this.#logger = opts.logger;
  }

  /** Checks started, and due turns skipped because the variant's ingest ran (or it was closed). */
  get stats(): { checks: number; skipped: number; inFlight: number; waiting: number } {
    return { checks: this.#checks, skipped: this.#skipped, inFlight: this.#inFlight.size, waiting: this.#waiting.size };
  }

  /** The first variant is checked at once, the others spread over one interval. Idempotent. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#due = Date.now();
    this.#logger?.info(
      { variants: this.#targets().length, intervalSec: this.#intervalMs / 1000, maxInFlight: this.#max },
      'camera health checks started',
    );
    this.#tick();
  }

  /** No more checks start; those in flight end by themselves (within the connect timeout). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting.clear();
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    const list = this.#targets();
    const n = list.length;
    if (n > 0) {
      this.#next %= n;
      this.#offer(list[this.#next] as HealthTarget);
      this.#next = (this.#next + 1) % n;
    }
    // Nothing to check: look again in an interval. Otherwise one step of the interval per variant,
    // kept on the schedule's own clock (no drift), but no burst to catch up after a long stall.
    const step = n > 0 ? this.#intervalMs / n : this.#intervalMs;
    const now = Date.now();
    this.#due += step;
    if (this.#due < now - step) this.#due = now;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, this.#due - now));
    this.#timer.unref();
  }

  #offer(t: HealthTarget): void {
    if (t.closed || t.ingestRunning) {
      this.#skipped++;
      return;
    }
    if (this.#inFlight.has(t) || this.#waiting.has(t)) return;
    if (this.#inFlight.size >= this.#max) this.#waiting.add(t);
    else this.#run(t);
  }

  #run(t: HealthTarget): void {
    this.#inFlight.add(t);
    this.#checks++;
    const before = t.health.state;
    t.checkHealth()
      .catch((err: Error) => this.#logger?.warn({ camera: t.id, err: err.message }, 'camera health check failed'))
      .finally(() => {
        this.#inFlight.delete(t);
        this.#said(t, before);
        this.#drain();
      });
  }

  /** One line when a check finds a camera gone or back (not per check). */
  #said(t: HealthTarget, before: string): void {
    const { state, reason } = t.health;
    if (this.#closed || state === before) return;
    if (state === 'down') this.#logger?.warn({ camera: t.id, was: before, reason }, 'health check: camera down');
    else if (state === 'up' && before !== 'unknown')
      this.#logger?.info({ camera: t.id, was: before }, 'health check: camera answers again');
  }

  #drain(): void {
    while (!this.#closed && this.#inFlight.size < this.#max) {
      const t = this.#waiting.values().next().value;
      if (!t) return;
      this.#waiting.delete(t);
      if (t.closed || t.ingestRunning) this.#skipped++;
      else this.#run(t);
    }
  }
}
