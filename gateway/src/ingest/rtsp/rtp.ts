// Rewrites a camera's RTP headers in place into the Producer's stream: its SSRC and payload type,
// sequence numbers that run on without a gap across RTSP reconnects (and across packets the relay
// inserts), and timestamps that keep increasing across reconnects. Pure; tested beside.
//
// Within one camera session, out = in + offset (mod 2^16 for sequence numbers, 2^32 for
// timestamps), so reordering and loss pass through unchanged. When a new session starts (or the
// camera's SSRC changes), the offsets are chosen so that its first packet gets the sequence number
// right after the last one forwarded and a timestamp advanced by the wall-clock time in between.
// Inserted packets take the sequence numbers of the packet they precede; that packet and all later
// ones move up by as many. Packets that arrive late from before the latest insertion keep the old
// offset (reordering across two insertions in a row is not undone: over RTSP/TCP there is none).

import { PLAYOUT_DELAY } from '../../media/codecs.js';
import { type SenderReport, writeSenderReport } from './rtcp.js';

export const RTP_HEADER = 12;
const LATE_WINDOW = 1024;

export function isRtp(buf: Buffer, off: number, len: number): boolean {
  return len >= RTP_HEADER && ((buf[off] as number) & 0xc0) === 0x80;
}

/** Offset of the payload from the packet start (CSRCs and header extension skipped), or -1. */
export function payloadOffset(buf: Buffer, off: number, len: number): number {
  const b0 = buf[off] as number;
  let p = RTP_HEADER + 4 * (b0 & 0x0f);
  if (b0 & 0x10) {
    if (p + 4 > len) return -1;
    p += 4 + 4 * buf.readUInt16BE(off + p + 2);
  }
  return p <= len ? p : -1;
}

/** Payload length without RTP padding. */
export function payloadEnd(buf: Buffer, off: number, len: number): number {
  return (buf[off] as number) & 0x20 ? len - (buf[off + len - 1] as number) : len;
}

export function seqNewer(a: number, b: number): boolean {
  const d = (a - b) & 0xffff;
  return d !== 0 && d < 0x8000;
}

export class RtpRewriter {
  #rebase = true;
  #inSsrc = -1;
  #seqOffset = 0;
  #tsOffset = 0;
  #insertAt = -1;
  #offsetBefore = 0;
  #hasOut = false;
  #lastOutSeq = 0;
  #lastOutTs = 0;
  #lastOutAt = 0;

  constructor(
    readonly ssrc: number,
    readonly payloadType: number,
    readonly clockRate: number,
  ) {}

  /** The camera stream starts over (new RTSP session): the next packet is mapped afresh. */
  newSession(): void {
    this.#rebase = true;
  }

  /** The camera's SSRC of the current mapping (-1 before the first packet). */
  get inSsrc(): number {
    return this.#inSsrc;
  }

  /** A camera RTP timestamp in the output timeline (for sender reports). */
  mapTimestamp(ts: number): number {
    return (ts + this.#tsOffset) >>> 0;
  }

  /**
   * Writes the input stream's sender report `sr` at out[0] as the output stream's (SSRC and RTP
   * timestamp mapped) and returns its length; 0 when `sr` is of another stream.
   */
  senderReport(out: Buffer, sr: SenderReport): number {
    if (sr.ssrc !== this.#inSsrc) return 0;
    return writeSenderReport(out, { ...sr, ssrc: this.ssrc, rtpTs: this.mapTimestamp(sr.rtpTs) });
  }

  /** The last sequence number sent (for tests and logs). */
  get lastSeq(): number {
    return this.#lastOutSeq;
  }

  /**
   * Rewrites the RTP header at buf[off] in place. With `insert` > 0, first reserves that many
   * sequence numbers for packets to be sent just before this one, and returns the first (else 0).
   * `nowMs` is any monotonic millisecond clock; it sizes the timestamp step across reconnects.
   */
  rewrite(buf: Buffer, off: number, nowMs: number, insert = 0): number {
    const inSeq = ((buf[off + 2] as number) << 8) | (buf[off + 3] as number);
    const inTs = buf.readUInt32BE(off + 4);
    const inSsrc = buf.readUInt32BE(off + 8);
    if (this.#rebase || inSsrc !== this.#inSsrc) this.#rebaseTo(inSeq, inTs, inSsrc, nowMs);
    let inserted = 0;
    if (insert > 0) {
      inserted = (inSeq + this.#seqOffset) & 0xffff;
      this.#offsetBefore = this.#seqOffset;
      this.#insertAt = inSeq;
      this.#seqOffset = (this.#seqOffset + insert) & 0xffff;
    }
    let offset = this.#seqOffset;
    if (this.#insertAt >= 0 && insert === 0) {
      const d = (inSeq - this.#insertAt) & 0xffff;
      if (d > 0x10000 - LATE_WINDOW)
        offset = this.#offsetBefore; // from before the insertion
      else if (d >= LATE_WINDOW && d < 0x8000) this.#insertAt = -1; // long past: nothing late is left
    }
    const outSeq = (inSeq + offset) & 0xffff;
    const outTs = (inTs + this.#tsOffset) >>> 0;
    buf[off + 1] = ((buf[off + 1] as number) & 0x80) | this.payloadType;
    buf[off + 2] = outSeq >> 8;
    buf[off + 3] = outSeq & 0xff;
    buf.writeUInt32BE(outTs, off + 4);
    buf.writeUInt32BE(this.ssrc, off + 8);
    if (!this.#hasOut || seqNewer(outSeq, this.#lastOutSeq)) {
      this.#hasOut = true;
      this.#lastOutSeq = outSeq;
      this.#lastOutTs = outTs;
    }
    this.#lastOutAt = nowMs;
    return inserted;
  }

  #rebaseTo(inSeq: number, inTs: number, inSsrc: number, nowMs: number): void {
    this.#rebase = false;
    this.#inSsrc = inSsrc;
    this.#insertAt = -1;
    if (!this.#hasOut) {
      // First session: keep the camera's numbers.
      this.#seqOffset = 0;
      this.#tsOffset = 0;
      return;
    }
    this.#seqOffset = (this.#lastOutSeq + 1 - inSeq) & 0xffff;
    const gap = Math.max(1, Math.round(((nowMs - this.#lastOutAt) * this.clockRate) / 1000));
    this.#tsOffset = (this.#lastOutTs + gap - inTs) >>> 0;
  }
}

/** Writes a 12-byte RTP header (version 2, no CSRC or extension) at buf[0]. */
export function writeRtpHeader(buf: Buffer, pt: number, marker: boolean, seq: number, ts: number, ssrc: number): void {
  buf[0] = 0x80;
  buf[1] = (marker ? 0x80 : 0) | pt;
  buf.writeUInt16BE(seq & 0xffff, 2);
  buf.writeUInt32BE(ts >>> 0, 4);
  buf.writeUInt32BE(ssrc >>> 0, 8);
}

/** Bytes a one-byte-header extension block with one playout-delay element takes. */
export const PLAYOUT_DELAY_BLOCK = 8;

/**
 * A copy of the RTP packet at buf[off, off + len) whose header extension is one playout-delay
 * element (id `id`, min and max in ms, 10 ms steps), in place of any the packet had. Padding
 * passes through. The copy comes from Node's buffer pool; `buf` is left as it was.
 */
export function withPlayoutDelay(
  buf: Buffer,
  off: number,
  len: number,
  id: number,
  minMs: number,
  maxMs: number,
): Buffer {
  const p = payloadOffset(buf, off, len);
  if (p < 0) return buf.subarray(off, off + len);
  const head = RTP_HEADER + 4 * ((buf[off] as number) & 0x0f);
  const out = Buffer.allocUnsafe(head + PLAYOUT_DELAY_BLOCK + len - p);
  buf.copy(out, 0, off, off + head);
  out[0] = (buf[off] as number) | 0x10;
  const min = Math.min(0xfff, Math.round(minMs / 10));
  const max = Math.min(0xfff, Math.round(maxMs / 10));
  out.writeUInt32BE(0xbede0001, head); // one-byte header profile, one 32-bit word follows
  out[head + 4] = (id << 4) | 2; // 3 bytes of data
  out[head + 5] = min >> 4;
  out[head + 6] = ((min & 0x0f) << 4) | (max >> 8);
  out[head + 7] = max & 0xff;
  buf.copy(out, head + PLAYOUT_DELAY_BLOCK, off + p, off + len);
  return out;
}

/**
 * The ingest's playout-delay stamp (min = max = 0, see PLAYOUT_DELAY) on the first packet of each
 * video frame, i.e. each packet whose RTP timestamp differs from the one before. Chromium takes the
 * value from a frame's first packet and keeps it until a frame says otherwise, so one stamped copy
 * per frame is enough; the other packets go out as they are.
 */
export class FrameStartStamp {
  #lastTs = -1;

  /** A stamped copy when the packet at buf[off] starts a frame, else undefined (send it as it is). */
  apply(buf: Buffer, off: number, len: number): Buffer | undefined {
    const ts = buf.readUInt32BE(off + 4);
    if (ts === this.#lastTs) return undefined;
    this.#lastTs = ts;
    return withPlayoutDelay(buf, off, len, PLAYOUT_DELAY.preferredId, 0, 0);
  }
}
