// Watches a stream variant's video Producer once a second: its receive stats (bitrate, loss,
// jitter) and whether bytes still arrive. Progress makes the variant live; silence for longer than
// the stall timeout while the ingest runs is a stall. It only reports: the variant decides.
import type { types } from 'mediasoup';

export interface IngestStats {
  bitrateBps: number;
  packetsLost: number;
  jitterSec: number;
  packetCount: number;
}

export interface IngestHealthOptions {
  /** The current video Producer (a new one after a re-home). */
  producer: () => types.Producer | undefined;
  /** When the current run started (0 while none runs): silence counts from the later of it and the last packet. */
  runningSince: () => number;
  stallTimeoutMs: number;
  onProgress: () => void;
  onStall: (silentForMs: number) => void;
}

const POLL_MS = 1000;
const ZERO: IngestStats = { bitrateBps: 0, packetsLost: 0, jitterSec: 0, packetCount: 0 };

export class IngestHealth {
  stats: IngestStats = ZERO;
  #timer: NodeJS.Timeout | undefined;
  #producerId = '';
  #lastBytes = 0;
  #lastProgressAt = 0;

  constructor(private readonly opts: IngestHealthOptions) {}

  get watching(): boolean {
    return !!this.#timer;
  }

  start(): void {
    if (this.#timer) return;
    this.#lastProgressAt = Date.now();
    this.#timer = setInterval(() => void this.#poll(), POLL_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #poll(): Promise<void> {
    const producer = this.opts.producer();
    if (!producer || producer.closed) return;
    if (producer.id !== this.#producerId) {
      this.#producerId = producer.id; // a new Producer counts from zero
      this.#lastBytes = 0;
    }
    const stats = await producer.getStats().catch(() => []);
    if (!this.#timer) return;
    const bytes = stats.reduce((n, s) => n + (s.byteCount ?? 0), 0);
    const now = Date.now();
    this.stats = {
      bitrateBps: stats.reduce((n, s) => n + (s.bitrate ?? 0), 0),
      packetsLost: stats.reduce((n, s) => n + (s.packetsLost ?? 0), 0),
      jitterSec: Math.max(0, ...stats.map((s) => (s.jitter ?? 0) / 90000)), // video: 90 kHz RTP clock
      packetCount: stats.reduce((n, s) => n + (s.packetCount ?? 0), 0),
    };
    if (bytes > this.#lastBytes) {
      this.#lastBytes = bytes;
      this.#lastProgressAt = now;
      this.opts.onProgress();
      return;
    }
    const running = this.opts.runningSince();
    const since = Math.max(this.#lastProgressAt, running);
    if (running > 0 && now - since > this.opts.stallTimeoutMs) {
      this.#lastProgressAt = now;
      this.opts.onStall(now - since);
    }
  }
}
