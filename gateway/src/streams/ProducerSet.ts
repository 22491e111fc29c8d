// The mediasoup side of one stream variant on one worker slot: a comedia PlainTransport and a
// Producer per track, fed by the tracks' RtpForwarders (pointed here when the set is made). When the
// slot's worker dies the set is lost ('lost'); the variant makes a new set on a serving slot and the
// forwarders follow it, so the camera session never notices.
import { EventEmitter } from 'node:events';
import type { types } from 'mediasoup';
import type { RtpForwarder } from '../ingest/RtpForwarder.js';
import { PLAYOUT_DELAY } from '../media/codecs.js';
import type { WorkerSlot } from '../media/WorkerSlot.js';

export interface TrackSpec {
  kind: types.MediaKind;
  codec: types.RtpCodecParameters;
  forwarder: RtpForwarder;
}

export interface ProducerSetEvents {
  /** A Producer closed without close(): its worker died. */
  lost: [];
}

export class ProducerSet extends EventEmitter<ProducerSetEvents> {
  #closed = false;

  private constructor(
    readonly slot: WorkerSlot,
    readonly producers: types.Producer[],
    private readonly transports: { close(): void }[],
  ) {
    super();
    for (const p of producers) {
      p.observer.once('close', () => {
        if (!this.#closed) this.emit('lost');
        this.close();
      });
    }
  }

  /** Makes the transports and Producers on `slot` and points each forwarder at its transport. */
  static async create(slot: WorkerSlot, tracks: TrackSpec[], appData: Record<string, unknown>): Promise<ProducerSet> {
    const router = slot.router;
    const transports: types.PlainTransport[] = [];
    const producers: types.Producer[] = [];
    try {
      for (const t of tracks) {
        const transport = await router.createPlainTransport({
          listenIp: { ip: '127.0.0.1' },
          rtcpMux: false,
          comedia: true,
        });
        transports.push(transport);
        const producer = await transport.produce({
          kind: t.kind,
          rtpParameters: {
            codecs: [t.codec],
            encodings: [{ ssrc: t.forwarder.ssrc }],
            // The forwarder stamps each video frame's first packet with it (FrameStartStamp).
            ...(t.kind === 'video'
              ? { headerExtensions: [{ uri: PLAYOUT_DELAY.uri, id: PLAYOUT_DELAY.preferredId }] }
              : {}),
          },
          appData,
        });
        producers.push(producer);
        await t.forwarder.pointAt({
          ip: '127.0.0.1',
          rtpPort: transport.tuple.localPort,
          rtcpPort: transport.rtcpTuple?.localPort ?? transport.tuple.localPort,
        });
      }
    } catch (err) {
      for (const t of transports) t.close();
      throw err;
    }
    return new ProducerSet(slot, producers, transports);
  }

  /**
   * Producers fed some other way (a PipeTransport from the camera's owner node): the set closes its
   * transports when closed, and says 'lost' when a Producer goes without close().
   */
  static adopt(slot: WorkerSlot, producers: types.Producer[], transports: { close(): void }[]): ProducerSet {
    return new ProducerSet(slot, producers, transports);
  }

  get video(): types.Producer | undefined {
    return this.producers.find((p) => p.kind === 'video');
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.transports) t.close();
  }
}
