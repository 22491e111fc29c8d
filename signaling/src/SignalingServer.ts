// WebSocket endpoint /ws: validates every message against the protocol's schemas, answers each
// request with data or an error code, and closes sockets that do not authenticate in time.
// It knows nothing of media: ViewerSession does that.
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { Ajv, type ValidateFunction } from 'ajv';
import { type WebSocket, WebSocketServer } from 'ws';
import { GatewayError, publicError } from '../../gateway/src/errors.js';
import type { Logger } from '../../gateway/src/log.js';
import type { WorkerPool } from '../../gateway/src/media/WorkerPool.js';
import type { StreamRegistry } from '../../gateway/src/streams/StreamRegistry.js';
import type { TokenVerifier } from './auth.js';
import { type Method, Methods, RequestEnvelope } from './protocol.js';
import { ViewerSession } from './ViewerSession.js';

export interface SignalingOptions {
  pool: WorkerPool;
  streams: StreamRegistry;
  verifier: TokenVerifier;
  logger: Logger;
  authTimeoutMs?: number;
  maxMessageBytes?: number;
}

export class SignalingServer {
  readonly #wss: WebSocketServer;
  readonly #validateEnvelope: ValidateFunction;
  readonly #validators: Record<Method, ValidateFunction>;
  readonly #sessions = new Set<ViewerSession>();

  constructor(private readonly opts: SignalingOptions) {
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxMessageBytes ?? 64 * 1024 });
    const ajv = new Ajv({ allErrors: false, strict: false });
    this.#validateEnvelope = ajv.compile(RequestEnvelope);
    this.#validators = Object.fromEntries(Object.entries(Methods).map(([m, s]) => [m, ajv.compile(s)])) as Record<
      Method,
      ValidateFunction
    >;
  }

  get connections(): number {
    return this.#sessions.size;
  }

  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (new URL(req.url ?? '/', 'http://x').pathname !== '/ws') {
        socket.destroy();
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, req));
    });
  }

  #onConnection(ws: WebSocket, req: IncomingMessage): void {
    const logger = this.opts.logger.child({ peer: req.socket.remoteAddress });
    const send = (msg: unknown) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
    };
    const session = new ViewerSession({
      pool: this.opts.pool,
      streams: this.opts.streams,
      verifier: this.opts.verifier,
      logger,
      notify: (notification, data) => send({ notification, data }),
    });
    this.#sessions.add(session);
    const authTimer = setTimeout(() => {
      if (!session.claims) {
        send({ notification: 'closing', data: { code: 'E_UNAUTHENTICATED', message: 'no auth message in time' } });
        ws.close(4401, 'authentication timeout');
      }
    }, this.opts.authTimeoutMs ?? 5000);

    ws.on('message', async (raw, isBinary) => {
      let id: number | null = null;
      try {
        if (isBinary) throw new GatewayError('E_BAD_REQUEST', 'messages must be JSON text');
        let msg: unknown;
        try {
          msg = JSON.parse(raw.toString());
        } catch {
          throw new GatewayError('E_BAD_REQUEST', 'the message is not valid JSON');
        }
        if (!this.#validateEnvelope(msg)) {
          const e = this.#validateEnvelope.errors?.[0];
          throw new GatewayError(
            'E_BAD_REQUEST',
            `the message ${e?.instancePath || ''} ${e?.message ?? 'is malformed'}`.replace(/\s+/g, ' '),
          );
        }
        const req = msg as { id: number; method: string; data?: Record<string, unknown> };
        id = req.id;
        const validate = this.#validators[req.method as Method];
        if (!validate) throw new GatewayError('E_BAD_REQUEST', `unknown method "${req.method.slice(0, 64)}"`);
        const data = req.data ?? {};
        if (!validate(data)) {
          const e = validate.errors?.[0];
          throw new GatewayError(
            'E_BAD_REQUEST',
            `${req.method}: data${e?.instancePath ?? ''} ${e?.message ?? 'is invalid'}`,
          );
        }
        const handler = session.handlers[req.method as Method] as (d: unknown) => Promise<unknown>;
        send({ id, ok: true, data: await handler(data) });
      } catch (err) {
        const pub = publicError(err);
        if (pub.code === 'E_INTERNAL') logger.error({ err }, 'signaling request failed');
        else logger.info({ code: pub.code, reason: pub.message }, 'signaling request refused');
        send({ id, ok: false, error: pub });
      }
    });
    ws.on('close', () => {
      clearTimeout(authTimer);
      session.close();
      this.#sessions.delete(session);
    });
    ws.on('error', (err) => logger.warn({ err: err.message }, 'websocket error'));
  }

  close(): void {
    for (const ws of this.#wss.clients) ws.close(1001, 'gateway shutting down');
    for (const s of this.#sessions) s.close();
    this.#wss.close();
  }
}
