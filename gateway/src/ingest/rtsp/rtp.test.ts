import { describe, expect, it } from 'vitest';
import {
  FrameStartStamp,
  PLAYOUT_DELAY_BLOCK,
  payloadEnd,
  payloadOffset,
  RtpRewriter,
  withPlayoutDelay,
  writeRtpHeader,
} from './rtp.js';

function packet(seq: number, ts: number, ssrc = 0xcafe, pt = 96, marker = false): Buffer {
  const b = Buffer.alloc(20, 0xab);
  writeRtpHeader(b, pt, marker, seq, ts, ssrc);
  return b;
}
const seqOf = (b: Buffer) => b.readUInt16BE(2);
const tsOf = (b: Buffer) => b.readUInt32BE(4);

describe('RtpRewriter', () => {
  it('rewrites SSRC and payload type in place, keeping the marker bit', () => {
    const r = new RtpRewriter(0x11223344, 102, 90000);
    const p = packet(100, 5000, 0xcafe, 96, true);
    r.rewrite(p, 0, 0);
    expect(p.readUInt32BE(8)).toBe(0x11223344);
    expect(p[1]).toBe(0x80 | 102);
    expect(seqOf(p)).toBe(100); // the first session keeps the camera's numbers
    expect(tsOf(p)).toBe(5000);
    expect(p.subarray(12)).toEqual(Buffer.alloc(8, 0xab));
  });

  it('continues sequence numbers and timestamps across a new session', () => {
    const r = new RtpRewriter(1, 102, 90000);
    let last = packet(0, 0);
    for (let i = 0; i < 10; i++) {
      last = packet(65530 + i, 4294960000 + i * 3600);
      r.rewrite(last, 0, i * 40);
    }
    expect(seqOf(last)).toBe((65530 + 9) & 0xffff); // wrapped
    r.newSession();
    // The camera comes back with new random numbers, 2 s later.
    const next = packet(1234, 777);
    r.rewrite(next, 0, 9 * 40 + 2000);
    expect(seqOf(next)).toBe((seqOf(last) + 1) & 0xffff);
    expect((tsOf(next) - tsOf(last)) >>> 0).toBe(2000 * 90);
    const after = packet(1235, 777 + 3600);
    r.rewrite(after, 0, 9 * 40 + 2040);
    expect(seqOf(after)).toBe((seqOf(next) + 1) & 0xffff);
    expect((tsOf(after) - tsOf(next)) >>> 0).toBe(3600);
  });

  it('rebases when the camera changes SSRC without a new session', () => {
    const r = new RtpRewriter(1, 102, 8000);
    const a = packet(10, 100, 0xaaaa);
    r.rewrite(a, 0, 0);
    const b = packet(50000, 9, 0xbbbb);
    r.rewrite(b, 0, 20);
    expect(seqOf(b)).toBe(11);
    expect(tsOf(b)).toBe(100 + 160);
  });

  it('gives an inserted packet the number of the packet it precedes and shifts the rest', () => {
    const r = new RtpRewriter(1, 102, 90000);
    const seqs: number[] = [];
    for (let s = 100; s < 103; s++) {
      const p = packet(s, 0);
      r.rewrite(p, 0, 0);
      seqs.push(seqOf(p));
    }
    const idr = packet(103, 3600);
    const inserted = r.rewrite(idr, 0, 40, 1);
    seqs.push(inserted, seqOf(idr));
    for (let s = 104; s < 106; s++) {
      const p = packet(s, 3600);
      r.rewrite(p, 0, 40);
      seqs.push(seqOf(p));
    }
    expect(seqs).toEqual([100, 101, 102, 103, 104, 105, 106]);
    expect(r.lastSeq).toBe(106);
    // A packet from before the insertion that arrives late keeps its old number.
    const late = packet(102, 0);
    r.rewrite(late, 0, 41);
    expect(seqOf(late)).toBe(102);
  });

  it('keeps numbering continuous across many insertions and a reconnect', () => {
    const r = new RtpRewriter(1, 102, 90000);
    const out: number[] = [];
    let inSeq = 40000;
    for (let session = 0; session < 3; session++) {
      if (session > 0) {
        r.newSession();
        inSeq = session * 30000;
      }
      for (let i = 0; i < 200; i++) {
        const p = packet(inSeq++, i * 3600);
        const ins = r.rewrite(p, 0, session * 10_000 + i * 40, i % 25 === 0 ? 1 : 0);
        if (i % 25 === 0) out.push(ins);
        out.push(seqOf(p));
      }
    }
    for (let i = 1; i < out.length; i++) expect(out[i]).toBe(((out[i - 1] as number) + 1) & 0xffff);
  });
});

describe('several packets inserted before one', () => {
  it('reserves consecutive numbers and keeps the stream gapless', () => {
    const r = new RtpRewriter(0x1234, 102, 90000);
    const out: number[] = [];
    for (let i = 0; i < 100; i++) {
      const p = packet(65500 + i, i * 3600);
      const extra = i % 7; // 0 to 6 packets before this one (fragments of an oversize packet)
      const first = r.rewrite(p, 0, i * 40, extra);
      for (let k = 0; k < extra; k++) out.push((first + k) & 0xffff);
      out.push(seqOf(p));
    }
    for (let i = 1; i < out.length; i++) expect(out[i]).toBe(((out[i - 1] as number) + 1) & 0xffff);
  });
});

describe('header layout', () => {
  it('finds the payload after CSRCs and an extension, and strips padding', () => {
    const b = Buffer.alloc(40);
    b[0] = 0x80 | 0x20 | 0x10 | 2; // padding, extension, 2 CSRCs
    b.writeUInt16BE(1, 12 + 8 + 2); // extension length: 1 word
    b[39] = 3; // 3 bytes of padding
    expect(payloadOffset(b, 0, 40)).toBe(12 + 8 + 4 + 4);
    expect(payloadEnd(b, 0, 40)).toBe(37);
  });
});

describe('playout-delay stamp', () => {
  it('adds one playout-delay element after the header and keeps the payload', () => {
    const b = packet(7, 900, 0xcafe, 102, true);
    b.fill(0x5a, 12);
    const out = withPlayoutDelay(b, 0, b.length, 14, 0, 0);
    expect(out.length).toBe(b.length + PLAYOUT_DELAY_BLOCK);
    expect(out[0]).toBe(0x90); // X bit set
    expect(out.subarray(1, 12)).toEqual(b.subarray(1, 12)); // marker, PT, seq, ts, SSRC
    expect([...out.subarray(12, 20)]).toEqual([0xbe, 0xde, 0, 1, (14 << 4) | 2, 0, 0, 0]);
    expect(payloadOffset(out, 0, out.length)).toBe(20);
    expect(out.subarray(20)).toEqual(b.subarray(12));
  });

  it('stamps the first packet of each frame (a new timestamp) and leaves the rest alone', () => {
    const stamp = new FrameStartStamp();
    const sent = [packet(1, 900), packet(2, 900), packet(3, 900), packet(4, 4500), packet(5, 4500)].map((b) =>
      stamp.apply(b, 0, b.length),
    );
    expect(sent.map((b) => b !== undefined)).toEqual([true, false, false, true, false]);
    expect(sent[3]?.readUInt16BE(2)).toBe(4);
    expect(sent[3]?.readUInt32BE(12)).toBe(0xbede0001);
  });

  it("encodes min and max in 10 ms steps, replaces the camera's own extension, keeps CSRCs and padding", () => {
    const b = Buffer.alloc(12 + 4 + 8 + 6, 0);
    b[0] = 0x80 | 0x20 | 0x10 | 1; // padding, extension, 1 CSRC
    b.writeUInt32BE(0x11223344, 12); // the CSRC
    b.writeUInt16BE(0xbede, 16);
    b.writeUInt16BE(1, 18); // the camera's extension: 1 word
    b.writeUInt32BE(0x10ff0000, 20);
    b[24] = 0x77; // payload: 3 bytes, then 3 bytes of padding
    b[25] = 0x78;
    b[26] = 0x79;
    b[29] = 3;
    const out = withPlayoutDelay(b, 0, b.length, 14, 100, 2000);
    expect(out.readUInt32BE(12)).toBe(0x11223344);
    // min 10 units, max 200 units: 0x00a | 0x0c8 in 12 bits each
    expect([...out.subarray(20, 24)]).toEqual([(14 << 4) | 2, 0x00, 0xa0, 0xc8]);
    expect(payloadOffset(out, 0, out.length)).toBe(24);
    expect(payloadEnd(out, 0, out.length)).toBe(27);
    expect([...out.subarray(24, 27)]).toEqual([0x77, 0x78, 0x79]);
  });
});
