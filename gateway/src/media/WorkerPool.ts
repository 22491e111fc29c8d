// mediasoup worker slots, one router and one WebRtcServer each. A stream's Producer lives on its
// origin slot's router; a viewer's transport goes to the least-loaded serving slot, and a stream is
// piped there (router.pipeToRouter) the first time a viewer on that slot asks for it.
//
// One router per worker rather than one per stream: a viewer's single transport can then consume
// any stream (a wall of tiles), and viewers on the origin worker need no pipe at all.
import { EventEmitter } from 'node:events';
import os from 'node:os';
import type { types } from 'mediasoup';
import { GatewayError } from '../../../signaling/src/errors.js';
import type { Logger } from '../log.js';
import { type SlotState, WorkerSlot } from './WorkerSlot.js';

export interface WorkerPoolOptions {
  workers: number;
  listenIp: string;
  announcedAddress?: string;
  rtcPort: number;
  rtpPortRange: { min: number; max: number };
  logLevel: types.WorkerLogLevel;
  respawnBackoffInitialMs: number;
  respawnBackoffMaxMs: number;
  logger: Logger;
}

export interface WorkerPoolEvents {
  slotState: [WorkerSlot, SlotState];
  /** A slot's worker died; its routers' objects are gone (the slot respawns it by itself). */
  slotDied: [WorkerSlot, { reason: string; restartInMs: number }];
}

export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  readonly #pipes = new Map<string, Promise<types.Producer>>();
  #closed = false;

  private constructor(
    readonly workers: WorkerSlot[],
    /** Of the first router; every respawned router is made with the same codecs, so they stay valid. */
    readonly rtpCapabilities: types.RtpCapabilities,
  ) {
    super();
    this.setMaxListeners(0);
    for (const slot of workers) {
      slot.on('state', (s) => this.emit('slotState', slot, s));
      slot.on('died', (d) => this.emit('slotDied', slot, d));
    }
  }

  /** Starts every slot; when one cannot start, closes those that did and rejects. */
  static async create(opts: WorkerPoolOptions): Promise<WorkerPool> {
    const n = opts.workers > 0 ? opts.workers : os.availableParallelism();
    const slots = Array.from(
      { length: n },
      (_, index) =>
        new WorkerSlot({
          index,
          listenIp: opts.listenIp,
          announcedAddress: opts.announcedAddress,
          rtcPort: opts.rtcPort > 0 ? opts.rtcPort + index : 0,
          rtpPortRange: opts.rtpPortRange,
          logLevel: opts.logLevel,
          backoffInitialMs: opts.respawnBackoffInitialMs,
          backoffMaxMs: opts.respawnBackoffMaxMs,
          logger: opts.logger,
        }),
    );
    try {
      for (const slot of slots) await slot.start();
    } catch (err) {
      await Promise.all(slots.map((s) => s.close()));
      throw err;
    }
    opts.logger.info({ workers: n, rtcPort: opts.rtcPort, listenIp: opts.listenIp }, 'mediasoup workers ready');
    return new WorkerPool(slots, (slots[0] as WorkerSlot).router.rtpCapabilities);
  }

  get serving(): WorkerSlot[] {
    return this.workers.filter((w) => w.serving);
  }

  /** Serving slots in the order a stream placed n-th should try them: its own first, then by load. */
  placements(n: number): WorkerSlot[] {
    const own = this.workers[n % this.workers.length] as WorkerSlot;
    const load = (w: WorkerSlot) => w.consumers + w.transports;
    const others = this.serving.filter((w) => w !== own).sort((a, b) => load(a) - load(b));
    return own.serving ? [own, ...others] : others;
  }

  /** Transports count too: viewers that have a transport but no consumer yet are about to load it. */
  leastLoaded(): WorkerSlot {
    const load = (w: WorkerSlot) => w.consumers + w.transports;
    const up = this.serving;
    if (up.length === 0)
      throw new GatewayError('E_CAPACITY', 'no media worker is serving right now; try again shortly');
    return up.reduce((a, b) => (load(b) < load(a) ? b : a));
  }

  /** Resolves with a serving slot as soon as there is one. */
  whenServing(): Promise<WorkerSlot> {
    const up = this.serving[0];
    if (up) return Promise.resolve(up);
    return new Promise((resolve) => {
      const on = (slot: WorkerSlot, s: SlotState) => {
        if (s !== 'serving' && !this.#closed) return;
        this.off('slotState', on);
        resolve(slot);
      };
      this.on('slotState', on);
    });
  }

  /** The producer as seen on `target`'s router: itself on the origin, a pipe producer elsewhere. */
  producerOn(producer: types.Producer, origin: WorkerSlot, target: WorkerSlot): Promise<types.Producer> {
    if (origin === target) return Promise.resolve(producer);
    const key = `${producer.id}:${target.index}`;
    let p = this.#pipes.get(key);
    if (!p) {
      p = origin.router.pipeToRouter({ producerId: producer.id, router: target.router }).then(({ pipeProducer }) => {
        const pp = pipeProducer as types.Producer;
        pp.observer.once('close', () => this.#pipes.delete(key));
        return pp;
      });
      p.catch(() => this.#pipes.delete(key));
      this.#pipes.set(key, p);
    }
    return p;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.workers.map((w) => w.close()));
  }
}
