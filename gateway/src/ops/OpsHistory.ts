// The last 15 minutes of load, sampled every 10 s, for the operators' page (people would rather look
// than read). Kept in memory: a restart starts a fresh window; Prometheus keeps the long history.

import type { WorkerPool } from '../media/WorkerPool.js';
import type { StreamRegistry } from '../streams/StreamRegistry.js';
import type { Capacity } from '../viewing/Capacity.js';

export interface OpsSample {
  t: number;
  capacityUsed: number;
  egressBps: number;
  workers: { index: number; consumers: number; cpuPercent: number }[];
  streams: Record<string, { viewers: number; ingestBps: number; egressBps: number; state: string }>;
}

export class OpsHistory {
  readonly #samples: OpsSample[] = [];
  readonly #cpuSeen = new Map<number, { cpuMs: number; at: number }>();
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly pool: WorkerPool,
    private readonly streams: StreamRegistry,
    private readonly capacity: Capacity,
    readonly intervalMs = 10_000,
    readonly keep = 90,
  ) {
    this.#timer = setInterval(() => void this.sample(), intervalMs);
    this.#timer.unref();
    void this.sample();
  }

  get samples(): readonly OpsSample[] {
    return this.#samples;
  }

  async sample(): Promise<OpsSample> {
    const now = Date.now();
    const workers = await Promise.all(
      this.pool.workers.map(async (w) => {
        const ru = w.worker.closed ? undefined : await w.worker.getResourceUsage().catch(() => undefined);
        const cpuMs = ru ? ru.ru_utime + ru.ru_stime : 0;
        const prev = this.#cpuSeen.get(w.index);
        this.#cpuSeen.set(w.index, { cpuMs, at: now });
        const cpuPercent = prev && now > prev.at ? Math.round(((cpuMs - prev.cpuMs) / (now - prev.at)) * 1000) / 10 : 0;
        return { index: w.index, consumers: w.consumers, cpuPercent };
      }),
    );
    const streams: OpsSample['streams'] = {};
    for (const v of this.streams.variants()) {
      const video = [...v.consumers].filter((c) => c.kind === 'video' && !c.closed).length;
      const ingestBps = v.ingestStats.bitrateBps;
      streams[v.id] = { viewers: v.viewers, ingestBps, egressBps: ingestBps * video, state: v.state };
    }
    const s: OpsSample = {
      t: now,
      capacityUsed: this.capacity.used(),
      egressBps: this.capacity.egressBps(),
      workers,
      streams,
    };
    this.#samples.push(s);
    if (this.#samples.length > this.keep) this.#samples.shift();
    return s;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
