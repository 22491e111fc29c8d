// RTCP (RFC 3550, RFC 4585) as the relay uses it: read a camera's sender report, write one for the
// Producer's SSRC, keep receiver statistics and write receiver reports (+ SDES CNAME) back to the
// camera, and spot/write picture loss indications. Pure; tested beside.

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_PSFB = 206;

export interface SenderReport {
  ssrc: number;
  ntpHi: number;
  ntpLo: number;
  rtpTs: number;
  packets: number;
  octets: number;
}

/** The first sender report in a compound RTCP packet, or undefined. */
export function findSenderReport(buf: Buffer, off: number, len: number): SenderReport | undefined {
  let p = off;
  const end = off + len;
  while (p + 4 <= end) {
    if (((buf[p] as number) & 0xc0) !== 0x80) return undefined;
    const size = 4 * (buf.readUInt16BE(p + 2) + 1);
    if (p + size > end) return undefined;
    if (buf[p + 1] === RTCP_SR && size >= 28) {
      return {
        ssrc: buf.readUInt32BE(p + 4),
        ntpHi: buf.readUInt32BE(p + 8),
        ntpLo: buf.readUInt32BE(p + 12),
        rtpTs: buf.readUInt32BE(p + 16),
        packets: buf.readUInt32BE(p + 20),
        octets: buf.readUInt32BE(p + 24),
      };
    }
    p += size;
  }
  return undefined;
}

/** Writes a 28-byte sender report without report blocks at out[0]. */
export function writeSenderReport(out: Buffer, sr: SenderReport): number {
  out[0] = 0x80;
  out[1] = RTCP_SR;
  out.writeUInt16BE(6, 2);
  out.writeUInt32BE(sr.ssrc >>> 0, 4);
  out.writeUInt32BE(sr.ntpHi >>> 0, 8);
  out.writeUInt32BE(sr.ntpLo >>> 0, 12);
  out.writeUInt32BE(sr.rtpTs >>> 0, 16);
  out.writeUInt32BE(sr.packets >>> 0, 20);
  out.writeUInt32BE(sr.octets >>> 0, 24);
  return 28;
}

/** True when a compound RTCP packet holds a PLI or FIR (a decoder wants a keyframe). */
export function wantsKeyframe(buf: Buffer, off: number, len: number): boolean {
  let p = off;
  const end = off + len;
  while (p + 4 <= end) {
    if (((buf[p] as number) & 0xc0) !== 0x80) return false;
    const size = 4 * (buf.readUInt16BE(p + 2) + 1);
    const fmt = (buf[p] as number) & 0x1f;
    if (buf[p + 1] === RTCP_PSFB && (fmt === 1 || fmt === 4)) return true;
    p += size;
  }
  return false;
}

/** Writes a 12-byte PLI at out[0]. */
export function writePli(out: Buffer, senderSsrc: number, mediaSsrc: number): number {
  out[0] = 0x81;
  out[1] = RTCP_PSFB;
  out.writeUInt16BE(2, 2);
  out.writeUInt32BE(senderSsrc >>> 0, 4);
  out.writeUInt32BE(mediaSsrc >>> 0, 8);
  return 12;
}

/** Reception statistics of one camera RTP stream (RFC 3550 A.1, A.3, A.8). */
export class ReceiverStats {
  ssrc = -1;
  #baseSeq = 0;
  #maxSeq = 0;
  #cycles = 0;
  #received = 0;
  #expectedPrior = 0;
  #receivedPrior = 0;
  #jitter = 0;
  #lastTs = -1;
  #lastArrival = 0;
  #lsr = 0;
  #lsrAt = 0;

  constructor(readonly clockRate: number) {}

  reset(): void {
    this.ssrc = -1;
    this.#received = 0;
    this.#cycles = 0;
    this.#expectedPrior = 0;
    this.#receivedPrior = 0;
    this.#jitter = 0;
    this.#lastTs = -1;
    this.#lsr = 0;
    this.#lsrAt = 0;
  }

  get received(): number {
    return this.#received;
  }

  /** One RTP packet from the camera (header not yet rewritten). */
  onPacket(buf: Buffer, off: number, nowMs: number): void {
    const seq = ((buf[off + 2] as number) << 8) | (buf[off + 3] as number);
    const ssrc = buf.readUInt32BE(off + 8);
    if (ssrc !== this.ssrc) {
      this.reset();
      this.ssrc = ssrc;
      this.#baseSeq = seq;
      this.#maxSeq = seq;
    }
    const d = (seq - this.#maxSeq) & 0xffff;
    if (d > 0 && d < 0x8000) {
      if (seq < this.#maxSeq) this.#cycles += 0x10000;
      this.#maxSeq = seq;
    }
    this.#received++;
    // Jitter from the first packet of each frame: the others share its timestamp and are sent at once.
    const ts = buf.readUInt32BE(off + 4);
    if (ts !== this.#lastTs) {
      const arrival = (nowMs * this.clockRate) / 1000;
      if (this.#lastTs >= 0) {
        const dd = arrival - this.#lastArrival - ((ts - this.#lastTs) | 0);
        this.#jitter += (Math.abs(dd) - this.#jitter) / 16;
      }
      this.#lastTs = ts;
      this.#lastArrival = arrival;
    }
  }

  onSenderReport(sr: SenderReport, nowMs: number): void {
    this.#lsr = ((sr.ntpHi & 0xffff) << 16) | (sr.ntpLo >>> 16);
    this.#lsrAt = nowMs;
  }

  /** Writes a 24-byte report block at out[p]; returns p + 24. */
  writeBlock(out: Buffer, p: number, nowMs: number): number {
    const extMax = this.#cycles + this.#maxSeq;
    const expected = extMax - this.#baseSeq + 1;
    const lost = Math.max(0, expected - this.#received);
    const expectedInterval = expected - this.#expectedPrior;
    const receivedInterval = this.#received - this.#receivedPrior;
    this.#expectedPrior = expected;
    this.#receivedPrior = this.#received;
    const lostInterval = expectedInterval - receivedInterval;
    const fraction = expectedInterval > 0 && lostInterval > 0 ? Math.floor((lostInterval << 8) / expectedInterval) : 0;
    out.writeUInt32BE(this.ssrc >>> 0, p);
    out.writeUInt32BE(((Math.min(fraction, 255) << 24) | Math.min(lost, 0x7fffff)) >>> 0, p + 4);
    out.writeUInt32BE(extMax >>> 0, p + 8);
    out.writeUInt32BE(Math.round(this.#jitter) >>> 0, p + 12);
    out.writeUInt32BE(this.#lsr >>> 0, p + 16);
    const dlsr = this.#lsrAt ? Math.round(((nowMs - this.#lsrAt) * 65536) / 1000) : 0;
    out.writeUInt32BE(dlsr >>> 0, p + 20);
    return p + 24;
  }
}

/** A receiver report with one block per stats (that has seen a packet) plus SDES CNAME; returns its length. */
export function writeReceiverReport(
  out: Buffer,
  reporterSsrc: number,
  stats: readonly ReceiverStats[],
  cname: string,
  nowMs: number,
): number {
  const live = stats.filter((s) => s.ssrc >= 0 && s.received > 0);
  out[0] = 0x80 | live.length;
  out[1] = RTCP_RR;
  out.writeUInt16BE(1 + 6 * live.length, 2);
  out.writeUInt32BE(reporterSsrc >>> 0, 4);
  let p = 8;
  for (const s of live) p = s.writeBlock(out, p, nowMs);
  // SDES: one chunk, CNAME item, null terminator, padded to 32 bits.
  const start = p;
  const name = Buffer.from(cname.slice(0, 255), 'utf8');
  out[p] = 0x81;
  out[p + 1] = RTCP_SDES;
  out.writeUInt32BE(reporterSsrc >>> 0, p + 4);
  out[p + 8] = 1;
  out[p + 9] = name.length;
  name.copy(out, p + 10);
  let q = p + 10 + name.length;
  do out[q++] = 0;
  while ((q - start) % 4 !== 0);
  out.writeUInt16BE((q - start) / 4 - 1, start + 2);
  return q;
}
