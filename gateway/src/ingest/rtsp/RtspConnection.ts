// One RTSP control connection (TCP, or TLS for rtsps://): requests with CSeq, answers matched in
// order, Basic/Digest authentication on a 401, interleaved RTP/RTCP frames handed to a callback,
// and DESCRIBE that follows 3xx redirects. Errors carry a failure reason the supervisor can use.
import net from 'node:net';
import tls from 'node:tls';
import { Authenticator, type Credentials, parseChallenges, pickChallenge, splitCredentials } from './auth.js';
import { type FrameHandler, formatRequest, header, RtspDemuxer, type RtspMessage } from './message.js';

export type RtspFailure = 'auth' | 'not_found' | 'unreachable' | 'timeout' | 'bad_stream' | 'exit';

export class RtspError extends Error {
  constructor(
    message: string,
    readonly reason: RtspFailure,
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

export function reasonForStatus(status: number): RtspFailure {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404 || status === 410) return 'not_found';
  if (status === 415 || status === 461) return 'bad_stream';
  return 'exit';
}

const SOCKET_REASONS: Record<string, [RtspFailure, string]> = {
  ECONNREFUSED: ['unreachable', 'Connection refused'],
  EHOSTUNREACH: ['unreachable', 'No route to host'],
  ENETUNREACH: ['unreachable', 'Network is unreachable'],
  ENOTFOUND: ['unreachable', 'Name or service not known'],
  EAI_AGAIN: ['unreachable', 'Name resolution failed'],
  ETIMEDOUT: ['timeout', 'Connection timed out'],
  ECONNRESET: ['exit', 'Connection reset by peer'],
  EPIPE: ['exit', 'Broken pipe'],
};

function socketError(err: NodeJS.ErrnoException, where: string): RtspError {
  const known = SOCKET_REASONS[err.code ?? ''];
  if (known) return new RtspError(`${known[1]} (${where})`, known[0]);
  return new RtspError(`${err.message} (${where})`, 'exit');
}

/**
 * Receive buffers for a plain TCP connection, read into in turn (Node's `onread`: no allocation and
 * no stream machinery per read). A frame inside a read is rewritten and sent from the read buffer
 * itself, so a buffer whose UDP send was queued (not sent at once) is retired, never read into again.
 */
class ReadRing {
  readonly #bufs: Buffer[];
  #i = 0;

  constructor(
    count: number,
    private readonly size: number,
  ) {
    this.#bufs = Array.from({ length: count }, () => Buffer.allocUnsafe(size));
  }

  next(): Buffer {
    const b = this.#bufs[this.#i] as Buffer;
    this.#i = (this.#i + 1) % this.#bufs.length;
    return b;
  }

  /** Replaces the ring buffer `view` lies in (buffers this large own their ArrayBuffer). */
  retire(view: Buffer): void {
    const i = this.#bufs.findIndex((b) => b.buffer === view.buffer);
    if (i >= 0) this.#bufs[i] = Buffer.allocUnsafe(this.size);
  }
}

const READ_BUFFERS = 4;
const READ_BUFFER_SIZE = 32 * 1024;

export interface RtspConnectionOptions {
  /** Timeout of the TCP connect and of each request's answer. */
  timeoutMs: number;
  userAgent?: string;
  /** Called for every interleaved frame; see RtspDemuxer for the buffer's lifetime. */
  onFrame?: FrameHandler;
}

interface Pending {
  method: string;
  resolve: (msg: RtspMessage) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

interface Target {
  host: string;
  port: number;
  secure: boolean;
}

function parseTarget(url: string): Target {
  const m = /^(rtsps?):\/\/(?:[^/@]*@)?(\[[^\]]+\]|[^:/?#]+)(?::(\d+))?/i.exec(url);
  if (!m) throw new RtspError(`not an RTSP URL`, 'bad_stream');
  const secure = (m[1] as string).toLowerCase() === 'rtsps';
  const host = (m[2] as string).replace(/^\[|\]$/g, '');
  return { host, port: m[3] ? Number(m[3]) : secure ? 322 : 554, secure };
}

export class RtspConnection {
  readonly #socket: net.Socket;
  readonly #demux: RtspDemuxer;
  readonly #pending: Pending[] = [];
  readonly #target: Target;
  #cseq = 0;
  #auth: Authenticator | undefined;
  #closed = false;
  #closeError: RtspError | undefined;
  #onClose: ((err: RtspError) => void) | undefined;
  onFrame: FrameHandler;
  /**
   * Asked after each read whose frames were handed out: true when a send from that buffer may still
   * be pending (a UDP send queue is not empty), so the buffer must not be read into again.
   */
  buffersBusy: () => boolean = () => false;
  readonly #ring: ReadRing | undefined;
  /** The URL as requested, without credentials (what goes on the wire and into logs). */
  readonly url: string;
  readonly creds: Credentials | undefined;

  private constructor(
    socket: net.Socket,
    target: Target,
    url: string,
    creds: Credentials | undefined,
    private readonly opts: RtspConnectionOptions,
    ring: ReadRing | undefined,
  ) {
    this.#socket = socket;
    this.#ring = ring;
    this.#target = target;
    this.url = url;
    this.creds = creds;
    this.onFrame = opts.onFrame ?? (() => {});
    this.#demux = new RtspDemuxer(
      (ch, buf, off, len) => this.onFrame(ch, buf, off, len),
      (msg) => this.#onMessage(msg),
    );
    if (!ring) socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (err) => this.#fail(socketError(err, this.where)));
    socket.on('close', () => this.#fail(new RtspError(`connection closed by the camera (${this.where})`, 'exit')));
  }

  /** Bytes from the socket (the 'data' event, or `onread` into a ring buffer). */
  receive(chunk: Buffer, length = chunk.length): void {
    if (this.#closed) return;
    try {
      this.#demux.push(chunk, length);
    } catch (err) {
      this.#fail(new RtspError((err as Error).message, 'bad_stream'));
      return;
    }
    if (this.#ring && this.buffersBusy()) {
      this.#ring.retire(chunk);
      this.#demux.retireSlots();
    }
  }

  /** host:port, for messages (never the credentials). */
  get where(): string {
    const h = this.#target.host.includes(':') ? `[${this.#target.host}]` : this.#target.host;
    return `${h}:${this.#target.port}`;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get localAddress(): string {
    return this.#socket.localAddress ?? '';
  }

  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? this.#target.host;
  }

  /** Opens the TCP (or TLS) connection to the URL's host. The URL may hold user:password. */
  static open(rawUrl: string, opts: RtspConnectionOptions): Promise<RtspConnection> {
    const { url, creds } = splitCredentials(rawUrl);
    let target: Target;
    try {
      target = parseTarget(url);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const ring = target.secure ? undefined : new ReadRing(READ_BUFFERS, READ_BUFFER_SIZE);
      let conn: RtspConnection | undefined;
      const socket = target.secure
        ? tls.connect({ host: target.host, port: target.port, rejectUnauthorized: false, servername: target.host })
        : net.connect({
            host: target.host,
            port: target.port,
            onread: {
              buffer: () => (ring as ReadRing).next(),
              callback: (n: number, buf: Uint8Array) => {
                conn?.receive(buf as Buffer, n);
                return true;
              },
            },
          });
      socket.setNoDelay(true);
      const where = `${target.host}:${target.port}`;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RtspError(`Connection timed out (${where})`, 'timeout'));
      }, opts.timeoutMs);
      const onError = (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        reject(socketError(err, where));
      };
      socket.once('error', onError);
      socket.once(target.secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        conn = new RtspConnection(socket, target, url, creds, opts, ring);
        resolve(conn);
      });
    });
  }

  /** Called once when the connection ends for any reason other than close(). */
  onClose(fn: (err: RtspError) => void): void {
    this.#onClose = fn;
    if (this.#closeError) fn(this.#closeError);
  }

  /**
   * Sends a request and resolves with the answer. On a 401 it answers the challenge with the URL's
   * credentials once (again when the nonce went stale). Rejects with RtspError on 4xx/5xx answers
   * (3xx are returned), on timeout and when the connection ends.
   */
  async request(
    method: string,
    url: string,
    headers: Record<string, string | number> = {},
    opts: { allowError?: boolean } = {},
  ): Promise<RtspMessage> {
    let res = await this.#send(method, url, headers);
    for (let tries = 0; res.status === 401 && tries < 2; tries++) {
      const challenge = pickChallenge(parseChallenges(res.headers.get('www-authenticate') ?? []));
      const stale = /^true$/i.test(challenge?.params['stale'] ?? '');
      if (!this.creds || !challenge || (this.#auth && tries > 0 && !stale)) break;
      if (this.#auth && !stale && this.#sameChallenge(challenge.params)) break; // the credentials were refused
      this.#auth = new Authenticator(challenge, this.creds);
      res = await this.#send(method, url, headers);
    }
    if (res.status >= 400 && !opts.allowError) {
      const why = res.status === 401 && !this.creds ? ' (the URL has no credentials)' : '';
      throw new RtspError(
        `${method}: RTSP ${res.status} ${res.reason}${why} (${this.where})`,
        reasonForStatus(res.status),
        res.status,
      );
    }
    return res;
  }

  #sameChallenge(params: Record<string, string>): boolean {
    return this.#auth?.challenge.params['nonce'] === params['nonce'];
  }

  #send(method: string, url: string, headers: Record<string, string | number>): Promise<RtspMessage> {
    if (this.#closed) return Promise.reject(this.#closeError ?? new RtspError('connection closed', 'exit'));
    const all: Record<string, string | number> = { CSeq: ++this.#cseq, ...headers };
    if (this.opts.userAgent) all['User-Agent'] = this.opts.userAgent;
    if (this.#auth) all['Authorization'] = this.#auth.header(method, url);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = new RtspError(`${method}: no answer within ${this.opts.timeoutMs} ms (${this.where})`, 'timeout');
        reject(err);
        this.#fail(err);
      }, this.opts.timeoutMs);
      this.#pending.push({ method, resolve, reject, timer });
      this.#socket.write(formatRequest(method, url, all));
    });
  }

  /** Writes an interleaved frame ($ channel length payload). */
  sendFrame(channel: number, payload: Buffer, length = payload.length): void {
    if (this.#closed) return;
    const head = Buffer.allocUnsafe(4);
    head[0] = 0x24;
    head[1] = channel;
    head.writeUInt16BE(length, 2);
    this.#socket.cork();
    this.#socket.write(head);
    this.#socket.write(length === payload.length ? payload : payload.subarray(0, length));
    this.#socket.uncork();
  }

  #onMessage(msg: RtspMessage): void {
    if (msg.method) {
      // A request from the camera (e.g. GET_PARAMETER, ANNOUNCE): answer so it does not wait on us.
      const cseq = header(msg, 'cseq') ?? '0';
      const ok = msg.method === 'OPTIONS' || msg.method === 'GET_PARAMETER'; // pings
      this.#socket.write(`RTSP/1.0 ${ok ? '200 OK' : '501 Not Implemented'}\r\nCSeq: ${cseq}\r\n\r\n`);
      return;
    }
    const p = this.#pending.shift();
    if (!p) return;
    clearTimeout(p.timer);
    p.resolve(msg);
  }

  #fail(err: RtspError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = err;
    for (const p of this.#pending.splice(0)) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#socket.destroy();
    this.#onClose?.(err);
  }

  /** Closes without reporting (the owner ended it). */
  close(): void {
    if (this.#closed) return;
    const onClose = this.#onClose;
    this.#onClose = undefined;
    this.#fail(new RtspError('closed', 'exit'));
    this.#onClose = onClose;
  }

  /** Sends TEARDOWN (best effort, bounded wait) and closes. */
  async teardown(url: string, session: string, waitMs = 500): Promise<void> {
    if (this.#closed) return;
    this.#onClose = undefined; // a camera may hang up right after TEARDOWN: that is no failure
    const done = this.request('TEARDOWN', url, { Session: session }, { allowError: true }).catch(() => undefined);
    await Promise.race([done, new Promise((r) => setTimeout(r, waitMs).unref())]);
    this.close();
  }
}

export interface Described {
  conn: RtspConnection;
  /** The URL that answered (after redirects), without credentials. */
  url: string;
  /** Content-Base (or Content-Location, or url): what relative a=control lines extend. */
  base: string;
  sdp: string;
  redirects: number;
}

const MAX_REDIRECTS = 5;

/**
 * Connects and sends DESCRIBE, following 3xx redirects (at most 5). Credentials of the original URL
 * are kept for a redirect to the same host and dropped for another host unless its URL has its own.
 */
export async function describe(rawUrl: string, opts: RtspConnectionOptions): Promise<Described> {
  let url = rawUrl;
  for (let redirects = 0; ; redirects++) {
    const conn = await RtspConnection.open(url, opts);
    let res: RtspMessage;
    try {
      res = await conn.request('DESCRIBE', conn.url, { Accept: 'application/sdp' });
    } catch (err) {
      conn.close();
      throw err;
    }
    if (res.status >= 300 && res.status < 400) {
      conn.close();
      const location = header(res, 'location');
      if (!location || redirects >= MAX_REDIRECTS) {
        throw new RtspError(
          `DESCRIBE: RTSP ${res.status} without a usable redirect (${conn.where})`,
          'not_found',
          res.status,
        );
      }
      url = redirectTarget(url, location);
      continue;
    }
    const type = header(res, 'content-type') ?? 'application/sdp';
    if (!/application\/sdp/i.test(type) || res.body.length === 0) {
      conn.close();
      throw new RtspError(`DESCRIBE: the answer is not SDP (${type}) (${conn.where})`, 'bad_stream', res.status);
    }
    const base = header(res, 'content-base') ?? header(res, 'content-location') ?? conn.url;
    return { conn, url: conn.url, base, sdp: res.body.toString('utf8'), redirects };
  }
}

/** The URL to follow a redirect to, with the old credentials only when the host stays the same. */
export function redirectTarget(fromRaw: string, location: string): string {
  const from = splitCredentials(fromRaw);
  const to = splitCredentials(location);
  let next = to.url;
  if (next.startsWith('/')) {
    const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)/i.exec(from.url);
    next = `${m ? m[1] : ''}${next}`;
  }
  if (to.creds || !from.creds) return to.creds ? location : next;
  const host = (u: string) => /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(u)?.[1]?.replace(/:\d+$/, '').toLowerCase();
  if (host(next) !== host(from.url)) return next;
  const m = /^([a-z][a-z0-9+.-]*:\/\/)(.*)$/i.exec(next);
  const userinfo = `${encodeURIComponent(from.creds.user)}:${encodeURIComponent(from.creds.password)}`;
  return m ? `${m[1]}${userinfo}@${m[2]}` : next;
}
