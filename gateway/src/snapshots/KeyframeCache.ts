// The video of one stream variant since its latest keyframe: the RTP payloads from the latest IDR
// (with the SPS/PPS before it) up to now, kept as one copy per packet from the forwarder's tap, so a
// snapshot can decode up to the newest frame without waiting for the camera's next keyframe.
// Bounded in bytes: a GOP larger than the bound keeps its start (a snapshot is then older, and says
// so by its frame time). Nothing is parsed on the hot path beyond the RTP header and the first bytes
// of the payload, and nothing allocated: payloads are copied into one arena per variant, reused from
// its start at each keyframe and grown (doubling, up to the bound) only when a GOP outgrows it.
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
  #arena: Buffer = Buffer.alloc(0);
  /** Where each payload starts in the arena and how long it is; `#count` of them are in use. */
  #starts = new Uint32Array(1024);
  #lengths = new Uint32Array(1024);
  #count = 0;
  #bytes = 0;
  /** Payloads up to the newest marker (a complete access unit), and how many frames that is. */
  #completeCount = 0;
  #frames = 0;
  #ts = -1;
  #keyframeAt = 0;
  /** The time between the two latest keyframes (0 until two came): the camera's GOP, as it sends it. */
  #gopMs = 0;
  #frameAt = 0;
  #truncated = false;
  #sps: Buffer | undefined;
  #pps: Buffer | undefined;
  #waiters: Waiter[] = [];

  constructor(readonly maxBytes: number) {}

  /** Bytes of video held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bytes the cache's arena takes (its memory, whatever it holds now). */
  get capacity(): number {
    return this.#arena.length;
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
    if (flags & (HAS_SPS | IDR_START) && ts !== this.#ts) {
      const now = Date.now();
      if (this.#keyframeAt > 0) this.#gopMs = now - this.#keyframeAt;
      this.#reset(now);
    }
    if (flags & HAS_SPS) {
      const ps = parameterSets(buf, p, end - p);
      if (ps.sps) this.#sps = ps.sps;
      if (ps.pps) this.#pps = ps.pps;
    } else if (((buf[p] as number) & 0x1f) === NAL_PPS) this.#pps = Buffer.from(buf.subarray(p, end));
    this.#ts = ts;
    if (this.#keyframeAt === 0) return; // waiting for the first keyframe
    const n = end - p;
    if (this.#bytes + n > this.#arena.length && !this.#grow(this.#bytes + n)) {
      this.#truncated = true;
      return;
    }
    if (this.#count === this.#starts.length) this.#growIndex();
    buf.copy(this.#arena, this.#bytes, p, end);
    this.#starts[this.#count] = this.#bytes;
    this.#lengths[this.#count] = n;
    this.#count++;
    this.#bytes += n;
    if ((buf[off + 1] as number) & 0x80) {
      this.#completeCount = this.#count;
      this.#frames++;
      this.#frameAt = Date.now();
      if (this.#waiters.length) this.#wake();
    }
  }

  /** A larger arena (what it holds copied over), or false past the bound. */
  #grow(need: number): boolean {
    if (need > this.maxBytes) return false;
    let size = Math.max(64 * 1024, this.#arena.length);
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(Math.min(size, this.maxBytes));
    this.#arena.copy(next, 0, 0, this.#bytes);
    this.#arena = next;
    return true;
  }

  #growIndex(): void {
    const starts = new Uint32Array(this.#starts.length * 2);
    const lengths = new Uint32Array(this.#lengths.length * 2);
    starts.set(this.#starts);
    lengths.set(this.#lengths);
    this.#starts = starts;
    this.#lengths = lengths;
  }

  #reset(now = Date.now()): void {
    this.#count = 0;
    this.#bytes = 0;
    this.#completeCount = 0;
    this.#frames = 0;
    this.#truncated = false;
    this.#keyframeAt = now;
  }

  /**
   * When the camera's next keyframe is due if it keeps its GOP (ms from `now`), and that GOP; undefined
   * before a keyframe came, or until two came unless `gopHint` (the GOP as another ingest of the camera
   * saw it) is given. A camera that ignores keyframe requests sends them only this way, so a planned
   * switch of viewers to this ingest (a drain) is timed to land just before one.
   */
  nextKeyframe(gopHint = 0, now = Date.now()): { inMs: number; gopMs: number } | undefined {
    const gop = this.#gopMs || gopHint;
    if (gop <= 0 || this.#keyframeAt === 0) return undefined;
    const since = (now - this.#keyframeAt) % gop;
    return { inMs: gop - since, gopMs: gop };
  }

  /** The time between the two latest keyframes (0 until two came). */
  get gopMs(): number {
    return this.#gopMs;
  }

  /** Forgets the picture and frees its memory (the ingest stopped: what is held is no longer current). */
  clear(): void {
    this.#reset();
    this.#arena = Buffer.alloc(0);
    this.#keyframeAt = 0;
    this.#gopMs = 0;
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
    for (let i = 0; i < this.#completeCount; i++) {
      const start = this.#starts[i] as number;
      appendAnnexB(parts, this.#arena.subarray(start, start + (this.#lengths[i] as number)));
    }
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
