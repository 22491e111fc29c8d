// Protocol-agnostic viewing: one Viewer per connection (WebSocket today; WHEP can be another front
// door). What a viewer may do, where its transports go, admission, and the audit record of each view
// live here; the signaling server only speaks the protocol (signaling/src/port.ts).
import { EventEmitter } from 'node:events';
import type { Notify, Peer, ViewingPort } from '../../../signaling/src/port.js';
import type { ClaimsVerifier } from '../auth/tokens.js';
import type { Logger } from '../log.js';
import type { WorkerPool } from '../media/WorkerPool.js';
import type { StreamRegistry } from '../streams/StreamRegistry.js';
import type { Capacity } from './Capacity.js';
import type { TurnSettings } from './turn.js';
import { type ViewAudit, Viewer, type ViewingObserverEvents } from './Viewer.js';

export type { ViewingObserverEvents };

export interface ViewingDeps {
  pool: WorkerPool;
  streams: StreamRegistry;
  verifier: ClaimsVerifier;
  capacity: Capacity;
  logger: Logger;
  limits: { maxTransports: number; maxConsumers: number };
  turn?: TurnSettings | undefined;
  /** In a cluster: the other live nodes' /ws URLs, told to each viewer for failover. */
  nodes?: (() => string[]) | undefined;
  /** The audit trail's side of a view's start (Viewer.ts ViewAudit). */
  audit?: ViewAudit | undefined;
}

export class ViewingService implements ViewingPort {
  readonly observer = new EventEmitter<ViewingObserverEvents>();

  readonly #viewers = new Set<Viewer>();

  constructor(private readonly deps: ViewingDeps) {}

  openViewer(peer: Peer, notify: Notify): Viewer {
    const viewer = new Viewer({
      ...this.deps,
      logger: this.deps.logger.child({ peer: peer.address }),
      observer: this.observer,
      peer,
      notify,
      onClose: () => this.#viewers.delete(viewer),
    });
    this.#viewers.add(viewer);
    return viewer;
  }

  /** The cluster's nodes changed: every connection hears the other nodes it may fail over to. */
  nodesChanged(): void {
    const nodes = this.deps.nodes?.() ?? [];
    for (const v of this.#viewers) v.tell('clusterNodes', { nodes });
  }

  /** A sign-in session ended: every connection that authenticated with it ends its views. */
  endSession(sid: string, reason: string, message: string): number {
    let n = 0;
    for (const v of this.#viewers) {
      if (v.sessionId !== sid) continue;
      v.endSession(reason, message);
      n++;
    }
    return n;
  }
}
