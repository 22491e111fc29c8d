// What the WebSocket server needs from whoever does the viewing (gateway/src/viewing): a viewer per
// connection that answers each protocol method. Declared here, so signaling depends on no media code.
import type { Method, Notifications, RequestData, Responses } from './protocol.js';

export interface Peer {
  address: string;
  userAgent: string;
}

export type Notify = <N extends keyof Notifications>(name: N, data: Notifications[N]) => void;

/** One connection's viewer: one handler per method, each validated by the server before it is called. */
export type ViewerPort = { [M in Method]: (data: RequestData<M>) => Promise<Responses[M]> } & {
  readonly authenticated: boolean;
  /** The connection is gone, or the gateway stops. */
  close(reason: 'disconnected' | 'shutdown'): void;
};

export interface ViewingPort {
  openViewer(peer: Peer, notify: Notify): ViewerPort;
}
