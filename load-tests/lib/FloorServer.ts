// The delay benchmark's reference path ("floor"): the simulator's clock frames arrive as plain RTP on
// a mediasoup PlainTransport of a worker of our own (no RTSP, no FFmpeg, no gateway) and go to the
// browser through a WebRtcTransport, with a few JSON-over-HTTP calls as signalling.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { types } from 'mediasoup';
import * as mediasoup from 'mediasoup';

const CODEC: types.RtpCodecCapability = {
  kind: 'video',
  mimeType: 'video/H264',
  clockRate: 90000,
  parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
};

export interface FloorRtpInput {
  host: string;
  port: number;
  ssrc: number;
  payloadType: number;
}

export class FloorServer {
  readonly #transports = new Map<string, types.WebRtcTransport>();
  readonly #consumers = new Map<string, types.Consumer>();

  private constructor(
    readonly worker: types.Worker,
    readonly router: types.Router,
    readonly plain: types.PlainTransport,
    readonly producer: types.Producer,
    readonly server: http.Server,
    readonly input: FloorRtpInput,
  ) {}

  static async create(): Promise<FloorServer> {
    const worker = await mediasoup.createWorker({ logLevel: 'warn', rtcMinPort: 43000, rtcMaxPort: 43999 });
    const router = await worker.createRouter({ mediaCodecs: [CODEC] });
    const plain = await router.createPlainTransport({ listenIp: { ip: '127.0.0.1' }, rtcpMux: true, comedia: true });
    const input: FloorRtpInput = { host: '127.0.0.1', port: plain.tuple.localPort, ssrc: 31415926, payloadType: 102 };
    const producer = await plain.produce({
      kind: 'video',
      rtpParameters: {
        codecs: [
          {
            mimeType: 'video/H264',
            payloadType: input.payloadType,
            clockRate: 90000,
            parameters: CODEC.parameters,
            rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
          },
        ],
        encodings: [{ ssrc: input.ssrc }],
      },
    });
    const server = http.createServer();
    const floor = new FloorServer(worker, router, plain, producer, server, input);
    server.on('request', (req, res) => void floor.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return floor;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      let body = '';
      for await (const chunk of req) body += chunk;
      const data = (body ? JSON.parse(body) : {}) as Record<string, unknown>;
      const name = (req.url ?? '').split('?')[0]?.replace(/^\/floor\//, '') ?? '';
      const out = await this.#call(name, data);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    } catch (err) {
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (err as Error).message }));
    }
  }

  async #call(name: string, d: Record<string, unknown>): Promise<unknown> {
    switch (name) {
      case 'caps':
        return { rtpCapabilities: this.router.rtpCapabilities };
      case 'createTransport': {
        const t = await this.router.createWebRtcTransport({
          listenIps: [{ ip: '127.0.0.1' }],
          enableUdp: true,
          enableTcp: false,
          preferUdp: true,
        });
        this.#transports.set(t.id, t);
        return {
          id: t.id,
          iceParameters: t.iceParameters,
          iceCandidates: t.iceCandidates,
          dtlsParameters: t.dtlsParameters,
        };
      }
      case 'connect':
        await this.#transport(d['transportId']).connect({
          dtlsParameters: d['dtlsParameters'] as types.DtlsParameters,
        });
        return {};
      case 'consume': {
        const c = await this.#transport(d['transportId']).consume({
          producerId: this.producer.id,
          rtpCapabilities: d['rtpCapabilities'] as types.RtpCapabilities,
          paused: true,
        });
        this.#consumers.set(c.id, c);
        c.observer.once('close', () => this.#consumers.delete(c.id));
        return { id: c.id, producerId: this.producer.id, kind: c.kind, rtpParameters: c.rtpParameters };
      }
      case 'resume': {
        const c = this.#consumers.get(String(d['consumerId']));
        if (!c) throw new Error('no such consumer');
        await c.resume();
        await c.requestKeyFrame();
        return {};
      }
      case 'close': {
        const t = this.#transports.get(String(d['transportId']));
        t?.close();
        this.#transports.delete(String(d['transportId']));
        return {};
      }
      default:
        throw new Error(`no method ${name}`);
    }
  }

  #transport(id: unknown): types.WebRtcTransport {
    const t = this.#transports.get(String(id));
    if (!t) throw new Error('no such transport');
    return t;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.worker.close();
  }
}
