// This gateway as a node of a cluster: which camera it ingests (the lease), pipes to and from other
// nodes, always-on cameras spread over the nodes, and what happens when a node or Redis goes away.
// Chosen once at wiring (Gateway.ts): without `cluster` in the config nothing here runs.
import { Type as T } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../../signaling/src/errors.js';
import type { AuditLog, AuditQuery } from '../audit/AuditLog.js';
import { recordTime } from '../audit/records.js';
import { PLI_MIN_INTERVAL_MS } from '../ingest/rtsp/RtspPacketSource.js';
import type { Logger } from '../log.js';
import type { WorkerPool } from '../media/WorkerPool.js';
import type { Snapshot, SnapshotService } from '../snapshots/SnapshotService.js';
import type { ProducerSet } from '../streams/ProducerSet.js';
import type { StreamRegistry } from '../streams/StreamRegistry.js';
import type { StreamVariant, VariantCluster } from '../streams/StreamVariant.js';
import { Cluster, type NodeInfo } from './Cluster.js';
import { callNode, refusal, SIGNATURE_HEADER, sign } from './nodeChannel.js';
import { type PipeRequest, PipeServer, pipeFrom } from './pipes.js';

export interface ClusterNodeOptions {
  redisUrl: string;
  secret: string;
  node: { id: string; url: string; publicUrl: string; address: string };
  heartbeatMs: number;
  leaseMs: number;
  pool: WorkerPool;
  /** The registry (made after this node: its variants ask the node where to ingest). */
  streams: () => StreamRegistry;
  viewers: () => number;
  /** Snapshots of cameras this node ingests, for the other nodes (made after this node). */
  snapshots: () => SnapshotService;
  audit: AuditLog;
  logger: Logger;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * A drain switches viewers this long before the new owner's next keyframe is due: time for the edges
 * to hear, consume again and resume (~50 ms on an idle machine, a few times that under load).
 */
const SWITCH_LEAD_MS = 350;
/** Longer GOPs are not waited for: a drain should not hold a node for more than this per camera. */
const MAX_ALIGNED_GOP_MS = 8000;

export class ClusterNode implements VariantCluster {
  readonly cluster: Cluster;
  readonly pipes: PipeServer;
  /** Pipes into this node: pipeId → the set and the node it comes from. */
  readonly #incoming = new Map<string, { set: ProducerSet; owner: string; variant: StreamVariant }>();
  /** Adoption rounds an always-on camera was seen without an owner. */
  readonly #orphaned = new Map<string, number>();
  readonly #logger: Logger;
  #adopter: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ClusterNodeOptions) {
    this.#logger = opts.logger.child({ component: 'cluster', node: opts.node.id });
    this.cluster = new Cluster({
      redisUrl: opts.redisUrl,
      node: { ...opts.node, startedAt: Date.now() },
      heartbeatMs: opts.heartbeatMs,
      leaseMs: opts.leaseMs,
      load: () => ({ viewers: opts.viewers(), cameras: this.cluster.owned.length }),
      logger: this.#logger,
    });
    this.pipes = new PipeServer(
      opts.node.address,
      (stream, variant) => opts.streams().get(stream, variant),
      this.#logger,
      (edge, pipeId) => this.#notifyEdge(edge, pipeId),
      (edge, pipeId, producerId, paused) => {
        const node = this.cluster.node(edge);
        if (node)
          void callNode(this.opts.secret, node.url, 'POST', `/cluster/pipes/${pipeId}/pause`, {
            producerId,
            paused,
          }).catch(() => {});
      },
    );
    this.cluster.on('leaseLost', (camera) => void this.#handOver(camera, 'lease_lost'));
    this.cluster.on('nodes', (nodes) => this.#nodesChanged(nodes));
  }

  /** The other live nodes' /ws URLs (a viewer's failover list). */
  others(): { ws: string }[] {
    return this.cluster.nodes
      .filter((n) => n.id !== this.cluster.id)
      .map((n) => {
        const ws = new URL('/ws', n.publicUrl);
        ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
        return { ws: ws.href };
      });
  }

  /** For the REST API (ClusterView): owners, nodes, the merged audit trail. */
  async owners(ids: string[]): Promise<Record<string, string | null>> {
    if (this.cluster.state !== 'connected') return {};
    return this.cluster.owners(ids).catch(() => ({}));
  }

  summary() {
    return {
      node: this.cluster.id,
      state: this.cluster.state,
      nodes: this.cluster.nodes.map(({ id, url, load, startedAt }) => ({ id, url, load, startedAt })),
    };
  }

  /** Asks every live node for its page of the trail (this one locally) and merges them newest first. */
  async audit(q: AuditQuery): Promise<{ total: number; records: unknown[]; nodes: { id: string; ok: boolean }[] }> {
    const page = { ...q, offset: 0, limit: Math.min(1000, q.offset + q.limit) };
    const query = new URLSearchParams(
      Object.entries(page)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, String(v)]),
    ).toString();
    const answers = await Promise.all(
      this.cluster.nodes.map(async (n) => {
        try {
          const r =
            n.id === this.cluster.id
              ? await this.opts.audit.query(page)
              : await callNode<{ total: number; records: Record<string, unknown>[] }>(
                  this.opts.secret,
                  n.url,
                  'GET',
                  `/cluster/audit?${query}`,
                );
          return { id: n.id, ok: true, ...r };
        } catch {
          return { id: n.id, ok: false, total: 0, records: [] as Record<string, unknown>[] };
        }
      }),
    );
    // A view by its start, any other record by its time (records.ts).
    const records = answers
      .flatMap((a) => a.records.map((r) => ({ ...r, node: a.id })))
      .sort((a, b) => recordTime(b).localeCompare(recordTime(a)))
      .slice(q.offset, q.offset + q.limit);
    return {
      total: answers.reduce((n, a) => n + a.total, 0),
      records,
      nodes: answers.map(({ id, ok }) => ({ id, ok })),
    };
  }

  get incomingPipes(): number {
    return this.#incoming.size;
  }

  async start(): Promise<void> {
    await this.cluster.start();
    await this.#adopt();
    this.#adopter = setInterval(() => void this.#adopt(), Math.max(250, this.opts.leaseMs / 2));
    this.#adopter.unref();
  }

  /** The node that ingests a camera now; waits out the lease of an owner that has left. */
  async ingestsHere(camera: string): Promise<boolean> {
    const { cluster } = this;
    if (cluster.owned.includes(camera)) return true;
    if (cluster.state !== 'connected') return false; // no new lease while Redis is away
    const until = Date.now() + this.opts.leaseMs + 2000;
    for (;;) {
      const owner = await cluster.owner(camera);
      if (owner === cluster.id) return true;
      if (owner === undefined) {
        // Redis just came back (maybe empty): the owner is writing its lease back; do not take it first.
        if (Date.now() - cluster.connectedAt < this.opts.leaseMs && Date.now() < until) {
          await sleep(200);
          continue;
        }
        if (await cluster.claim(camera)) return true;
        continue; // another node took it just now
      }
      if (cluster.node(owner)) return false;
      // Its owner stopped heartbeating: its lease runs out within leaseMs.
      if (Date.now() > until) return false;
      await sleep(200);
    }
  }

  /**
   * A snapshot of `v` from the node that ingests its camera, or undefined when that is this node
   * (which then takes the lease if it is free, as for a viewer): the picture is where the GOP is.
   */
  async snapshotElsewhere(v: StreamVariant, width: number | undefined): Promise<Snapshot | undefined> {
    const id = v.opts.streamId;
    if (await this.ingestsHere(id)) return undefined;
    const ownerId = await this.cluster.owner(id);
    const owner = ownerId ? this.cluster.node(ownerId) : undefined;
    if (!owner) throw new GatewayError('E_STREAM_OFFLINE', `no node ingests ${id} now`);
    const path = `/cluster/snapshot/${encodeURIComponent(id)}/${v.opts.variant}${width ? `?width=${width}` : ''}`;
    const res = await fetch(new URL(path, owner.url), {
      headers: { [SIGNATURE_HEADER]: sign(this.opts.secret, 'GET', path, '') },
      signal: AbortSignal.timeout(10_000),
    }).catch((err: Error) => {
      throw new GatewayError('E_UNAVAILABLE', `node ${owner.id} did not answer for the snapshot: ${err.message}`);
    });
    if (!res.ok) {
      const e = ((await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } }).error;
      throw new GatewayError(
        (e?.code as GatewayError['code'] | undefined) ?? 'E_UNAVAILABLE',
        `node ${owner.id}: ${e?.message ?? `HTTP ${res.status}`}`,
      );
    }
    const age = Number(res.headers.get('x-frame-age-ms') ?? 0);
    return { jpeg: Buffer.from(await res.arrayBuffer()), frameAt: Date.now() - age, width };
  }

  async pipe(v: StreamVariant): Promise<ProducerSet> {
    const { cluster } = this;
    if (cluster.state !== 'connected')
      throw new GatewayError('E_UNAVAILABLE', 'the cluster cannot reach Redis: no new pipe from another node now');
    const ownerId = await cluster.owner(v.opts.streamId);
    const owner = ownerId ? cluster.node(ownerId) : undefined;
    if (!owner) throw new GatewayError('E_STREAM_OFFLINE', `no node ingests ${v.opts.streamId} now`);
    const { pool } = this.opts;
    if (pool.serving.length === 0) await pool.whenServing();
    const { set, pipeId } = await pipeFrom({
      secret: this.opts.secret,
      ownerUrl: owner.url,
      node: cluster.id,
      address: this.opts.node.address,
      slot: pool.leastLoaded(),
      stream: v.opts.streamId,
      variant: v.opts.variant,
    });
    this.#incoming.set(pipeId, { set, owner: owner.id, variant: v });
    const forget = () => this.#incoming.delete(pipeId);
    for (const p of set.producers) p.observer.once('close', forget);
    this.#logger.info({ stream: v.id, from: owner.id, pipeId }, 'cluster: piped from its owner');
    return set;
  }

  /** Node routes: open and close pipes, told a pipe ended. Every one needs the cluster secret. */
  register(app: FastifyInstance): void {
    const secret = this.opts.secret;
    // Before the body is validated: a request without the secret learns nothing, not even its shape.
    app.addHook('preValidation', async (req) => {
      if (!req.url.startsWith('/cluster/')) return;
      const path = req.url; // with its query: a signed audit query cannot be changed on the way
      const body = req.body === undefined ? '' : JSON.stringify(req.body);
      const why = refusal(secret, req.headers[SIGNATURE_HEADER] as string | undefined, req.method, path, body);
      if (why) {
        this.#logger.warn({ peer: req.ip, path, why }, 'cluster: node request refused');
        throw new GatewayError('E_UNAUTHENTICATED', `node request refused: ${why}`, 'node_signature');
      }
    });
    const PipeBody = T.Object(
      {
        stream: T.String({ maxLength: 128 }),
        variant: T.Union([T.Literal('main'), T.Literal('sub')]),
        node: T.String({ maxLength: 64 }),
        ip: T.String({ maxLength: 64 }),
        port: T.Integer({ minimum: 1, maximum: 65535 }),
      },
      { additionalProperties: false },
    );
    /** A camera's variant, as the routes below name it. */
    const VariantParams = T.Object({
      id: T.String({ maxLength: 128 }),
      variant: T.Union([T.Literal('main'), T.Literal('sub')]),
    });
    app.post('/cluster/pipes', { schema: { body: PipeBody } }, async (req) => this.pipes.open(req.body as PipeRequest));
    app.delete('/cluster/pipes/:id', async (req, reply) => {
      this.pipes.close((req.params as { id: string }).id, 'edge_closed');
      reply.status(204).send();
    });
    // Another node's viewer wants a snapshot of a camera this node ingests (the asking node audits it).
    app.get(
      '/cluster/snapshot/:id/:variant',
      {
        schema: {
          params: VariantParams,
          querystring: T.Object(
            { width: T.Optional(T.Integer({ minimum: 16, maximum: 3840 })) },
            { additionalProperties: false },
          ),
        },
      },
      async (req, reply) => {
        const { id, variant } = req.params as { id: string; variant: 'main' | 'sub' };
        const { width } = req.query as { width?: number };
        const snap = await this.opts.snapshots().take(this.opts.streams().get(id, variant), width, true);
        reply
          .header('content-type', 'image/jpeg')
          .header('x-frame-age-ms', String(Math.max(0, Date.now() - snap.frameAt)));
        return reply.send(snap.jpeg);
      },
    );
    // A draining owner times its hand-over by this node's ingest of the camera: when its next keyframe is due.
    app.get(
      '/cluster/keyframe/:id/:variant',
      {
        schema: {
          params: VariantParams,
          querystring: T.Object(
            { gopMs: T.Optional(T.Integer({ minimum: 0, maximum: 60_000 })) },
            { additionalProperties: false },
          ),
        },
      },
      async (req) => {
        const { id, variant } = req.params as { id: string; variant: 'main' | 'sub' };
        const { gopMs } = req.query as { gopMs?: number };
        return { next: this.opts.streams().get(id, variant).keyframes?.nextKeyframe(gopMs) ?? null };
      },
    );
    // Another node asks for this node's page of the audit trail (GET /api/audit merges them).
    app.get('/cluster/audit', async (req) => this.opts.audit.query(req.query as AuditQuery));
    // Drain: the owner hands a camera over; take its lease and start its ingest before the owner stops.
    app.post(
      '/cluster/adopt',
      {
        schema: {
          body: T.Object(
            { camera: T.String({ maxLength: 128 }), variants: T.Array(T.Union([T.Literal('main'), T.Literal('sub')])) },
            { additionalProperties: false },
          ),
        },
      },
      async (req) => {
        const { camera, variants } = req.body as { camera: string; variants: ('main' | 'sub')[] };
        if (!(await this.cluster.claim(camera))) return { adopted: false };
        await Promise.all(
          variants.map(async (name) => {
            const v = this.opts.streams().get(camera, name);
            // Held for a moment: the idle timer (or alwaysOn) keeps the ingest for the viewers coming.
            await v.acquireHere();
            v.release();
          }),
        );
        this.#logger.info({ camera, variants }, 'cluster: camera adopted from a draining node');
        return { adopted: true };
      },
    );
    // A piped Producer paused or resumed on the owner: its copy here follows (its viewers with it).
    app.post(
      '/cluster/pipes/:id/pause',
      {
        schema: {
          body: T.Object(
            { producerId: T.String({ maxLength: 64 }), paused: T.Boolean() },
            { additionalProperties: false },
          ),
        },
      },
      async (req, reply) => {
        const { producerId, paused } = req.body as { producerId: string; paused: boolean };
        const pr = this.#incoming
          .get((req.params as { id: string }).id)
          ?.set.producers.find((x) => x.id === producerId);
        if (pr) await (paused ? pr.pause() : pr.resume());
        reply.status(204).send();
      },
    );
    // The owner's side of a pipe ended (its ingest moved, or its worker died): the Producers here go.
    app.post('/cluster/pipes/:id/ended', async (req, reply) => {
      const p = this.#incoming.get((req.params as { id: string }).id);
      p?.set.close();
      for (const pr of p?.set.producers ?? []) pr.close();
      reply.status(204).send();
    });
  }

  /** A pipe to an edge closed on this side (not at the edge's asking): the edge hears it. */
  #notifyEdge(edge: string, pipeId: string): void {
    const node = this.cluster.node(edge);
    if (node) void callNode(this.opts.secret, node.url, 'POST', `/cluster/pipes/${pipeId}/ended`).catch(() => {});
  }

  #nodesChanged(nodes: NodeInfo[]): void {
    const live = new Set(nodes.map((n) => n.id));
    for (const [pipeId, p] of [...this.#incoming]) {
      if (live.has(p.owner)) continue;
      // The camera's owner is gone: its Producers here end, the viewers consume again (a new owner).
      this.#logger.warn({ stream: p.variant.id, owner: p.owner }, 'cluster: owner node gone; its pipe ends');
      this.#incoming.delete(pipeId);
      for (const pr of p.set.producers) pr.close();
    }
    this.pipes.closeEdgesNotIn(live);
  }

  async #drain(camera: string): Promise<void> {
    const t0 = Date.now();
    const variants = this.opts
      .streams()
      .variants()
      .filter((v) => v.opts.streamId === camera && (v.viewers > 0 || v.opts.alwaysOn))
      .map((v) => v.opts.variant);
    await this.cluster.release(camera);
    const target = this.cluster.node(this.cluster.rank(camera, this.cluster.id) ?? '');
    let to: string | undefined;
    let aligned = 0;
    if (target && variants.length) {
      try {
        const r = await callNode<{ adopted: boolean }>(
          this.opts.secret,
          target.url,
          'POST',
          '/cluster/adopt',
          { camera, variants },
          10_000,
        );
        if (r.adopted) {
          to = target.id;
          // The new owner asked its camera for a keyframe when it started; the viewers' requests that
          // follow the switch would wait out the spacing between requests (cameras are not hammered).
          // This node keeps sending meanwhile, so the switch then costs one keyframe round trip.
          await sleep(PLI_MIN_INTERVAL_MS + 100);
          // A camera that ignores keyframe requests sends one only every GOP: switch just before the
          // new owner's next one is due, so the viewers wait for it about SWITCH_LEAD_MS, not a GOP.
          aligned = await this.#untilKeyframe(target.url, camera, variants);
          await sleep(aligned);
        }
      } catch (err) {
        this.#logger.warn({ camera, target: target.id, err: (err as Error).message }, 'cluster: hand-over refused');
      }
    }
    await this.#handOver(camera, 'drain');
    this.#logger.info(
      { camera, to: to ?? null, ms: Date.now() - t0, keyframeWaitMs: aligned },
      'cluster: camera handed over',
    );
  }

  /** How long to wait so the switch lands SWITCH_LEAD_MS before the new owner's next keyframe (0: unknown). */
  async #untilKeyframe(url: string, camera: string, variants: ('main' | 'sub')[]): Promise<number> {
    const variant = variants.includes('main') ? 'main' : variants[0];
    if (!variant) return 0;
    // This node's ingest has seen the camera's GOP for long; the new one may have seen one keyframe.
    const gop = this.opts.streams().get(camera, variant).keyframes?.gopMs ?? 0;
    const path = `/cluster/keyframe/${encodeURIComponent(camera)}/${variant}?gopMs=${gop}`;
    const r = await callNode<{ next: { inMs: number; gopMs: number } | null }>(
      this.opts.secret,
      url,
      'GET',
      path,
      undefined,
      2000,
    ).catch(() => undefined);
    const next = r?.next;
    if (!next || next.gopMs > MAX_ALIGNED_GOP_MS) return 0;
    const wait = next.inMs - SWITCH_LEAD_MS;
    return wait >= 0 ? wait : wait + next.gopMs;
  }

  async #handOver(camera: string, why: string): Promise<void> {
    this.pipes.closeStream(camera, why);
    for (const v of this.opts.streams().variants()) if (v.opts.streamId === camera) await v.handOver(why);
  }

  /** Always-on cameras: the preferred live node takes each free one; any node after two free rounds. */
  async #adopt(): Promise<void> {
    const { cluster } = this;
    if (cluster.state !== 'connected') return;
    // Redis just came back (maybe empty): owners write their leases back first; nobody adopts before.
    if (Date.now() - cluster.connectedAt < this.opts.leaseMs) return;
    for (const v of this.opts.streams().variants()) {
      if (!v.opts.alwaysOn) continue;
      const camera = v.opts.streamId;
      if (cluster.owned.includes(camera)) continue;
      try {
        const owner = await cluster.owner(camera);
        if (owner) {
          this.#orphaned.delete(camera);
          continue;
        }
        const rounds = (this.#orphaned.get(camera) ?? 0) + 1;
        this.#orphaned.set(camera, rounds);
        if (!cluster.preferred(camera) && rounds < 3) continue;
        if (await cluster.claim(camera)) {
          this.#orphaned.delete(camera);
          v.startAlwaysOn();
        }
      } catch {
        return; // Redis went away mid-round
      }
    }
  }

  /**
   * Drain (SIGTERM): each camera goes to another node, which starts its ingest while this one still
   * sends; only then do the pipes here end (their edges consume again, from the new owner) and this
   * ingest stops. Then the node leaves the registry.
   */
  async close(): Promise<void> {
    clearInterval(this.#adopter);
    await Promise.all(this.cluster.owned.map((camera) => this.#drain(camera)));
    this.pipes.closeAll();
    for (const p of this.#incoming.values()) p.set.close();
    await this.cluster.close();
  }
}
