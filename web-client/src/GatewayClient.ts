// Browser side of the signaling protocol: authenticate, load a mediasoup-client Device, one receive
// transport per connection, and `watch(stream)` that returns a playable MediaStream.
import { Device, type types } from 'mediasoup-client';

type Pending = { resolve: (d: unknown) => void; reject: (e: Error) => void };

export class GatewayError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Watch {
  stream: string;
  variant: 'main' | 'sub';
  media: MediaStream;
  consumers: types.Consumer[];
  /** performance.now() when the consume request was sent */
  requestedAt: number;
  close(): void;
}

type Listener = (data: Record<string, unknown>) => void;

export class GatewayClient {
  #ws!: WebSocket;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Map<string, Set<Listener>>();
  #device: Device | undefined;
  #transport: types.Transport | undefined;
  readonly #consumers = new Map<string, types.Consumer>();

  constructor(
    private readonly wsUrl: string,
    private token: string,
  ) {}

  static defaultUrl(): string {
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  }

  async connect(): Promise<{ sub: string; role: string }> {
    this.#ws = new WebSocket(this.wsUrl);
    await new Promise<void>((resolve, reject) => {
      this.#ws.onopen = () => resolve();
      this.#ws.onerror = () => reject(new GatewayError('E_NETWORK', 'cannot reach the gateway'));
    });
    this.#ws.onmessage = (ev) => this.#onMessage(ev.data as string);
    this.#ws.onclose = (ev) => {
      for (const p of this.#pending.values()) p.reject(new GatewayError('E_NETWORK', `connection closed (${ev.code})`));
      this.#pending.clear();
      this.#emit('disconnected', { code: ev.code, reason: ev.reason });
    };
    const me = (await this.request('auth', { token: this.token })) as { sub: string; role: string };
    const { rtpCapabilities } = (await this.request('getRouterRtpCapabilities')) as {
      rtpCapabilities: types.RtpCapabilities;
    };
    this.#device = new Device();
    await this.#device.load({ routerRtpCapabilities: rtpCapabilities });
    return me;
  }

  /** A fresh token before the current one expires keeps this connection's views going. */
  async setToken(token: string): Promise<void> {
    this.token = token;
    await this.request('auth', { token });
  }

  on(name: string, fn: Listener): () => void {
    const set = this.#listeners.get(name) ?? new Set<Listener>();
    this.#listeners.set(name, set);
    set.add(fn);
    return () => set.delete(fn);
  }

  #emit(name: string, data: Record<string, unknown>): void {
    for (const fn of this.#listeners.get(name) ?? []) fn(data);
  }

  request(method: string, data: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.#nextId++;
    this.#ws.send(JSON.stringify({ id, method, data }));
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
  }

  #onMessage(text: string): void {
    const msg = JSON.parse(text) as {
      id?: number;
      ok?: boolean;
      data?: unknown;
      error?: { code: string; message: string };
      notification?: string;
    };
    if (msg.notification) {
      const data = (msg.data ?? {}) as Record<string, unknown>;
      if (msg.notification === 'consumerClosed') this.#consumers.get(data['consumerId'] as string)?.close();
      this.#emit(msg.notification, data);
      return;
    }
    const p = msg.id !== undefined ? this.#pending.get(msg.id) : undefined;
    if (!p) return;
    this.#pending.delete(msg.id as number);
    if (msg.ok) p.resolve(msg.data);
    else p.reject(new GatewayError(msg.error?.code ?? 'E_INTERNAL', msg.error?.message ?? 'request failed'));
  }

  async #recvTransport(): Promise<types.Transport> {
    if (this.#transport && !this.#transport.closed) return this.#transport;
    const params = (await this.request('createTransport')) as types.TransportOptions;
    const t = (this.#device as Device).createRecvTransport(params);
    t.on('connect', ({ dtlsParameters }, ok, fail) => {
      this.request('connectTransport', {
        transportId: t.id,
        dtlsParameters: dtlsParameters as unknown as Record<string, unknown>,
      }).then(() => ok(), fail);
    });
    this.#transport = t;
    return t;
  }

  async watch(stream: string, variant: 'main' | 'sub' = 'main'): Promise<Watch> {
    const transport = await this.#recvTransport();
    const requestedAt = performance.now();
    const res = (await this.request('consume', {
      transportId: transport.id,
      stream,
      variant,
      rtpCapabilities: (this.#device as Device).rtpCapabilities as unknown as Record<string, unknown>,
    })) as { variant: 'main' | 'sub'; consumers: types.ConsumerOptions[] };
    const consumers: types.Consumer[] = [];
    for (const c of res.consumers) {
      const consumer = await transport.consume(c);
      this.#consumers.set(consumer.id, consumer);
      consumers.push(consumer);
    }
    for (const c of consumers) await this.request('resume', { consumerId: c.id });
    return {
      stream,
      variant: res.variant,
      media: new MediaStream(consumers.map((c) => c.track)),
      consumers,
      requestedAt,
      close: () => {
        for (const c of consumers) {
          this.#consumers.delete(c.id);
          c.close();
          this.request('closeConsumer', { consumerId: c.id }).catch(() => {});
        }
      },
    };
  }

  close(): void {
    this.#transport?.close();
    this.#ws?.close();
  }
}
