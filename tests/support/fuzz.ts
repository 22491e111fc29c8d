// Seeded generators of hostile signaling traffic and the real WebSocket clients that send it. Each
// client draws from its own PRNG (seed and index), so a seed replays the same choices.
import WebSocket from 'ws';

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rand = ReturnType<typeof prng>;

export const PROTOTYPE_NAMES = [
  '__proto__',
  'constructor',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
  '__lookupSetter__',
  'isPrototypeOf',
  'prototype',
];

export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const hex = (r: Rand, bytes: number) =>
  Array.from({ length: bytes }, () => int(r, 256).toString(16).padStart(2, '0')).join(':');
const b64 = (s: string) => Buffer.from(s).toString('base64url');

/** A random string: ASCII, unicode, control characters, lone surrogates. */
function randomString(r: Rand, max = 40): string {
  const alphabets = ['abcXYZ019-_.*', '\u0000\u0001\n\t"\\/', 'éø漢字🙂', '\ud800\udfff', ' ${}()[]|^$+?'];
  const a = pick(r, alphabets);
  return Array.from({ length: int(r, max) }, () => a[int(r, a.length)]).join('');
}

/** Any JSON value, now and then an extreme one. */
export function randomValue(r: Rand, depth = 0): unknown {
  switch (int(r, depth > 2 ? 9 : 11)) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return pick(r, [0, -1, 1.5, 2 ** 31, 2 ** 53, -(2 ** 63), 1e308, 65536, 127, 255]);
    case 3:
      return int(r, 1000);
    case 4:
      return randomString(r);
    case 5:
      return 'x'.repeat(int(r, 3000));
    case 6:
      return pick(r, PROTOTYPE_NAMES);
    case 7:
      return '';
    case 8:
      return pick(r, ['main', 'sub', 'low', 'smooth', 'video', 'audio', 'sha-256', 'client', 'video/H264']);
    case 9:
      return Array.from({ length: int(r, 4) }, () => randomValue(r, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: int(r, 4) }, () => [
          pick(r, [...PROTOTYPE_NAMES, 'a', 'kind', 'x']),
          randomValue(r, depth + 1),
        ]),
      );
  }
}

type Json = Record<string, unknown> | unknown[];

/** Every object and array inside `v`, with `v` itself. */
function containers(v: unknown, out: Json[] = []): Json[] {
  if (v && typeof v === 'object') {
    out.push(v as Json);
    for (const x of Object.values(v)) containers(x, out);
  }
  return out;
}

const nest = (depth: number, inner: unknown) => {
  let v = inner;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

/** What a client knows: its own ids and, through `shared`, ids of other connections. */
export interface Known {
  token: string;
  caps: unknown;
  transports: string[];
  consumers: string[];
  shared: { transports: string[]; consumers: string[] };
}

/** A valid request for each method, from what the client knows. */
export function validRequest(r: Rand, k: Known): { method: string; data: Record<string, unknown> } {
  const transportId = pick(r, k.transports.length ? k.transports : ['t-none']);
  const consumerId = pick(r, k.consumers.length ? k.consumers : ['c-none']);
  const dtlsParameters = {
    role: pick(r, ['client', 'server', 'auto']),
    fingerprints: [{ algorithm: 'sha-256', value: hex(r, 32) }],
  };
  const all: [string, Record<string, unknown>][] = [
    ['auth', { token: k.token }],
    ['listStreams', {}],
    ['getRouterRtpCapabilities', {}],
    ['createTransport', r() < 0.5 ? {} : { forceTcp: r() < 0.5 }],
    ['connectTransport', { transportId, dtlsParameters }],
    [
      'consume',
      { transportId, stream: 'fz-cam', rtpCapabilities: structuredClone(k.caps), latency: pick(r, ['low', 'smooth']) },
    ],
    ['resume', { consumerId }],
    ['closeConsumer', { consumerId }],
    ['reportFirstFrame', { consumerId, ms: int(r, 5000) }],
  ];
  const [method, data] = pick(r, all);
  return { method, data };
}

/** Tokens that look like JWTs but are not what the verifier expects. */
function badToken(r: Rand, good: string): string {
  const [h, p, s] = good.split('.');
  return pick(r, [
    `${b64('{"alg":"HS256","typ":"JWT"}')}.${b64('not json')}.${s}`,
    `${b64('{"alg":{"toString":1},"typ":"JWT"}')}.${p}.${s}`,
    `${b64('{"alg":"none"}')}.${p}.`,
    `${h}.${b64('{"sub":{"__proto__":{"role":"admin"}},"role":"admin","streams":"*","exp":9e99}')}.${s}`,
    `${h}.${p}.${s?.slice(1)}x`,
    `${h}.${p}`,
    randomString(r, 200),
    good.replace(/./g, (c) => (r() < 0.02 ? pick(r, ['-', '_', 'A', '.']) : c)),
  ]);
}

/** A valid request changed in one or a few ways, as text. */
export function mutatedRequest(r: Rand, k: Known, id: number): string {
  const msg: Record<string, unknown> = { id, ...validRequest(r, k) };
  const data = msg['data'] as Record<string, unknown>;
  const rounds = 1 + int(r, 3);
  for (let i = 0; i < rounds; i++) {
    const spots = containers(data);
    const spot = pick(r, spots);
    const keys = Object.keys(spot);
    switch (int(r, 12)) {
      case 0:
        msg['method'] = pick(r, [...PROTOTYPE_NAMES, randomString(r, 70), 'CONSUME', 'consume ', '']);
        break;
      case 1: // a value replaced
        if (keys.length) (spot as Record<string, unknown>)[pick(r, keys)] = randomValue(r);
        break;
      case 2: // a key dropped
        if (keys.length) delete (spot as Record<string, unknown>)[pick(r, keys)];
        break;
      case 3: // a key added, often one named like a prototype member
        Object.defineProperty(spot, r() < 0.7 ? pick(r, PROTOTYPE_NAMES) : randomString(r, 10), {
          value: randomValue(r),
          enumerable: true,
          writable: true,
          configurable: true,
        });
        break;
      case 4: // ids of another connection, or none at all
        for (const key of ['transportId', 'consumerId']) {
          if (key in data) data[key] = pick(r, [...k.shared.transports, ...k.shared.consumers, randomString(r, 130)]);
        }
        break;
      case 5:
        msg['data'] = nest(1 + int(r, 40), data);
        break;
      case 6:
        msg['id'] = pick(r, [-1, 1.5, '7', null, 2 ** 40, { id: 1 }]);
        break;
      case 7:
        msg[pick(r, ['extra', '__proto__', 'constructor'])] = randomValue(r);
        break;
      case 8:
        if ('token' in data) data['token'] = badToken(r, k.token);
        else msg['method'] = 'auth';
        break;
      case 9:
        msg['data'] = pick(r, [[], 'data', 7, null, [data]]);
        break;
      case 10:
        if ('stream' in data) data['stream'] = pick(r, ['-'.repeat(128), 'fz-cam/../x', randomString(r, 129), 'nope']);
        break;
      default: // in the codecs or header extensions of real capabilities
        if ('rtpCapabilities' in data) {
          const caps = data['rtpCapabilities'] as { codecs?: unknown[]; headerExtensions?: unknown[] };
          const list = pick(r, [caps.codecs, caps.headerExtensions]);
          const entry = list?.[int(r, list.length)];
          if (entry && typeof entry === 'object')
            (entry as Record<string, unknown>)[pick(r, [...Object.keys(entry), 'parameters'])] = randomValue(r);
        }
    }
  }
  const text = JSON.stringify(msg);
  // Now and then damage the text itself.
  switch (int(r, 8)) {
    case 0:
      return text.slice(0, int(r, text.length));
    case 1: {
      const at = int(r, text.length);
      return `${text.slice(0, at)}${pick(r, ['"', '{', ']', ',', '\\', '\u0000', '}}'])}${text.slice(at + 1)}`;
    }
    default:
      return text;
  }
}

/** One frame that is not a message at all; `close` means the server will close the socket for it. */
export function rawFrame(r: Rand): { data: string | Buffer; binary: boolean; what: string } {
  switch (int(r, 9)) {
    case 0:
      return {
        data: Buffer.from(Array.from({ length: int(r, 300) }, () => int(r, 256))),
        binary: true,
        what: 'binary',
      };
    case 1: // text frame with invalid UTF-8: the server closes (1007)
      return { data: Buffer.from([0x7b, 0xff, 0xfe, 0xc3, 0x28, 0x7d]), binary: false, what: 'invalid utf-8' };
    case 2:
      return { data: 'x'.repeat(16_385 + int(r, 100_000)), binary: false, what: 'over the limit' };
    case 3: // over ws's maxPayload: the server closes (1009)
      return { data: 'y'.repeat((1 << 20) + 1 + int(r, 1000)), binary: false, what: 'huge' };
    case 4: {
      const depth = 1000 + int(r, 7000);
      return { data: `${'['.repeat(depth)}${']'.repeat(depth)}`, binary: false, what: 'deep nesting' };
    }
    case 5:
      return { data: '{"a":'.repeat(3000), binary: false, what: 'unclosed nesting' };
    case 6:
      return { data: JSON.stringify(randomValue(r)), binary: false, what: 'random JSON' };
    case 7:
      return {
        data: `{"__proto__":{"method":"auth"},"id":1,"method":"${pick(r, PROTOTYPE_NAMES)}","data":{"__proto__":{}}}`,
        binary: false,
        what: 'prototype envelope',
      };
    default:
      return { data: randomString(r, 200), binary: false, what: 'random text' };
  }
}

export interface FuzzStats {
  sent: number;
  replies: Map<string, number>;
  /** Requests answered E_INTERNAL, with the text that caused it (when the reply named its id). */
  internal: string[];
  /** Successful consumes: each is a real view, logged as one. */
  consumes: number;
  connections: number;
  closes: Map<number, number>;
}

export const newStats = (): FuzzStats => ({
  sent: 0,
  replies: new Map(),
  internal: [],
  consumes: 0,
  connections: 0,
  closes: new Map(),
});

const bump = <K>(m: Map<K, number>, k: K) => m.set(k, (m.get(k) ?? 0) + 1);

/** A real ws connection that records every reply; the caller reconnects when it closes. */
export class FuzzSocket {
  readonly ws: WebSocket;
  readonly #sentText = new Map<number, string>();
  readonly opened: Promise<boolean>;
  readonly closed: Promise<void>;

  constructor(
    url: string,
    private readonly stats: FuzzStats,
    opts: { protocols?: string[]; origin?: string } = {},
    onReply: (msg: { id: unknown; ok: boolean; data?: Record<string, unknown> }) => void = () => {},
  ) {
    const ws = new WebSocket(url, opts.protocols ?? [], opts.origin ? { headers: { origin: opts.origin } } : {});
    this.ws = ws;
    ws.on('error', () => {});
    ws.on('unexpected-response', (_req, res) => {
      bump(stats.closes, res.statusCode ?? 0);
      ws.terminate();
    });
    this.opened = new Promise((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('close', () => resolve(false));
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code) => {
        bump(stats.closes, code);
        resolve();
      }),
    );
    void this.opened.then((ok) => ok && stats.connections++);
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString()) as { id: unknown; ok?: boolean; error?: { code: string } };
      if (msg.ok === undefined) return; // a notification
      const code = msg.ok ? 'ok' : (msg.error?.code ?? '?');
      bump(stats.replies, code);
      if (code === 'E_INTERNAL') stats.internal.push(this.#sentText.get(msg.id as number) ?? `(id ${String(msg.id)})`);
      this.#sentText.delete(msg.id as number);
      if (msg.ok && Array.isArray((msg as { data?: { consumers?: unknown } }).data?.consumers)) stats.consumes++;
      onReply(msg as { id: unknown; ok: boolean });
    });
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(data: string | Buffer, binary = false, id?: number): void {
    if (!this.open) return;
    // Only the latest requests are kept for the report: a socket that is never answered stays small.
    if (id !== undefined && typeof data === 'string') {
      this.#sentText.set(id, data.slice(0, 2000));
      if (this.#sentText.size > 200) this.#sentText.delete(this.#sentText.keys().next().value as number);
    }
    this.stats.sent++;
    this.ws.send(data, { binary });
  }

  /** A valid request, answered: for setting up a connection's real transport and consumer. */
  request(id: number, method: string, data: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const onMessage = (raw: WebSocket.RawData) => {
        const msg = JSON.parse(raw.toString()) as { id: unknown; ok: boolean; data: Record<string, unknown> };
        if (msg.id !== id) return;
        this.ws.off('message', onMessage);
        if (msg.ok) resolve(msg.data);
        else reject(new Error(`${method}: ${JSON.stringify(msg)}`));
      };
      this.ws.on('message', onMessage);
      this.send(JSON.stringify({ id, method, data }), false, id);
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a fuzz run does; JSON, so it can be handed to another process. */
export interface FuzzPlan {
  url: string;
  seed: number;
  durationMs: number;
  /** One viewer token per authenticated client. */
  tokens: string[];
  /** A token with a broken signature, for the unauthenticated clients. */
  forged: string;
  unauthenticated: number;
  raw: number;
}

export interface FuzzReport {
  sent: number;
  connections: number;
  consumes: number;
  replies: Record<string, number>;
  closes: Record<string, number>;
  internal: string[];
  /** CPU time of this process (user + system) while it ran the clients. */
  cpuMs: number;
}

/** Until `stop`: opens a socket, runs `session` on it while it is open, opens another when it closes. */
async function reconnecting(stop: number, open: () => FuzzSocket, session: (s: FuzzSocket) => Promise<void>) {
  while (Date.now() < stop) {
    const s = open();
    if (await s.opened) await Promise.race([session(s).catch(() => {}), s.closed]);
    s.close();
    await sleep(50);
  }
}

const pace = (r: Rand) => sleep(40 + r() * 40); // about 16 messages per second and client

/** Authenticated: a real transport and consumer, then mutated requests on them and others' ids. */
async function authenticatedClient(plan: FuzzPlan, i: number, stats: FuzzStats, shared: Known['shared']) {
  const r = prng(plan.seed + i);
  const stop = Date.now() + plan.durationMs;
  let id = 1;
  const known: Known = { token: plan.tokens[i] as string, caps: {}, transports: [], consumers: [], shared };
  const learn = (msg: { ok: boolean; data?: Record<string, unknown> }) => {
    if (msg.data?.['iceParameters']) {
      known.transports.push(String(msg.data['id']));
      shared.transports.push(String(msg.data['id']));
    }
    for (const c of (msg.data?.['consumers'] as { id: string }[] | undefined) ?? []) {
      known.consumers.push(c.id);
      shared.consumers.push(c.id);
    }
  };
  await reconnecting(
    stop,
    () => new FuzzSocket(plan.url, stats, {}, learn),
    async (s) => {
      await s.request(id++, 'auth', { token: known.token });
      known.caps = (await s.request(id++, 'getRouterRtpCapabilities'))['rtpCapabilities'];
      // Its own transport and consumer, unless an earlier socket of this client used up its limits.
      const t = await s.request(id++, 'createTransport').catch(() => ({ id: known.transports[0] }));
      await s
        .request(id++, 'consume', { transportId: t['id'], stream: 'fz-cam', rtpCapabilities: known.caps })
        .catch(() => {});
      while (Date.now() < stop && s.open) {
        if (r() < 0.01) {
          // A burst over the rate limit (40).
          for (let n = 0; n < 60; n++, id++) s.send(JSON.stringify({ id, ...validRequest(r, known) }), false, id);
        } else {
          s.send(mutatedRequest(r, known, id), false, id++);
        }
        await pace(r);
      }
    },
  );
}

/** Never authenticated: mutated requests (auth among them, with bad tokens), bad bearer subprotocols. */
async function unauthenticatedClient(plan: FuzzPlan, i: number, stats: FuzzStats, shared: Known['shared']) {
  const r = prng(plan.seed + 100 + i);
  const stop = Date.now() + plan.durationMs;
  let id = 1;
  const { forged } = plan;
  const known: Known = {
    token: forged,
    caps: { codecs: [] },
    transports: shared.transports,
    consumers: shared.consumers,
    shared,
  };
  await reconnecting(
    stop,
    () => new FuzzSocket(plan.url, stats, r() < 0.2 ? { protocols: ['cctv.v1', `bearer.${forged}`] } : {}),
    async (s) => {
      while (Date.now() < stop && s.open) {
        s.send(mutatedRequest(r, known, id), false, id++);
        await pace(r);
      }
    },
  );
}

/** Frames that are no message: binary, invalid UTF-8, oversize, huge, deep; now and then a foreign origin. */
async function rawClient(plan: FuzzPlan, i: number, stats: FuzzStats) {
  const r = prng(plan.seed + 200 + i);
  const stop = Date.now() + plan.durationMs;
  await reconnecting(
    stop,
    () => new FuzzSocket(plan.url, stats, r() < 0.1 ? { origin: 'https://evil.example' } : {}),
    async (s) => {
      while (Date.now() < stop && s.open) {
        const f = rawFrame(r);
        s.send(f.data, f.binary);
        await sleep(80 + r() * 80);
      }
    },
  );
}

/** Runs every client of `plan` at once for its duration. */
export async function runFuzz(plan: FuzzPlan): Promise<FuzzReport> {
  const stats = newStats();
  const shared: Known['shared'] = { transports: [], consumers: [] };
  const cpu0 = process.cpuUsage();
  await Promise.all([
    ...plan.tokens.map((_, i) => authenticatedClient(plan, i, stats, shared)),
    ...Array.from({ length: plan.unauthenticated }, (_, i) => unauthenticatedClient(plan, i, stats, shared)),
    ...Array.from({ length: plan.raw }, (_, i) => rawClient(plan, i, stats)),
  ]);
  const cpu = process.cpuUsage(cpu0);
  return {
    sent: stats.sent,
    connections: stats.connections,
    consumes: stats.consumes,
    replies: Object.fromEntries([...stats.replies].sort()),
    closes: Object.fromEntries(stats.closes),
    internal: stats.internal,
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
  };
}
