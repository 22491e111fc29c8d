// The video of one stream variant since its latest keyframe: the RTP payloads from the latest IDR
// (with the SPS/PPS before it) up to now, kept as one copy per packet from the forwarder's tap, so a
// snapshot can decode up to the newest frame without waiting for the camera's next keyframe.
// Bounded in bytes: a GOP larger than the bound keeps its start (a snapshot is then older, and says
// so by its frame time). Nothing is parsed on the hot path beyond the RTP header and the first bytes
// of the payload.
import { HAS_SPS, IDR_START, inspectH264, NAL_FU_A, NAL_PPS, NAL_STAP_A, parameterSets } from '../ingest/rtsp/h264.js';
import { payloadEnd, payloadOffset } from '../ingest/rtsp/rtp.js';

const START_CODE = Buffer.from([0, 0, 0, 1]);

/** What the cache holds now: the access units from the latest keyframe to the newest complete frame. */
export interface CachedGop {
  /** Annex-B H.264, SPS and PPS first. */
  annexB: Buffer;
  /** Complete frames in it (the keyframe is the first). */
  frames: number;
  /** When the keyframe and the newest complete frame arrived (ms since epoch). */
  keyframeAt: number;
  frameAt: number;
  /** The GOP outgrew the bound: its later frames were not kept. */
  truncated: boolean;
}

interface Waiter {
  after: number;
  resolve: (ok: boolean) => void;
  timer: NodeJS.Timeout;
}

export class KeyframeCache {
  #payloads: Buffer[] = [];
  #bytes = 0;
  /** Payloads up to the newest marker (a complete access unit), and how many frames that is. */
  #completeCount = 0;
  #frames = 0;
  #ts = -1;
  #keyframeAt = 0;
  #frameAt = 0;
  #truncated = false;
  #sps: Buffer | undefined;
  #pps: Buffer | undefined;
  #waiters: Waiter[] = [];

  constructor(readonly maxBytes: number) {}

  /** Bytes held now (for the memory figure of the benchmark and metrics). */
  get bytes(): number {
    return this.#bytes;
  }

  /** One RTP packet as sent to mediasoup (the forwarder's tap); `buf` is not kept. */
  push(buf: Buffer, off: number, len: number): void {
    const rel = payloadOffset(buf, off, len);
    if (rel < 0) return;
    const p = off + rel;
    const end = off + payloadEnd(buf, off, len);
    if (end <= p) return;
    const ts = buf.readUInt32BE(off + 4);
    const flags = inspectH264(buf, p, end - p);
    // A keyframe's first packet: its SPS, or its IDR when no SPS came before it with its timestamp.
    if (flags & (HAS_SPS | IDR_START) && ts !== this.#ts) this.#reset();
    if (flags & HAS_SPS) {
      const ps = parameterSets(buf, p, end - p);
      if (ps.sps) this.#sps = ps.sps;
      if (ps.pps) this.#pps = ps.pps;
    } else if (((buf[p] as number) & 0x1f) === NAL_PPS) this.#pps = Buffer.from(buf.subarray(p, end));
    this.#ts = ts;
    if (this.#keyframeAt === 0) return; // waiting for the first keyframe
    if (this.#bytes + (end - p) > this.maxBytes) {
      this.#truncated = true;
      return;
    }
    this.#payloads.push(Buffer.from(buf.subarray(p, end)));
    this.#bytes += end - p;
    if ((buf[off + 1] as number) & 0x80) {
      this.#completeCount = this.#payloads.length;
      this.#frames++;
      this.#frameAt = Date.now();
      if (this.#waiters.length) this.#wake();
    }
  }

  #reset(): void {
    this.#payloads = [];
    this.#bytes = 0;
    this.#completeCount = 0;
    this.#frames = 0;
    this.#truncated = false;
    this.#keyframeAt = Date.now();
  }

  /** Forgets the picture (the ingest stopped: what is held is no longer current). */
  clear(): void {
    this.#reset();
    this.#keyframeAt = 0;
    this.#frameAt = 0;
    this.#ts = -1;
  }

  /** The newest complete frame arrived at or after `after` (ms since epoch). */
  hasFrameSince(after: number): boolean {
    return this.#frames > 0 && this.#frameAt >= after;
  }

  /** Resolves true once a complete frame newer than `after` is held, false after `timeoutMs`. */
  whenFrame(after: number, timeoutMs: number): Promise<boolean> {
    if (this.hasFrameSince(after)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w: Waiter = {
        after,
        resolve,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((x) => x !== w);
          resolve(false);
        }, timeoutMs),
      };
      this.#waiters.push(w);
    });
  }

  #wake(): void {
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (this.#frameAt >= w.after) {
        clearTimeout(w.timer);
        w.resolve(true);
      } else still.push(w);
    }
    this.#waiters = still;
  }

  /** The held GOP as Annex-B up to its newest complete frame, or undefined before the first keyframe. */
  gop(): CachedGop | undefined {
    if (this.#frames === 0) return undefined;
    const parts: Buffer[] = [];
    // Parameter sets first, in case the camera sent them only in its SDP (the relay then inserts a
    // STAP-A, which comes through here too; duplicates cost the decoder nothing).
    if (this.#sps && this.#pps) parts.push(START_CODE, this.#sps, START_CODE, this.#pps);
    for (let i = 0; i < this.#completeCount; i++) appendAnnexB(parts, this.#payloads[i] as Buffer);
    return {
      annexB: Buffer.concat(parts),
      frames: this.#frames,
      keyframeAt: this.#keyframeAt,
      frameAt: this.#frameAt,
      truncated: this.#truncated,
    };
  }

  close(): void {
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.#waiters = [];
    this.clear();
  }
}

/** One RTP payload (RFC 6184: a single NAL unit, a STAP-A or a FU-A fragment) as Annex-B parts. */
export function appendAnnexB(parts: Buffer[], payload: Buffer): void {
  const type = (payload[0] as number) & 0x1f;
  if (type === NAL_STAP_A) {
    let p = 1;
    while (p + 2 < payload.length) {
      const size = payload.readUInt16BE(p);
      if (size === 0 || p + 2 + size > payload.length) break;
      parts.push(START_CODE, payload.subarray(p + 2, p + 2 + size));
      p += 2 + size;
    }
  } else if (type === NAL_FU_A) {
    if (payload.length < 2) return;
    const fu = payload[1] as number;
    if (fu & 0x80) parts.push(START_CODE, Buffer.from([((payload[0] as number) & 0xe0) | (fu & 0x1f)]));
    parts.push(payload.subarray(2));
  } else if (type >= 1 && type <= 23) {
    parts.push(START_CODE, payload);
  }
}
