// A real WebSocket client of the signaling protocol, for tests that need no browser.
import WebSocket from 'ws';

export interface Reply {
  id: number | null;
  ok: boolean;
  data?: Record<string, unknown>;
  error?: { code: string; message: string; reason?: string };
}

export class WsClient {
  readonly notifications: { notification: string; data: Record<string, unknown> }[] = [];
  readonly #waiting = new Map<number | null, (r: Reply) => void>();
  #next = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString()) as Reply & { notification?: string };
      if (msg.notification) {
        this.notifications.push(msg as unknown as { notification: string; data: Record<string, unknown> });
        return;
      }
      const w = this.#waiting.get(msg.id);
      this.#waiting.delete(msg.id);
      w?.(msg);
    });
  }

  static async connect(url: string): Promise<WsClient> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new WsClient(ws);
  }

  request(method: string, data: Record<string, unknown> = {}): Promise<Reply> {
    const id = this.#next++;
    this.ws.send(JSON.stringify({ id, method, data }));
    return new Promise((resolve) => this.#waiting.set(id, resolve));
  }

  /** Sends raw text and waits for the reply with id null (unparseable or invalid envelopes). */
  raw(text: string): Promise<Reply> {
    this.ws.send(text);
    return new Promise((resolve) => this.#waiting.set(null, resolve));
  }

  close(): void {
    this.ws.close();
  }
}
