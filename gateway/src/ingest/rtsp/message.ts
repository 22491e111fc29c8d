// RTSP/1.0 on a TCP stream: text messages (responses, and the odd server request) interleaved with
// binary `$ channel length payload` frames (RFC 2326 §10.12). The demuxer hands each frame out as
// (buffer, offset, length) without copying when the frame lies inside one received chunk; a frame
// split across chunks is gathered into one of a few rotating buffers, so the consumer may rewrite
// and send it in place. Pure; tested beside.

export interface RtspMessage {
  /** Responses: the status code; requests from the server: 0. */
  status: number;
  reason: string;
  /** Requests from the server: the method (e.g. ANNOUNCE, GET_PARAMETER); '' for responses. */
  method: string;
  /** Lower-cased name → values in order (WWW-Authenticate may repeat). */
  headers: Map<string, string[]>;
  body: Buffer;
}

export function header(msg: RtspMessage, name: string): string | undefined {
  return msg.headers.get(name.toLowerCase())?.[0];
}

export type FrameHandler = (channel: number, buf: Buffer, offset: number, length: number) => void;

const MAX_HEAD = 64 * 1024;
const MAX_BODY = 1024 * 1024;
const GATHER_SLOTS = 8;
const CR_LF_CR_LF = Buffer.from('\r\n\r\n');

export class RtspDemuxer {
  // Bytes of an incomplete item carried over from the previous chunk.
  #carry: Buffer = Buffer.alloc(0);
  #carryLen = 0;
  // Rotating buffers for frames that straddle chunks: a slot is reused only GATHER_SLOTS split frames
  // later, long after the synchronous UDP send that read it.
  readonly #slots: Buffer[] = [];
  #slot = 0;

  constructor(
    private readonly onFrame: FrameHandler,
    private readonly onMessage: (msg: RtspMessage) => void,
  ) {}

  /** Forgets the gather buffers (a send from one may still be queued): new ones are made as needed. */
  retireSlots(): void {
    this.#slots.length = 0;
  }

  /**
   * Feeds chunk[0, end) (end defaults to the whole chunk); throws on a malformed stream (the
   * connection should then be dropped).
   */
  push(chunk: Buffer, end = chunk.length): void {
    let off = 0;
    if (this.#carryLen > 0) {
      off = this.#completeCarry(end === chunk.length ? chunk : chunk.subarray(0, end));
      if (off < 0) return; // still incomplete; all of chunk was absorbed
    }
    while (off < end) {
      if (chunk[off] === 0x24) {
        if (end - off < 4) break;
        const len = chunk.readUInt16BE(off + 2);
        if (end - off < 4 + len) break;
        this.onFrame(chunk[off + 1] as number, chunk, off + 4, len);
        off += 4 + len;
        continue;
      }
      const used = this.#parseMessage(chunk, off, end);
      if (used === 0) break;
      off += used;
    }
    if (off < end) this.#stash(chunk, off, end);
  }

  #stash(chunk: Buffer, from: number, to: number): void {
    const need = this.#carryLen + (to - from);
    if (need > this.#carry.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, 2 * this.#carry.length, 4096));
      this.#carry.copy(grown, 0, 0, this.#carryLen);
      this.#carry = grown;
    }
    chunk.copy(this.#carry, this.#carryLen, from, to);
    this.#carryLen = need;
    if (this.#carryLen > MAX_HEAD + MAX_BODY + 4) throw new Error('RTSP: oversized message');
  }

  /** Completes the carried item from `chunk`; returns where parsing of `chunk` resumes, or -1. */
  #completeCarry(chunk: Buffer): number {
    const carry = this.#carry;
    if (carry[0] === 0x24) {
      // Header may itself be split.
      let off = 0;
      while (this.#carryLen < 4 && off < chunk.length) carry[this.#carryLen++] = chunk[off++] as number;
      if (this.#carryLen < 4) return -1;
      const len = carry.readUInt16BE(2);
      const missing = 4 + len - this.#carryLen;
      if (chunk.length - off < missing) {
        this.#stash(chunk, off, chunk.length);
        return -1;
      }
      let slot = this.#slots[this.#slot];
      if (!slot || slot.length < len) {
        slot = Buffer.allocUnsafe(Math.max(len, 2048));
        this.#slots[this.#slot] = slot;
      }
      this.#slot = (this.#slot + 1) % GATHER_SLOTS;
      carry.copy(slot, 0, 4, this.#carryLen);
      chunk.copy(slot, this.#carryLen - 4, off, off + missing);
      this.#carryLen = 0;
      this.onFrame(carry[1] as number, slot, 0, len);
      return off + missing;
    }
    // A text message: join carry + chunk and parse (rare: responses are small and seldom split).
    const joined = Buffer.concat([carry.subarray(0, this.#carryLen), chunk]);
    this.#carryLen = 0;
    let off = 0;
    while (off < joined.length && joined[off] !== 0x24) {
      const used = this.#parseMessage(joined, off, joined.length);
      if (used === 0) break;
      off += used;
    }
    if (off >= joined.length) return chunk.length;
    // Whatever remains of `joined` starts inside the old carry or inside chunk.
    const carried = joined.length - chunk.length;
    if (off >= carried) return off - carried;
    this.#stash(joined, off, joined.length);
    return -1;
  }

  /** Parses one text message at off; returns the bytes it used, 0 when incomplete. */
  #parseMessage(buf: Buffer, off: number, end: number): number {
    // Stray CR/LF between messages.
    let start = off;
    while (start < end && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
    if (start === end) return end - off;
    const headEnd = buf.indexOf(CR_LF_CR_LF, start);
    if (headEnd < 0 || headEnd >= end) {
      if (end - start > MAX_HEAD) throw new Error('RTSP: header too long');
      return 0;
    }
    const lines = buf.toString('latin1', start, headEnd).split('\r\n');
    const first = lines[0] ?? '';
    const headers = new Map<string, string[]>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const list = headers.get(name);
      const value = line.slice(colon + 1).trim();
      if (list) list.push(value);
      else headers.set(name, [value]);
    }
    const length = Number.parseInt(headers.get('content-length')?.[0] ?? '0', 10) || 0;
    if (length > MAX_BODY) throw new Error('RTSP: body too long');
    const bodyStart = headEnd + 4;
    if (end - bodyStart < length) return 0;
    let status = 0;
    let reason = '';
    let method = '';
    const resp = /^RTSP\/\d\.\d\s+(\d{3})\s*(.*)$/.exec(first);
    if (resp) {
      status = Number(resp[1]);
      reason = resp[2] ?? '';
    } else if (/^[A-Z_]+\s+\S+\s+RTSP\/\d\.\d$/.test(first)) {
      method = first.split(' ')[0] as string;
    } else {
      throw new Error(`RTSP: unexpected line ${JSON.stringify(first.slice(0, 60))}`);
    }
    const body = Buffer.from(buf.subarray(bodyStart, bodyStart + length));
    this.onMessage({ status, reason, method, headers, body });
    return bodyStart + length - off;
  }
}

export function formatRequest(method: string, url: string, headers: Record<string, string | number>): string {
  let out = `${method} ${url} RTSP/1.0\r\n`;
  for (const [k, v] of Object.entries(headers)) out += `${k}: ${v}\r\n`;
  return `${out}\r\n`;
}

/** Session header: `id;timeout=60`. */
export function parseSession(value: string | undefined): { id: string; timeoutSec: number } | undefined {
  if (!value) return undefined;
  const [id = '', ...params] = value.split(';').map((s) => s.trim());
  if (!id) return undefined;
  let timeoutSec = 60;
  for (const p of params) {
    const m = /^timeout\s*=\s*(\d+)/i.exec(p);
    if (m) timeoutSec = Number(m[1]) || 60;
  }
  return { id, timeoutSec };
}

export interface TransportReply {
  interleaved?: [number, number];
  serverPort?: [number, number];
  source?: string;
  ssrc?: number;
}

/** The server's Transport header answer to SETUP. */
export function parseTransport(value: string | undefined): TransportReply {
  const out: TransportReply = {};
  if (!value) return out;
  // A server may list alternatives separated by ','; the first is the chosen one.
  for (const p of (value.split(',')[0] ?? '').split(';')) {
    const [k = '', v = ''] = p.split('=').map((s) => s.trim());
    const key = k.toLowerCase();
    const pair = (): [number, number] | undefined => {
      const [a, b] = v.split('-').map((n) => Number.parseInt(n, 10));
      if (a === undefined || Number.isNaN(a)) return undefined;
      return [a, b === undefined || Number.isNaN(b) ? a + 1 : b];
    };
    if (key === 'interleaved') {
      const r = pair();
      if (r) out.interleaved = r;
    } else if (key === 'server_port') {
      const r = pair();
      if (r) out.serverPort = r;
    } else if (key === 'source') {
      out.source = v;
    } else if (key === 'ssrc') {
      const n = Number.parseInt(v, 16);
      if (!Number.isNaN(n)) out.ssrc = n >>> 0;
    }
  }
  return out;
}
