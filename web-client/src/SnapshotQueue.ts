// At most `max` snapshot requests of one page at once (a wall of 107 tiles must not burst the
// gateway's decoders); the rest wait, the most urgent first (a tile about to play before a refresh).
export class SnapshotQueue {
  #active = 0;
  readonly #waiting: { priority: number; seq: number; start: () => void }[] = [];
  #seq = 0;
  #peak = 0;

  constructor(readonly max = 4) {}

  /** Requests running now, waiting, and the most that ever ran at once (for the wall's probe). */
  get load(): { active: number; waiting: number; peak: number } {
    return { active: this.#active, waiting: this.#waiting.length, peak: this.#peak };
  }

  /** Runs `task` when a slot is free; higher `priority` goes first, equal ones in order. */
  run<T>(task: () => Promise<T>, priority = 0, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = {
        priority,
        seq: this.#seq++,
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          this.#active++;
          this.#peak = Math.max(this.#peak, this.#active);
          task()
            .then(resolve, reject)
            .finally(() => {
              this.#active--;
              this.#next();
            });
        },
      };
      const onAbort = () => {
        const i = this.#waiting.indexOf(entry);
        if (i >= 0) this.#waiting.splice(i, 1);
        reject(signal?.reason ?? new DOMException('aborted', 'AbortError'));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(entry);
      this.#waiting.sort((a, b) => b.priority - a.priority || a.seq - b.seq);
      this.#next();
    });
  }

  #next(): void {
    while (this.#active < this.max) {
      const e = this.#waiting.shift();
      if (!e) return;
      e.start();
    }
  }
}
