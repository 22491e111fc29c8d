// mediasoup workers, one router and one WebRtcServer each. A stream's Producer lives on its origin
// worker's router; a viewer's transport goes to the least-loaded worker, and a stream is piped there
// (router.pipeToRouter) the first time a viewer on that worker asks for it.
//
// One router per worker rather than one per stream: a viewer's single transport can then consume
// any stream (a wall of tiles), and viewers on the origin worker need no pipe at all.

import { EventEmitter } from 'node:events';
import os from 'node:os';
import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import type { Logger } from '../log.js';
import { PLAYOUT_DELAY, ROUTER_CODECS } from './codecs.js';

export interface WorkerPoolOptions {
  workers: number;
  listenIp: string;
  announcedAddress?: string;
  rtcPort: number;
  rtpPortRange: { min: number; max: number };
  logLevel: types.WorkerLogLevel;
  logger: Logger;
}

export interface MediaWorker {
  index: number;
  worker: types.Worker;
  router: types.Router;
  webRtcServer: types.WebRtcServer;
  consumers: number;
  transports: number;
}

export interface WorkerPoolEvents {
  workerDied: [MediaWorker, Error];
}

export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  readonly #pipes = new Map<string, Promise<types.Producer>>();
  #closed = false;

  private constructor(
    readonly workers: MediaWorker[],
    private readonly logger: Logger,
  ) {
    super();
  }

  static async create(opts: WorkerPoolOptions): Promise<WorkerPool> {
    const n = opts.workers > 0 ? opts.workers : os.availableParallelism();
    const workers: MediaWorker[] = [];
    for (let index = 0; index < n; index++) {
      const worker = await mediasoup.createWorker({
        logLevel: opts.logLevel,
        rtcMinPort: opts.rtpPortRange.min,
        rtcMaxPort: opts.rtpPortRange.max,
        appData: { index },
      });
      const router = await worker.createRouter({ mediaCodecs: ROUTER_CODECS });
      // mediasoup 3.12 does not list playout-delay; the router's capabilities object is the one its
      // transports read, so adding it here lets Producers and Consumers carry it.
      router.rtpCapabilities.headerExtensions?.push({ ...PLAYOUT_DELAY });
      const port = opts.rtcPort > 0 ? opts.rtcPort + index : 0;
      const listen = (protocol: 'udp' | 'tcp') => ({
        protocol,
        ip: opts.listenIp,
        ...(opts.announcedAddress ? { announcedIp: opts.announcedAddress } : {}),
        ...(port ? { port } : {}),
      });
      const webRtcServer = await worker.createWebRtcServer({ listenInfos: [listen('udp'), listen('tcp')] });
      workers.push({ index, worker, router, webRtcServer, consumers: 0, transports: 0 });
    }
    const pool = new WorkerPool(workers, opts.logger);
    for (const w of workers) {
      w.worker.on('died', (err) => {
        pool.logger.error({ worker: w.index, pid: w.worker.pid, err: err.message }, 'mediasoup worker died');
        pool.emit('workerDied', w, err);
      });
    }
    opts.logger.info({ workers: n, rtcPort: opts.rtcPort, listenIp: opts.listenIp }, 'mediasoup workers ready');
    return pool;
  }

  get rtpCapabilities(): types.RtpCapabilities {
    return (this.workers[0] as MediaWorker).router.rtpCapabilities;
  }

  /** Origin worker for the n-th stream: spread streams round-robin. */
  originFor(n: number): MediaWorker {
    return this.workers[n % this.workers.length] as MediaWorker;
  }

  /** Transports count too: viewers that have a transport but no consumer yet are about to load it. */
  leastLoaded(): MediaWorker {
    const load = (w: MediaWorker) => w.consumers + w.transports;
    return this.workers.reduce((a, b) => (load(b) < load(a) ? b : a));
  }

  trackTransport(w: MediaWorker, transport: types.Transport): void {
    w.transports++;
    transport.observer.once('close', () => {
      w.transports--;
    });
  }

  /** The producer as seen on `target`'s router: itself on the origin, a pipe producer elsewhere. */
  producerOn(producer: types.Producer, origin: MediaWorker, target: MediaWorker): Promise<types.Producer> {
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

  trackConsumer(w: MediaWorker, consumer: types.Consumer): void {
    w.consumers++;
    consumer.observer.once('close', () => {
      w.consumers--;
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.workers) w.worker.close();
  }
}
