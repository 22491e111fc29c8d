// What the live mediasoup workers really hold (each transport's dump, asked of the worker process),
// to compare with the gateway's own counters and with what the viewers hold: nothing left behind on
// a surviving worker by a dead one (pipes to it, producers of a stream that moved, viewer consumers).
import type { WorkerSlot } from '../../gateway/src/media/WorkerSlot.js';

export interface SlotCensus {
  index: number;
  webRtcTransports: number;
  /** Consumers on WebRtcTransports: the viewers'. */
  viewerConsumers: number;
  /** Producers on transports that are neither WebRtc nor Pipe: the ingest's. */
  ingestProducers: string[];
  /** Producers on PipeTransports: another slot's stream piped here. */
  pipeProducers: string[];
  /** Consumers on PipeTransports: this slot's streams piped elsewhere. */
  pipeConsumers: number;
}

export async function census(slots: readonly WorkerSlot[]): Promise<SlotCensus[]> {
  const out: SlotCensus[] = [];
  for (const slot of slots) {
    if (!slot.serving) continue;
    const c: SlotCensus = {
      index: slot.index,
      webRtcTransports: 0,
      viewerConsumers: 0,
      ingestProducers: [],
      pipeProducers: [],
      pipeConsumers: 0,
    };
    for (const t of slot.router.transportsForTesting.values()) {
      const d = (await t.dump().catch(() => null)) as { producerIds?: string[]; consumerIds?: string[] } | null;
      if (!d) continue; // closed meanwhile
      const kind = t.constructor.name;
      if (kind === 'WebRtcTransport') {
        c.webRtcTransports++;
        c.viewerConsumers += d.consumerIds?.length ?? 0;
      } else if (kind === 'PipeTransport') {
        c.pipeProducers.push(...(d.producerIds ?? []));
        c.pipeConsumers += d.consumerIds?.length ?? 0;
      } else c.ingestProducers.push(...(d.producerIds ?? []));
    }
    out.push(c);
  }
  return out;
}

/** Sum of the samples of `name` whose labels include all of `labels` (Prometheus text format). */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
