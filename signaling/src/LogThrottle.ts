// Rate-limits log lines by key (peer and reason): the first occurrence is logged, later ones are
// counted and reported as one summary per interval, so a hostile client cannot flood the log.

/** Called once per interval for a key that occurred again; `what` is undefined for the overflow key. */
export type Summary<T> = (what: T | undefined, count: number, seconds: number) => void;

interface Entry<T> {
  what: T | undefined;
  since: number;
  suppressed: number;
}

export class LogThrottle<T> {
  readonly #entries = new Map<string, Entry<T>>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    /** Keys tracked at once; beyond that, new keys share one overflow entry (memory stays bounded). */
    private readonly maxKeys: number,
    private readonly summary: Summary<T>,
  ) {}

  /** True: log this occurrence. False: it was counted for the key's next summary. */
  admit(key: string, what: T): boolean {
    const entry = this.#entries.get(key) ?? this.#entries.get(OVERFLOW);
    if (entry) {
      entry.suppressed++;
      return false;
    }
    const full = this.#entries.size >= this.maxKeys;
    // The overflow entry logs nothing at first: it is a count of keys that had no room.
    this.#entries.set(full ? OVERFLOW : key, { what: full ? undefined : what, since: Date.now(), suppressed: +full });
    this.#timer ??= setInterval(() => this.flush(), this.intervalMs).unref();
    return !full;
  }

  /** Writes the summaries that are due and forgets keys that were quiet for a whole interval. */
  flush(): void {
    const now = Date.now();
    for (const [key, e] of this.#entries) {
      if (e.suppressed === 0) {
        this.#entries.delete(key);
        continue;
      }
      this.summary(e.what, e.suppressed, (now - e.since) / 1000);
      e.suppressed = 0;
      e.since = now;
    }
    if (this.#entries.size === 0) this.#stop();
  }

  /** Writes what is still counted and stops the timer. */
  close(): void {
    this.flush();
    this.#entries.clear();
    this.#stop();
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

const OVERFLOW = '\0overflow';
