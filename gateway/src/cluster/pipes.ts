// Media between nodes: a camera owned by another node reaches this one over one mediasoup
// PipeTransport pair per (camera variant, node), not per viewer, with RTX on both sides.
// - Edge (this node wants a camera it does not own): makes a PipeTransport on a local worker, asks the
//   owner (signed request) to pipe the variant to it, and produces what the owner consumes: viewers
//   here consume those Producers like any local ones.
// - Owner: for each edge, one PipeTransport consuming the variant's Producers; it holds the variant
//   like a viewer (so the ingest runs while any edge watches) until the edge closes it or leaves.
// A pipe that ends (owner gone, its worker died, lease moved) ends its Producers on the edge: the
// viewers' consumers close with 'stream_moved' and consume again, from the new owner.
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import { GatewayError } from '../../../signaling/src/errors.js';
import type { Logger } from '../log.js';
import type { WorkerSlot } from '../media/WorkerSlot.js';
import { ProducerSet } from '../streams/ProducerSet.js';
import type { StreamVariant } from '../streams/StreamVariant.js';
import { callNode } from './nodeChannel.js';

export interface PipeRequest {
  stream: string;
  variant: 'main' | 'sub';
  /** The edge node asking, and where its PipeTransport listens. */
  node: string;
  ip: string;
  port: number;
}

export interface PipeAnswer {
  pipeId: string;
  ip: string;
  port: number;
  producers: { id: string; kind: types.MediaKind; rtpParameters: types.RtpParameters; paused: boolean }[];
}

interface OwnerPipe {
  edge: string;
  variant: StreamVariant;
  transport: types.PipeTransport;
}

/** The owner's side: pipes to edges, by id. */
export class PipeServer {
  readonly observer = new EventEmitter<{ opened: [stream: string]; closed: [stream: string, reason: string] }>();
  readonly #pipes = new Map<string, OwnerPipe>();

  constructor(
    private readonly address: string,
    private readonly variant: (stream: string, variant: 'main' | 'sub') => StreamVariant,
    private readonly logger: Logger,
    /** A pipe closed here, not at the edge's asking: tell the edge (its Producers end). */
    private readonly notifyEdge: (edge: string, pipeId: string) => void,
    /** A piped Producer paused or resumed here: the edge's copy follows. */
    private readonly notifyPause: (
      edge: string,
      pipeId: string,
      producerId: string,
      paused: boolean,
    ) => void = () => {},
  ) {}

  get count(): number {
    return this.#pipes.size;
  }

  /** An edge asked: hold the variant, consume its Producers into a PipeTransport pointed at the edge. */
  async open(req: PipeRequest): Promise<PipeAnswer> {
    const sv = this.variant(req.stream, req.variant);
    const set = await sv.acquireHere();
    let transport: types.PipeTransport | undefined;
    try {
      transport = await set.slot.router.createPipeTransport({ listenIp: { ip: this.address }, enableRtx: true });
      await transport.connect({ ip: req.ip, port: req.port });
      const producers: PipeAnswer['producers'] = [];
      const pipeId = crypto.randomBytes(12).toString('base64url');
      for (const p of set.producers) {
        const c = await transport.consume({ producerId: p.id });
        producers.push({ id: p.id, kind: c.kind, rtpParameters: c.rtpParameters, paused: c.producerPaused });
        c.on('producerpause', () => this.notifyPause(req.node, pipeId, p.id, true));
        c.on('producerresume', () => this.notifyPause(req.node, pipeId, p.id, false));
      }
      const t = transport;
      this.#pipes.set(pipeId, { edge: req.node, variant: sv, transport: t });
      // The variant's Producers went (re-homed, or its ingest moved away): this pipe is over.
      for (const p of set.producers) p.observer.once('close', () => this.close(pipeId, 'producer_closed'));
      t.observer.once('close', () => this.close(pipeId, 'transport_closed'));
      this.observer.emit('opened', req.stream);
      this.logger.info({ stream: sv.id, edge: req.node, pipeId }, 'cluster: pipe opened to a node');
      return { pipeId, ip: t.tuple.localIp, port: t.tuple.localPort, producers };
    } catch (err) {
      transport?.close();
      sv.release();
      throw err;
    }
  }

  close(pipeId: string, reason: string): boolean {
    const p = this.#pipes.get(pipeId);
    if (!p) return false;
    this.#pipes.delete(pipeId);
    p.transport.close();
    p.variant.release();
    if (reason !== 'edge_closed' && reason !== 'node_gone') this.notifyEdge(p.edge, pipeId);
    this.observer.emit('closed', p.variant.opts.streamId, reason);
    this.logger.info({ stream: p.variant.id, edge: p.edge, pipeId, reason }, 'cluster: pipe closed');
    return true;
  }

  /** Nodes left the cluster: their pipes go. */
  closeEdgesNotIn(live: ReadonlySet<string>): void {
    for (const [id, p] of [...this.#pipes]) if (!live.has(p.edge)) this.close(id, 'node_gone');
  }

  /** Pipes of a camera (its lease went elsewhere). */
  closeStream(stream: string, reason: string): void {
    for (const [id, p] of [...this.#pipes]) if (p.variant.opts.streamId === stream) this.close(id, reason);
  }

  closeAll(): void {
    for (const id of [...this.#pipes.keys()]) this.close(id, 'shutdown');
  }
}

/** The edge's side: a variant's Producers on `slot`, piped from the owner node at `ownerUrl`. */
export async function pipeFrom(opts: {
  secret: string;
  ownerUrl: string;
  node: string;
  address: string;
  slot: WorkerSlot;
  stream: string;
  variant: 'main' | 'sub';
}): Promise<{ set: ProducerSet; pipeId: string }> {
  const transport = await opts.slot.router.createPipeTransport({ listenIp: { ip: opts.address }, enableRtx: true });
  let answer: PipeAnswer | undefined;
  try {
    answer = await callNode<PipeAnswer>(opts.secret, opts.ownerUrl, 'POST', '/cluster/pipes', {
      stream: opts.stream,
      variant: opts.variant,
      node: opts.node,
      ip: opts.address,
      port: transport.tuple.localPort,
    } satisfies PipeRequest);
    await transport.connect({ ip: answer.ip, port: answer.port });
    const producers: types.Producer[] = [];
    for (const p of answer.producers) {
      producers.push(
        await transport.produce({
          id: p.id,
          kind: p.kind,
          rtpParameters: p.rtpParameters,
          paused: p.paused,
          appData: { stream: opts.stream, variant: opts.variant, piped: true },
        }),
      );
    }
    if (producers.length === 0) throw new GatewayError('E_STREAM_OFFLINE', `${opts.stream} has no media on its owner`);
    const pipeId = answer.pipeId;
    const closeRemote = {
      close: () => void callNode(opts.secret, opts.ownerUrl, 'DELETE', `/cluster/pipes/${pipeId}`).catch(() => {}),
    };
    return { set: ProducerSet.adopt(opts.slot, producers, [transport, closeRemote]), pipeId };
  } catch (err) {
    transport.close();
    if (answer) void callNode(opts.secret, opts.ownerUrl, 'DELETE', `/cluster/pipes/${answer.pipeId}`).catch(() => {});
    throw err;
  }
}
