// Browser side of the signaling protocol: one WebSocket, one mediasoup-client Device and one receive
// transport per connection, carrying any number of watched streams (a wall of tiles or one player).
//
// The connection heals itself: when the socket closes (gateway restart, network change) it reconnects
// with backoff, authenticates again, loads a new Device, makes a new transport and consumes every
// open Watch again; each Watch then hands its new MediaStream to whoever shows it. When the gateway's
// media worker dies, the gateway says so (transportClosed, or consumerClosed 'stream_moved') and the
// client makes a new transport or consumes again at once, on the same socket: no error is shown. Requests are paced
// under the gateway's per-connection rate limit (20 messages/s, burst 40), so a wall that brings many
// tiles on screen at once never trips it.
// Only types here: mediasoup-client is imported when a connection first needs a Device, so a page
// shows its poster before the bundle evaluates it (esbuild keeps a dynamically imported module lazy).
import type { Device, types } from 'mediasoup-client';
import type { Identity, Notifications, StreamSummary, Variant } from '../../signaling/src/protocol.js';

export type { Identity, StreamSummary, Variant };

/** consumerClosed reasons that mean "consume again now": the stream's media moved to another worker. */
const MOVED = new Set(['stream_moved', 'worker_died']);

export class GatewayError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** The gateway's finer cause, e.g. 'unauthorized' (the camera rejected its password). */
    readonly reason?: string,
  ) {
    super(message);
  }
}

/** Codes that retrying with the same token cannot fix. */
export const FATAL_CODES = new Set(['E_UNAUTHENTICATED', 'E_AUTH_EXPIRED', 'E_FORBIDDEN', 'E_FORBIDDEN_ORIGIN']);

/** Offered beside cctv.v1: the gateway then says in a message why it refuses the page's origin (signaling REFUSAL_PROTOCOL). */
const PROTOCOLS = ['cctv.v1', 'cctv.refusal'];
/** The close code after such a refusal (signaling REFUSED_CLOSE). */
const REFUSED_CLOSE = 4403;

export type ClientState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ClientOptions {
  /** Reconnect after the socket closes; default true. */
  reconnect?: boolean;
  /** First and largest reconnect delay (ms), growing ×1.5 per attempt, ±20 % jitter. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Client-side pacing, kept under the gateway's 20/s (burst 40). */
  ratePerSec?: number;
  burst?: number;
  /** A request without an answer in this time fails with E_TIMEOUT. */
  requestTimeoutMs?: number;
  /**
   * 'smooth' (default): the browser smooths playout. 'low': each frame is shown as soon as it is
   * decoded (about 26 ms sooner in the benchmark), for steady networks such as the Command Center's LAN.
   */
  latency?: Latency;
  /**
   * 'relay': use only TURN relays the gateway offers (tests, or to check a TURN server); default
   * 'all': direct UDP/TCP to the media port first, the relay when that cannot be reached.
   */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** A new transport not connected by then counts as failed (E_ICE_FAILED). Default 15000 ms. */
  iceTimeoutMs?: number;
}

/** The page's `?ice=relay` choice (relay-only ICE, for tests of the TURN path). */
export function iceParam(params = new URLSearchParams(location.search)): RTCIceTransportPolicy {
  return params.get('ice') === 'relay' ? 'relay' : 'all';
}

/** What a viewer is told when its media path never came up. */
export const ICE_FAILED_MESSAGE =
  'cannot reach the media server: direct UDP/TCP is blocked and no TURN relay worked (TURN refused the credentials or is unreachable)';

/** The E_ICE_FAILED error, finer when the browser saw TURN errors (icecandidateerror: code and text). */
function iceFailed(turnErrors: { code: number; text: string }[]): GatewayError {
  const refused = turnErrors.find((e) => e.code === 401 || e.code === 403 || e.code === 437 || e.code === 441);
  if (refused)
    return new GatewayError(
      'E_ICE_FAILED',
      `cannot reach the media server: TURN refused the credentials (${refused.code} ${refused.text})`.trim(),
      'turn_refused',
    );
  const other = turnErrors[0];
  if (other)
    return new GatewayError(
      'E_ICE_FAILED',
      `cannot reach the media server: TURN is unreachable (${other.code} ${other.text})`.trim(),
      'turn_unreachable',
    );
  return new GatewayError('E_ICE_FAILED', ICE_FAILED_MESSAGE);
}

export type Latency = 'smooth' | 'low';

/** The gateway's typed refusal of a connection (`{id: null, ok: false, error: {code: 'E_FORBIDDEN_ORIGIN'}}`). */
function parseRefusal(data: unknown): GatewayError | undefined {
  if (typeof data !== 'string' || !data.includes('E_FORBIDDEN_ORIGIN')) return undefined;
  try {
    const msg = JSON.parse(data) as { id?: unknown; error?: { code?: unknown; message?: unknown } };
    if (msg.id !== null || msg.error?.code !== 'E_FORBIDDEN_ORIGIN') return undefined;
    return new GatewayError('E_FORBIDDEN_ORIGIN', String(msg.error.message ?? 'origin not allowed'));
  } catch {
    return undefined;
  }
}

/** A `latency` option as written in an address or an attribute: 'low', or else the default, smooth. */
export function toLatency(value: string | null): Latency {
  return value === 'low' ? 'low' : 'smooth';
}

/** The page's `?latency=low` choice. */
export function latencyParam(params = new URLSearchParams(location.search)): Latency {
  return toLatency(params.get('latency'));
}

type Listener = (data: Record<string, unknown>) => void;
type Pending = { resolve: (d: unknown) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> };

/**
 * One watched stream variant. Survives reconnects: after the client consumes it again, `media`
 * changes and 'media' fires. 'ended' fires when the gateway closes its consumers (reason given);
 * 'error' when consuming it again failed (a GatewayError).
 */
export class Watch {
  media: MediaStream = new MediaStream();
  consumers: types.Consumer[] = [];
  /** performance.now() when the latest consume request was sent. */
  requestedAt = 0;
  closed = false;
  /** @internal a consume in progress */
  inflight: Promise<void> | undefined;
  readonly #listeners = new Map<string, Set<(arg: unknown) => void>>();

  constructor(
    readonly stream: string,
    public variant: Variant,
    private readonly client: GatewayClient,
  ) {}

  on(name: 'media', fn: (media: MediaStream) => void): () => void;
  on(name: 'ended', fn: (reason: string) => void): () => void;
  on(name: 'error', fn: (err: GatewayError) => void): () => void;
  on(name: string, fn: (arg: never) => void): () => void {
    const set = this.#listeners.get(name) ?? new Set();
    this.#listeners.set(name, set);
    set.add(fn as (arg: unknown) => void);
    return () => set.delete(fn as (arg: unknown) => void);
  }

  /** @internal */
  emit(name: string, arg: unknown): void {
    for (const fn of this.#listeners.get(name) ?? []) fn(arg);
  }

  get video(): types.Consumer | undefined {
    return this.consumers.find((c) => c.kind === 'video' && !c.closed);
  }

  /** Consume again (after 'ended' or 'error'); resolves when the new media is attached. */
  retry(): Promise<void> {
    return this.client.reconsume(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.release(this);
    this.#listeners.clear();
  }
}

export class GatewayClient {
  #ws: WebSocket | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Map<string, Set<Listener>>();
  #device: Device | undefined;
  #transport: Promise<types.Transport> | undefined;
  #transportId: string | undefined;
  /** Bumped per connection: answers to an older connection's requests are ignored. */
  #generation = 0;
  readonly #watches = new Set<Watch>();
  readonly #byConsumer = new Map<string, Watch>();
  #state: ClientState = 'idle';
  #userClosed = false;
  #connecting: Promise<Identity> | undefined;
  identity: Identity | undefined;
  readonly #opts: Required<ClientOptions>;
  // pacing
  readonly #queue: { id: number; text: string }[] = [];
  #tokens: number;
  #refilledAt = 0;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;

  /** Where to connect: the given URL, then (in a cluster) the other nodes the gateway named. */
  #urls: string[];
  #at = 0;

  constructor(
    readonly wsUrl: string,
    private token: string,
    opts: ClientOptions = {},
  ) {
    this.#urls = [wsUrl];
    this.#opts = {
      reconnect: opts.reconnect ?? true,
      backoffInitialMs: opts.backoffInitialMs ?? 200,
      backoffMaxMs: opts.backoffMaxMs ?? 4000,
      ratePerSec: opts.ratePerSec ?? 15,
      burst: opts.burst ?? 30,
      requestTimeoutMs: opts.requestTimeoutMs ?? 20_000,
      latency: opts.latency ?? 'smooth',
      iceTransportPolicy: opts.iceTransportPolicy ?? 'all',
      iceTimeoutMs: opts.iceTimeoutMs ?? 15_000,
    };
    this.#tokens = this.#opts.burst;
  }

  /** The gateway's /ws for a page the gateway serves, or for `base` (e.g. "https://cctv.example"). */
  static defaultUrl(base?: string): string {
    const u = new URL('/ws', base ?? location.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    return u.toString();
  }

  get state(): ClientState {
    return this.#state;
  }

  on(name: string, fn: Listener): () => void {
    const set = this.#listeners.get(name) ?? new Set<Listener>();
    this.#listeners.set(name, set);
    set.add(fn);
    return () => set.delete(fn);
  }

  #emit(name: string, data: Record<string, unknown> = {}): void {
    for (const fn of [...(this.#listeners.get(name) ?? [])]) fn(data);
  }

  #setState(s: ClientState): void {
    if (s === this.#state) return;
    this.#state = s;
    this.#emit('state', { state: s });
  }

  /**
   * Connects and authenticates. Network failures are retried with backoff until it works (the
   * promise waits); an authentication failure rejects with its GatewayError.
   */
  connect(): Promise<Identity> {
    if (this.#state === 'open' && this.identity) return Promise.resolve(this.identity);
    if (!this.#connecting) {
      this.#userClosed = false;
      this.#connecting = this.#connectLoop(this.#state === 'idle' || this.#state === 'closed').finally(() => {
        this.#connecting = undefined;
      });
    }
    return this.#connecting;
  }

  async #connectLoop(initial: boolean): Promise<Identity> {
    this.#setState(initial ? 'connecting' : 'reconnecting');
    for (let attempt = 0; ; attempt++) {
      if (this.#userClosed) throw new GatewayError('E_CLOSED', 'the client was closed');
      try {
        const me = await this.#open();
        this.#setState('open');
        if (!initial) this.#emit('reconnected', { attempts: attempt + 1 });
        void this.#reconsumeAll();
        return me;
      } catch (err) {
        const e = err as GatewayError;
        this.#discardSocket();
        if (FATAL_CODES.has(e.code) || e.code === 'E_UNSUPPORTED' || this.#userClosed || !this.#opts.reconnect) {
          this.#setState('closed');
          this.#emit('fatal', { code: e.code, message: e.message });
          throw e;
        }
        // Another node of the cluster, if the gateway named any: a dead node is not waited for.
        if (this.#urls.length > 1) this.#at = (this.#at + 1) % this.#urls.length;
        const base = Math.min(this.#opts.backoffMaxMs, this.#opts.backoffInitialMs * 1.5 ** attempt);
        const delayMs = Math.round(base * (0.8 + Math.random() * 0.4));
        this.#emit('retrying', { attempt: attempt + 1, delayMs, code: e.code, message: e.message });
        await new Promise((r) => setTimeout(r, delayMs));
      }
    }
  }

  /** The cluster's other nodes, as the gateway says them now: where to go if this one goes away. */
  #setNodes(nodes: unknown): void {
    if (!Array.isArray(nodes)) return;
    const here = this.#urls[this.#at] ?? this.wsUrl;
    const others = nodes.filter((n): n is string => typeof n === 'string' && /^wss?:\/\//.test(n));
    this.#urls = [...new Set([here, ...others, this.wsUrl])];
    this.#at = 0;
  }

  async #open(): Promise<Identity> {
    const gen = ++this.#generation;
    const ws = new WebSocket(this.#urls[this.#at] ?? this.wsUrl, PROTOCOLS);
    this.#ws = ws;
    /** The gateway's refusal of this connection (an origin not allowed), which its close follows. */
    let refusal: GatewayError | undefined;
    const refused = (ev: MessageEvent) => {
      const msg = parseRefusal(ev.data);
      if (msg) refusal = msg;
    };
    ws.addEventListener('message', refused);
    ws.addEventListener('close', (ev) => {
      if (gen !== this.#generation || ev.code !== REFUSED_CLOSE || !refusal) return;
      // Refused, not a network fault: whatever waits on this connection fails with the reason.
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer);
        p.reject(refusal);
      }
      this.#pending.clear();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new GatewayError('E_NETWORK', 'the gateway did not answer in time')), 8000);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve();
      };
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new GatewayError('E_NETWORK', 'cannot reach the gateway'));
      };
      ws.onclose = () => {
        clearTimeout(timer);
        reject(new GatewayError('E_NETWORK', 'cannot reach the gateway'));
      };
    });
    ws.onmessage = (ev) => this.#onMessage(ev.data as string);
    ws.onerror = null;
    ws.onclose = (ev) => {
      // Refused while connecting: the connect loop's request fails with the refusal (above).
      if (refusal && this.#connecting) return;
      this.#onClose(gen, ev.code, ev.reason);
    };
    const me = (await this.request('auth', { token: this.token })) as Identity;
    this.identity = me;
    if (me.nodes) this.#setNodes(me.nodes);
    const { rtpCapabilities } = (await this.request('getRouterRtpCapabilities')) as {
      rtpCapabilities: types.RtpCapabilities;
    };
    // Evaluated only now (the first time): until here the page's main thread is free for its poster.
    const { Device } = await import('mediasoup-client');
    performance.mark('cctv:mediasoup');
    let device: Device;
    try {
      device = new Device();
      await device.load({ routerRtpCapabilities: rtpCapabilities });
    } catch (err) {
      // No WebRTC, or no codec of the gateway's: retrying cannot help.
      if ((err as Error).name === 'UnsupportedError')
        throw new GatewayError('E_UNSUPPORTED', `this browser cannot receive the video: ${(err as Error).message}`);
      throw err;
    }
    if (gen !== this.#generation) throw new GatewayError('E_NETWORK', 'connection replaced');
    this.#device = device;
    this.#transport = undefined;
    return me;
  }

  /** Closes the current socket without running its close handler (a failed attempt). */
  #discardSocket(): void {
    const ws = this.#ws;
    this.#ws = undefined;
    this.#generation++;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close();
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new GatewayError('E_NETWORK', 'connection attempt abandoned'));
    }
    this.#pending.clear();
    this.#queue.length = 0;
  }

  #onClose(gen: number, code: number, reason: string): void {
    if (gen !== this.#generation) return;
    this.#generation++;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new GatewayError('E_NETWORK', `connection closed (${code})`));
    }
    this.#pending.clear();
    this.#queue.length = 0;
    this.#dropMedia();
    this.#emit('disconnected', { code, reason });
    if (this.#userClosed || !this.#opts.reconnect || code === 4401 || code === 4403) {
      this.#setState('closed');
      if (!this.#userClosed) this.#emit('fatal', { code: 'E_UNAUTHENTICATED', message: reason || 'refused' });
      return;
    }
    this.#setState('reconnecting');
    this.connect().catch(() => {});
  }

  /** Closes the transport and every consumer locally; watches stay open and get consumed again. */
  #dropMedia(): void {
    const t = this.#transport;
    this.#transport = undefined;
    this.#transportId = undefined;
    t?.then((tr) => tr.close()).catch(() => {});
    for (const w of this.#watches) {
      for (const c of w.consumers) c.close();
      w.consumers = [];
    }
    this.#byConsumer.clear();
  }

  async #reconsumeAll(): Promise<void> {
    // All at once: each waits for its own camera (a cold ingest takes a second or two), and the
    // request pacing keeps the burst under the gateway's rate limit.
    const todo = [...this.#watches].filter((w) => !w.closed && w.consumers.length === 0);
    await Promise.all(todo.map((w) => this.reconsume(w).catch((err: GatewayError) => w.emit('error', err))));
  }

  /** A fresh token before the current one expires keeps this connection's views going. */
  async setToken(token: string): Promise<void> {
    this.token = token;
    if (this.#state !== 'open') return;
    this.identity = (await this.request('auth', { token })) as Identity;
  }

  request(method: string, data: Record<string, unknown> = {}, retried = false): Promise<unknown> {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new GatewayError('E_NETWORK', 'not connected to the gateway'));
    }
    const id = this.#nextId++;
    const p = new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new GatewayError('E_TIMEOUT', `${method}: no answer from the gateway`));
      }, this.#opts.requestTimeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
    });
    this.#queue.push({ id, text: JSON.stringify({ id, method, data }) });
    this.#drain();
    if (retried) return p;
    return p.catch(async (err: GatewayError) => {
      if (err.code !== 'E_RATE_LIMITED') throw err;
      await new Promise((r) => setTimeout(r, 1000));
      return this.request(method, data, true);
    });
  }

  #drain(): void {
    const now = performance.now();
    const { ratePerSec, burst } = this.#opts;
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#refilledAt) / 1000) * ratePerSec);
    this.#refilledAt = now;
    while (this.#queue.length > 0 && this.#tokens >= 1) {
      const next = this.#queue.shift() as { id: number; text: string };
      if (!this.#pending.has(next.id)) continue; // timed out while queued
      this.#ws?.send(next.text);
      this.#tokens -= 1;
    }
    if (this.#queue.length > 0 && !this.#drainTimer) {
      this.#drainTimer = setTimeout(
        () => {
          this.#drainTimer = undefined;
          this.#drain();
        },
        Math.ceil(((1 - this.#tokens) / ratePerSec) * 1000),
      );
    }
  }

  #onMessage(text: string): void {
    const msg = JSON.parse(text) as {
      id?: number | null;
      ok?: boolean;
      data?: unknown;
      error?: { code: string; message: string; reason?: string };
      notification?: string;
    };
    if (msg.notification) {
      const data = (msg.data ?? {}) as Record<string, unknown>;
      if (msg.notification === 'consumerClosed')
        this.#onConsumerClosed(String(data['consumerId']), String(data['reason']));
      if (msg.notification === 'transportClosed') this.#onTransportClosed(data as Notifications['transportClosed']);
      if (msg.notification === 'clusterNodes') this.#setNodes((data as Notifications['clusterNodes']).nodes);
      this.#emit(msg.notification, data);
      return;
    }
    if (msg.id === null && msg.error) {
      // A refusal the gateway could not tie to a request (e.g. a bearer subprotocol token).
      this.#emit('gatewayError', msg.error as unknown as Record<string, unknown>);
      return;
    }
    const p = msg.id !== undefined && msg.id !== null ? this.#pending.get(msg.id) : undefined;
    if (!p) return;
    this.#pending.delete(msg.id as number);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.data);
    else
      p.reject(
        new GatewayError(msg.error?.code ?? 'E_INTERNAL', msg.error?.message ?? 'request failed', msg.error?.reason),
      );
  }

  #onConsumerClosed(consumerId: string, reason: string): void {
    const w = this.#byConsumer.get(consumerId);
    this.#byConsumer.delete(consumerId);
    if (!w) return;
    const c = w.consumers.find((x) => x.id === consumerId);
    c?.close();
    w.consumers = w.consumers.filter((x) => x.id !== consumerId);
    if (!w.video) {
      for (const x of w.consumers) {
        this.#byConsumer.delete(x.id);
        x.close();
        this.request('closeConsumer', { consumerId: x.id }).catch(() => {});
      }
      w.consumers = [];
      if (MOVED.has(reason)) {
        this.#emit('healing', { stream: w.stream, reason });
        this.reconsume(w).catch((err: GatewayError) => w.emit('error', err));
      } else w.emit('ended', reason);
    }
  }

  /** Our transport's worker died: a new transport (on a serving worker), then every watch again. */
  #onTransportClosed({ transportId, reason }: Notifications['transportClosed']): void {
    if (transportId !== this.#transportId) return;
    this.#emit('healing', { reason });
    this.#dropMedia();
    void this.#reconsumeAll();
  }

  #recvTransport(): Promise<types.Transport> {
    if (this.#transport) return this.#transport;
    const gen = this.#generation;
    const made = (async () => {
      const params = (await this.request('createTransport')) as types.TransportOptions & {
        iceServers?: RTCIceServer[];
      };
      if (gen !== this.#generation) throw new GatewayError('E_NETWORK', 'connection replaced');
      const t = (this.#device as Device).createRecvTransport({
        ...params,
        iceServers: params.iceServers ?? [],
        iceTransportPolicy: this.#opts.iceTransportPolicy,
      });
      if (gen === this.#generation) this.#transportId = t.id;
      let reached = false;
      let watchdog: ReturnType<typeof setTimeout> | undefined;
      // TURN's answers, for saying why (mediasoup-client's own RTCPeerConnection: not its public API,
      // so only if it is there). With relay-only ICE, gathering done with no relay candidate fails at once.
      const turnErrors: { code: number; text: string }[] = [];
      const pc = (t.handler as unknown as { _pc?: RTCPeerConnection })._pc;
      pc?.addEventListener('icecandidateerror', (e) => {
        const ev = e as RTCPeerConnectionIceErrorEvent;
        if (/^turns?:/.test(ev.url ?? '')) turnErrors.push({ code: ev.errorCode, text: ev.errorText ?? '' });
      });
      t.on('icegatheringstatechange', (g) => {
        if (g !== 'complete' || reached || !pc || this.#opts.iceTransportPolicy !== 'relay') return;
        pc.getStats()
          .then((stats) => {
            for (const s of stats.values()) if (s.type === 'local-candidate' && s.candidateType === 'relay') return;
            void failed();
          })
          .catch(() => {});
      });
      const failed = async () => {
        clearTimeout(watchdog);
        if (gen !== this.#generation || this.#state !== 'open' || this.#transportId !== t.id) return;
        if (reached) {
          // ICE/DTLS failed after it worked, while signaling still works: a new transport, then consume again.
          this.#emit('transportFailed', {});
          this.#dropMedia();
          void this.#reconsumeAll();
          return;
        }
        // It never came up: no path to the media server. Say so; the player tries again later. First let
        // consumes in flight finish (and their players listen), so each hears the error.
        await Promise.allSettled([...this.#watches].map((w) => w.inflight));
        await new Promise((r) => setTimeout(r, 0));
        if (gen !== this.#generation || this.#state !== 'open' || this.#transportId !== t.id || reached) return;
        this.#emit('transportFailed', { code: 'E_ICE_FAILED', policy: this.#opts.iceTransportPolicy });
        const watches = [...this.#watches].filter((w) => !w.closed);
        for (const w of watches)
          for (const c of w.consumers) this.request('closeConsumer', { consumerId: c.id }).catch(() => {});
        this.#dropMedia();
        const err = iceFailed(turnErrors);
        for (const w of watches) w.emit('error', err);
      };
      t.on('connect', ({ dtlsParameters }, ok, fail) => {
        watchdog = setTimeout(() => void failed(), this.#opts.iceTimeoutMs);
        this.request('connectTransport', {
          transportId: t.id,
          dtlsParameters: dtlsParameters as unknown as Record<string, unknown>,
        }).then(() => ok(), fail);
      });
      t.on('connectionstatechange', (s) => {
        if (s === 'connected') {
          reached = true;
          clearTimeout(watchdog);
        }
        if (s === 'failed') void failed();
        if (s === 'closed') clearTimeout(watchdog);
      });
      return t;
    })();
    this.#transport = made;
    made.catch(() => {
      if (this.#transport === made) this.#transport = undefined;
    });
    return made;
  }

  async listStreams(): Promise<StreamSummary[]> {
    const { streams } = (await this.request('listStreams')) as { streams: StreamSummary[] };
    return streams;
  }

  /** Starts watching `stream`; resolves once its consumers exist (the first frame follows). */
  async watch(stream: string, variant: Variant = 'main'): Promise<Watch> {
    const w = new Watch(stream, variant, this);
    this.#watches.add(w);
    try {
      await this.reconsume(w);
    } catch (err) {
      w.close();
      throw err;
    }
    return w;
  }

  /** @internal (Watch.retry) */
  reconsume(w: Watch): Promise<void> {
    if (w.closed) return Promise.resolve();
    if (!w.inflight) {
      w.inflight = this.#consume(w).finally(() => {
        w.inflight = undefined;
      });
    }
    return w.inflight;
  }

  async #consume(w: Watch): Promise<void> {
    if (this.#state !== 'open') await this.connect();
    const gen = this.#generation;
    for (const c of w.consumers) {
      this.#byConsumer.delete(c.id);
      c.close();
      this.request('closeConsumer', { consumerId: c.id }).catch(() => {});
    }
    w.consumers = [];
    const transport = await this.#recvTransport();
    w.requestedAt = performance.now();
    const res = (await this.request('consume', {
      transportId: transport.id,
      stream: w.stream,
      variant: w.variant,
      rtpCapabilities: (this.#device as Device).rtpCapabilities as unknown as Record<string, unknown>,
      latency: this.#opts.latency,
    })) as { variant: Variant; consumers: types.ConsumerOptions[] };
    if (gen !== this.#generation) throw new GatewayError('E_NETWORK', 'connection lost while starting the stream');
    if (w.closed) {
      for (const c of res.consumers) this.request('closeConsumer', { consumerId: c.id }).catch(() => {});
      return;
    }
    const consumers: types.Consumer[] = [];
    for (const c of res.consumers) {
      const consumer = await transport.consume(c);
      consumers.push(consumer);
      this.#byConsumer.set(consumer.id, w);
    }
    w.variant = res.variant;
    w.consumers = consumers;
    w.media = new MediaStream(consumers.map((c) => c.track));
    await Promise.all(consumers.map((c) => this.request('resume', { consumerId: c.id })));
    if (!w.closed) w.emit('media', w.media);
  }

  /** @internal (Watch.close) */
  release(w: Watch): void {
    this.#watches.delete(w);
    for (const c of w.consumers) {
      this.#byConsumer.delete(c.id);
      c.close();
      if (this.#state === 'open') this.request('closeConsumer', { consumerId: c.id }).catch(() => {});
    }
    w.consumers = [];
  }

  close(): void {
    this.#userClosed = true;
    for (const w of [...this.#watches]) w.close();
    this.#dropMedia();
    this.#discardSocket();
    this.#setState('closed');
  }
}
