// One place in the worker pool: a mediasoup worker with its router and WebRtcServer, replaced by a
// new one in the same slot when it dies (same index, same WebRtcServer port, same router codecs, so
// the capabilities clients loaded stay valid). The Supervisor owns the pause between deaths, so a
// crash-looping worker backs off instead of spinning. The slot counts the viewer transports and
// consumers placed on it; while it is not serving, nothing new is placed there.
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { type Run, type RunEnd, Supervisor, type SupervisorState } from '../core/Supervisor.js';
import type { Logger } from '../log.js';
import { PLAYOUT_DELAY, ROUTER_CODECS } from './codecs.js';

export type SlotState = 'starting' | 'serving' | 'backoff' | 'closed';
/** Why a worker ended: the signal that killed it, `exit_<code>`, `start_failed`, or `closed`. */
export type WorkerEndReason = string;

export interface WorkerSlotOptions {
  index: number;
  listenIp: string;
  announcedAddress?: string | undefined;
  /** 0: any free port. */
  rtcPort: number;
  rtpPortRange: { min: number; max: number };
  logLevel: types.WorkerLogLevel;
  backoffInitialMs: number;
  backoffMaxMs: number;
  logger: Logger;
}

export interface WorkerSlotEvents {
  state: [SlotState];
  /** The slot's worker died (not closed by us); `restartInMs` until its replacement starts. */
  died: [{ reason: WorkerEndReason; message: string; restartInMs: number }];
}

interface Live {
  worker: types.Worker;
  router: types.Router;
  webRtcServer: types.WebRtcServer;
}

/** A worker that ran this long counts as healthy: the next death restarts it quickly again. */
const HEALTHY_AFTER_MS = 30_000;

export class WorkerSlot extends EventEmitter<WorkerSlotEvents> {
  consumers = 0;
  transports = 0;
  #live: Live | undefined;
  #last: Live | undefined;
  #state: SlotState = 'starting';
  readonly #supervisor: Supervisor<WorkerEndReason>;
  readonly #log: Logger;

  constructor(private readonly opts: WorkerSlotOptions) {
    super();
    this.setMaxListeners(0);
    this.#log = opts.logger.child({ worker: opts.index });
    this.#supervisor = new Supervisor<WorkerEndReason>({
      run: () => this.#spawn(),
      startFailure: (err) => ({ reason: 'start_failed', message: err.message }),
      backoffInitialMs: opts.backoffInitialMs,
      backoffMaxMs: opts.backoffMaxMs,
      healthyAfterMs: HEALTHY_AFTER_MS,
    });
    this.#supervisor.on('state', (s: SupervisorState) => {
      if (s === 'starting' || s === 'backoff') this.#setState(s);
    });
    this.#supervisor.on('failed', ({ reason, message, delayMs, restarts }) => {
      this.#log.error({ reason, err: message, restartInMs: delayMs, restarts }, 'mediasoup worker died; replacing it');
      this.emit('died', { reason, message, restartInMs: delayMs });
    });
  }

  get index(): number {
    return this.opts.index;
  }
  get state(): SlotState {
    return this.#state;
  }
  get serving(): boolean {
    return this.#state === 'serving' && !!this.#live && !this.#live.worker.closed;
  }
  get restarts(): number {
    return this.#supervisor.restarts;
  }
  get pid(): number | undefined {
    return this.#live?.worker.pid;
  }
  /** The current worker (the last one while down, closed then). */
  get worker(): types.Worker {
    return this.#current().worker;
  }
  get router(): types.Router {
    return this.#current().router;
  }
  get webRtcServer(): types.WebRtcServer {
    return this.#current().webRtcServer;
  }

  #current(): Live {
    const l = this.#live ?? this.#last;
    if (!l) throw new Error(`worker slot ${this.opts.index} has not started yet`);
    return l;
  }

  /** Starts the first worker; resolves when it serves, rejects when it cannot start. */
  async start(): Promise<void> {
    const first = new Promise<void>((resolve, reject) => {
      const onState = (s: SlotState) => {
        if (s !== 'serving') return;
        this.off('died', onDied);
        this.off('state', onState);
        resolve();
      };
      const onDied = ({ message }: { message: string }) => {
        this.off('died', onDied);
        this.off('state', onState);
        reject(new Error(`mediasoup worker ${this.opts.index} could not start: ${message}`));
      };
      this.on('state', onState);
      this.on('died', onDied);
    });
    this.#supervisor.start();
    await first;
  }

  async #spawn(): Promise<Run<WorkerEndReason>> {
    const { opts } = this;
    const worker = await mediasoup.createWorker({
      logLevel: opts.logLevel,
      rtcMinPort: opts.rtpPortRange.min,
      rtcMaxPort: opts.rtpPortRange.max,
      appData: { index: opts.index },
    });
    let diedWith: Error | undefined;
    worker.once('died', (err) => {
      diedWith = err;
    });
    try {
      const router = await worker.createRouter({ mediaCodecs: ROUTER_CODECS });
      // mediasoup 3.12 does not list playout-delay; the router's capabilities object is the one its
      // transports read, so adding it here lets Producers and Consumers carry it.
      router.rtpCapabilities.headerExtensions?.push({ ...PLAYOUT_DELAY });
      const listen = (protocol: 'udp' | 'tcp') => ({
        protocol,
        ip: opts.listenIp,
        ...(opts.announcedAddress ? { announcedIp: opts.announcedAddress } : {}),
        ...(opts.rtcPort ? { port: opts.rtcPort } : {}),
      });
      const webRtcServer = await worker.createWebRtcServer({ listenInfos: [listen('udp'), listen('tcp')] });
      const ended = new Promise<RunEnd<WorkerEndReason>>((resolve) => {
        worker.observer.once('close', () => resolve(workerEnd(diedWith)));
      });
      this.#live = { worker, router, webRtcServer };
      this.#last = this.#live;
      ended.then(() => {
        if (this.#live?.worker === worker) this.#live = undefined;
      });
      this.#setState('serving');
      this.#log.info({ pid: worker.pid, port: opts.rtcPort || 'any' }, 'mediasoup worker serving');
      return { ended, stop: () => worker.close() };
    } catch (err) {
      worker.close();
      throw err;
    }
  }

  #setState(s: SlotState): void {
    if (s === this.#state || this.#state === 'closed') return;
    this.#state = s;
    this.emit('state', s);
  }

  /** Counts a viewer transport until it closes. */
  trackTransport(transport: types.Transport): void {
    this.transports++;
    transport.observer.once('close', () => {
      this.transports--;
    });
  }

  trackConsumer(consumer: types.Consumer): void {
    this.consumers++;
    consumer.observer.once('close', () => {
      this.consumers--;
    });
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#setState('closed');
    await this.#supervisor.stop('closed');
  }
}

function workerEnd(died: Error | undefined): RunEnd<WorkerEndReason> {
  if (!died) return { reason: 'closed', message: 'closed' };
  // mediasoup says "[pid:N, code:C, signal:S]".
  const signal = /signal:(\w+)/.exec(died.message)?.[1];
  const code = /code:(\d+)/.exec(died.message)?.[1];
  const reason = signal && signal !== 'null' ? signal : code ? `exit_${code}` : 'died';
  return { reason, message: died.message, code: code ? Number(code) : null, signal: signal ?? null };
}
