// The capacity model: refuse a viewer before quality collapses, not after. Three limits, each from
// config: viewers per stream, consumers per worker, and this node's estimated egress (each live
// stream's ingest bitrate times its video consumers).
import type { Config } from '../../../config/schema.js';
import { GatewayError } from '../../../signaling/src/errors.js';
import type { WorkerPool } from '../media/WorkerPool.js';
import type { WorkerSlot } from '../media/WorkerSlot.js';
import type { StreamRegistry } from '../streams/StreamRegistry.js';
import type { StreamVariant } from '../streams/StreamVariant.js';

export class Capacity {
  constructor(
    private readonly limits: Config['capacity'],
    private readonly pool: WorkerPool,
    private readonly streams: StreamRegistry,
  ) {}

  egressBps(): number {
    let bps = 0;
    for (const v of this.streams.variants()) {
      let video = 0;
      for (const c of v.consumers) if (c.kind === 'video' && !c.closed) video++;
      bps += v.ingestStats.bitrateBps * video;
    }
    return bps;
  }

  /** 0..1: the most used of the node's limits. */
  used(): number {
    const consumers = this.pool.workers.reduce((n, w) => n + w.consumers, 0);
    return Math.min(
      1,
      Math.max(
        consumers / (this.limits.consumersPerWorker * this.pool.workers.length),
        this.egressBps() / (this.limits.egressMbps * 1e6),
      ),
    );
  }

  /** Throws E_CAPACITY with a sentence saying which limit is reached. */
  admit(variant: StreamVariant, worker: WorkerSlot): void {
    const { viewersPerStream, consumersPerWorker, egressMbps } = this.limits;
    if (viewersPerStream > 0 && variant.viewers >= viewersPerStream) {
      throw new GatewayError(
        'E_CAPACITY',
        `${variant.id} already has ${variant.viewers} viewers, the most this gateway allows per stream; try again later`,
      );
    }
    if (worker.consumers >= consumersPerWorker) {
      throw new GatewayError(
        'E_CAPACITY',
        `the gateway is full (${consumersPerWorker} consumers on its least loaded worker); try again later`,
      );
    }
    const after = this.egressBps() + variant.ingestStats.bitrateBps;
    if (after > egressMbps * 1e6) {
      throw new GatewayError(
        'E_CAPACITY',
        `the gateway's outgoing bandwidth would exceed ${egressMbps} Mbit/s; try again later`,
      );
    }
  }
}
