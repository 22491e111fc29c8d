// Protocol-agnostic viewing: one Viewer per connection (WebSocket today; WHEP can be another front
// door). What a viewer may do, where its transports go, admission, and the audit record of each view
// live here; the signaling server only speaks the protocol (signaling/src/port.ts).
import { EventEmitter } from 'node:events';
import type { Notify, Peer, ViewingPort } from '../../../signaling/src/port.js';
import type { TokenVerifier } from '../auth/tokens.js';
import type { Logger } from '../log.js';
import type { WorkerPool } from '../media/WorkerPool.js';
import type { StreamRegistry } from '../streams/StreamRegistry.js';
import type { Capacity } from './Capacity.js';
import type { TurnSettings } from './turn.js';
import { Viewer, type ViewingObserverEvents } from './Viewer.js';

export type { ViewingObserverEvents };

export interface ViewingDeps {
  pool: WorkerPool;
  streams: StreamRegistry;
  verifier: TokenVerifier;
  capacity: Capacity;
  logger: Logger;
  limits: { maxTransports: number; maxConsumers: number };
  turn?: TurnSettings | undefined;
}

export class ViewingService implements ViewingPort {
  readonly observer = new EventEmitter<ViewingObserverEvents>();

  constructor(private readonly deps: ViewingDeps) {}

  openViewer(peer: Peer, notify: Notify): Viewer {
    return new Viewer({
      ...this.deps,
      logger: this.deps.logger.child({ peer: peer.address }),
      observer: this.observer,
      peer,
      notify,
    });
  }
}
