// One node of a cluster of gateways coordinated through Redis (ioredis), after LiveKit's design: a
// node registry with heartbeats, and each camera pinned to one node by a lease with a fencing token.
// - A node heartbeats its id, internal address and load; three missed beats and it is gone.
// - A camera is ingested only by the holder of its lease (`SET NX PX`, renewed by a script that
//   checks the holder), so two nodes never both pull one camera beyond the lease's overlap. Each
//   grant takes a new fencing token (INCR): a late renewal of an older holder can never win.
// - Always-on cameras go to the live node that rendezvous hashing ranks first (spread, and stable
//   when a node joins or leaves); an on-demand camera to the first node a viewer asks.
// - Redis down: leases held stay in force in memory (the node keeps ingesting them), no new lease is
//   granted; when it returns, each held lease is written back (or lost, if another took it).
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from '../log.js';

export interface NodeInfo {
  id: string;
  /** http://address:port: where other nodes send requests (pipes) to this one. */
  url: string;
  /** Where browsers reach this node (server.publicUrl, else url): the failover list and allowed origins. */
  publicUrl: string;
  /** The address media pipes from other nodes reach (PipeTransports). */
  address: string;
  /** Viewers and owned cameras, for placement. */
  load: { viewers: number; cameras: number };
  startedAt: number;
}

export type ClusterState = 'connected' | 'degraded';

export interface ClusterOptions {
  redisUrl: string;
  node: Omit<NodeInfo, 'load'>;
  heartbeatMs: number;
  leaseMs: number;
  load: () => NodeInfo['load'];
  logger: Logger;
}

export interface ClusterEvents {
  state: [ClusterState];
  /** This node lost a camera's lease (another node holds it now): stop ingesting it. */
  leaseLost: [camera: string];
  /** The set of live nodes changed. */
  nodes: [NodeInfo[]];
}

const K = {
  node: (id: string) => `cctv:node:${id}`,
  nodes: 'cctv:nodes',
  /** Every node's public origin ever: a page of a node that died may still open /ws elsewhere. */
  origins: 'cctv:origins',
  lease: (camera: string) => `cctv:lease:${camera}`,
  fence: (camera: string) => `cctv:fence:${camera}`,
};

// Renews only the holder's own lease; reclaims it if it expired meanwhile (Redis was away) and nobody
// took it. 1: held, 0: someone else holds it.
const RENEW = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export class Cluster extends EventEmitter<ClusterEvents> {
  readonly redis: Redis;
  #state: ClusterState = 'degraded';
  /** When Redis was last reached again after an outage (ms): leases held before are written back first. */
  connectedAt = 0;
  #everConnected = false;
  #nodes = new Map<string, NodeInfo>();
  readonly #origins = new Set<string>();
  /** When each node was last listed (ms). */
  readonly #seen = new Map<string, number>();
  /** camera → "<node>:<fence>" this node holds. */
  readonly #held = new Map<string, string>();
  #beat: NodeJS.Timeout | undefined;
  #renew: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(private readonly opts: ClusterOptions) {
    super();
    // No offline queue: a command while Redis is away fails at once (the caller falls back).
    const common = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (n: number) => Math.min(200 * n, 1000),
    };
    const sentinel = sentinelsOf(opts.redisUrl);
    this.redis = sentinel ? new Redis({ ...common, ...sentinel }) : new Redis(opts.redisUrl, common);
    this.redis.on('error', () => {}); // said through the state, /readyz and metrics
    this.redis.on('ready', () => this.#setState('connected'));
    this.redis.on('close', () => this.#setState('degraded'));
  }

  get id(): string {
    return this.opts.node.id;
  }

  get state(): ClusterState {
    return this.#state;
  }

  /** Live nodes as of the last heartbeat round (this one included). */
  get nodes(): NodeInfo[] {
    return [...this.#nodes.values()];
  }

  /** The public origins of every node the cluster has had (pages of any may fail over to this one). */
  get origins(): ReadonlySet<string> {
    return this.#origins;
  }

  node(id: string): NodeInfo | undefined {
    return this.#nodes.get(id);
  }

  /** Cameras whose lease this node holds. */
  get owned(): string[] {
    return [...this.#held.keys()];
  }

  async start(): Promise<void> {
    await this.redis.connect().catch((err: Error) => {
      this.opts.logger.warn({ err: err.message }, 'cluster: Redis not reachable at start; serving alone until it is');
    });
    await this.#heartbeat();
    this.#beat = setInterval(() => void this.#heartbeat(), this.opts.heartbeatMs);
    this.#renew = setInterval(() => void this.#renewAll(), Math.max(200, this.opts.leaseMs / 3));
    this.#beat.unref();
    this.#renew.unref();
  }

  #setState(s: ClusterState): void {
    if (s === this.#state || this.#closed) return;
    this.#state = s;
    this.opts.logger[s === 'connected' ? 'info' : 'warn']({ state: s }, `cluster ${s}`);
    if (s === 'connected') {
      // Only a return counts (the first connection of a fresh node has no leases to write back).
      if (this.#everConnected) this.connectedAt = Date.now();
      this.#everConnected = true;
      void this.#renewAll();
    }
    this.emit('state', s);
  }

  async #heartbeat(): Promise<void> {
    if (this.#closed) return;
    const me: NodeInfo = { ...this.opts.node, load: this.opts.load() };
    try {
      await this.redis
        .multi()
        .set(K.node(me.id), JSON.stringify(me), 'PX', this.opts.heartbeatMs * 3)
        .sadd(K.nodes, me.id)
        .sadd(K.origins, new URL(me.publicUrl).origin)
        .exec();
      const [ids, origins] = await Promise.all([this.redis.smembers(K.nodes), this.redis.smembers(K.origins)]);
      for (const o of origins) this.#origins.add(o);
      const values = ids.length ? await this.redis.mget(ids.map(K.node)) : [];
      const next = new Map<string, NodeInfo>();
      const gone: string[] = [];
      const now = Date.now();
      ids.forEach((id, i) => {
        const v = values[i];
        if (v) next.set(id, JSON.parse(v) as NodeInfo);
        else gone.push(id);
      });
      for (const id of next.keys()) this.#seen.set(id, now);
      // A node missing from one listing (Redis came back empty and it has not beaten yet) is gone
      // only once it has missed three beats, as its own key would have expired.
      for (const [id, info] of this.#nodes) {
        if (next.has(id)) continue;
        // Counted from Redis's return too: nobody could beat while it was away.
        const seen = Math.max(this.#seen.get(id) ?? 0, this.connectedAt);
        if (now - seen < this.opts.heartbeatMs * 3) next.set(id, info);
        else this.#seen.delete(id);
      }
      if (gone.length) await this.redis.srem(K.nodes, ...gone);
      const key = (m: Map<string, NodeInfo>) =>
        [...m.values()]
          .map((n) => `${n.id}@${n.publicUrl}`)
          .sort()
          .join();
      const changed = key(next) !== key(this.#nodes);
      this.#nodes = next;
      if (changed) this.emit('nodes', this.nodes);
    } catch {
      // Redis away: the last known nodes stand (pipes already made keep flowing).
      if (!this.#nodes.has(me.id)) this.#nodes.set(me.id, me);
    }
  }

  /** Who holds a camera's lease now (a node id), or undefined; throws while Redis is away. */
  async owner(camera: string): Promise<string | undefined> {
    if (this.#held.has(camera)) return this.id;
    const v = await this.redis.get(K.lease(camera));
    return v ? v.slice(0, v.lastIndexOf(':')) : undefined;
  }

  /** The owners of many cameras at once (node ids; null: nobody). */
  async owners(cameras: string[]): Promise<Record<string, string | null>> {
    if (cameras.length === 0) return {};
    const values = await this.redis.mget(cameras.map(K.lease));
    return Object.fromEntries(
      cameras.map((c, i) => [c, values[i] ? (values[i] as string).replace(/:\d+$/, '') : null]),
    );
  }

  /** Takes the camera's lease if nobody holds it: true when this node holds it (now or already). */
  async claim(camera: string): Promise<boolean> {
    if (this.#held.has(camera)) return true;
    const fence = await this.redis.incr(K.fence(camera));
    const value = `${this.id}:${fence}`;
    const ok = await this.redis.set(K.lease(camera), value, 'PX', this.opts.leaseMs, 'NX');
    if (ok !== 'OK') return false;
    this.#held.set(camera, value);
    this.opts.logger.info({ camera, fence }, 'cluster: camera lease taken');
    return true;
  }

  /** Gives a camera up (drain, or nobody watches it here any more). */
  async release(camera: string): Promise<void> {
    const value = this.#held.get(camera);
    if (!value) return;
    this.#held.delete(camera);
    await this.redis.eval(RELEASE, 1, K.lease(camera), value).catch(() => {});
  }

  /** Whether this node ranks first among live nodes for an always-on camera (rendezvous hashing). */
  preferred(camera: string): boolean {
    const best = this.rank(camera);
    return best === undefined || best === this.id;
  }

  /** The live node (not `except`) that rendezvous hashing ranks first for a camera. */
  rank(camera: string, except?: string): string | undefined {
    let best: string | undefined;
    let bestScore = -1n;
    for (const id of this.#nodes.keys()) {
      if (id === except) continue;
      const score = crypto.createHash('sha256').update(`${camera}\n${id}`).digest().readBigUInt64BE(0);
      if (score > bestScore) {
        bestScore = score;
        best = id;
      }
    }
    return best;
  }

  async #renewAll(): Promise<void> {
    if (this.#closed || this.#state !== 'connected') return; // away: held leases stand in memory
    for (const [camera, value] of [...this.#held]) {
      let held: unknown;
      try {
        held = await this.redis.eval(RENEW, 1, K.lease(camera), value, String(this.opts.leaseMs));
      } catch {
        return; // Redis went away mid-round
      }
      if (held === 1 || this.#held.get(camera) !== value) continue;
      this.#held.delete(camera);
      this.opts.logger.warn({ camera }, 'cluster: camera lease lost to another node; stopping its ingest');
      this.emit('leaseLost', camera);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#beat);
    clearInterval(this.#renew);
    for (const camera of [...this.#held.keys()]) await this.release(camera);
    this.#closed = true;
    await this.redis
      .multi()
      .del(K.node(this.id))
      .srem(K.nodes, this.id)
      .exec()
      .catch(() => {});
    this.redis.disconnect();
  }
}

/**
 * `redis-sentinel://host:26379,host2:26379/mymaster` (optionally `user:password@` before the hosts):
 * ioredis asks the Sentinels which Redis is the master of `mymaster` and follows a failover.
 */
export function sentinelsOf(
  url: string,
): { sentinels: { host: string; port: number }[]; name: string; username?: string; password?: string } | undefined {
  const m = /^redis-sentinel:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/]+)\/([A-Za-z0-9._-]+)$/.exec(url);
  if (!m) return undefined;
  const sentinels = (m[3] as string).split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    return i > 0 ? { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) } : { host: hp, port: 26379 };
  });
  return {
    sentinels,
    name: m[4] as string,
    ...(m[1] ? { username: decodeURIComponent(m[1]) } : {}),
    ...(m[2] ? { password: decodeURIComponent(m[2]) } : {}),
  };
}
