import { describe, expect, it } from 'vitest';
import {
  findSenderReport,
  ReceiverStats,
  wantsKeyframe,
  writePli,
  writeReceiverReport,
  writeSenderReport,
} from './rtcp.js';
import { writeRtpHeader } from './rtp.js';

const sr = { ssrc: 0xdeadbeef, ntpHi: 3900000000, ntpLo: 0x80000000, rtpTs: 123456, packets: 10, octets: 9000 };

describe('sender reports', () => {
  it('writes and finds one, also after an RR in a compound packet', () => {
    const out = Buffer.alloc(64);
    const rr = Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 1]);
    rr.copy(out, 0);
    const n = writeSenderReport(out.subarray(8), sr);
    expect(n).toBe(28);
    expect(findSenderReport(out, 0, 8 + n)).toEqual(sr);
    expect(findSenderReport(rr, 0, rr.length)).toBeUndefined();
  });
});

describe('keyframe requests', () => {
  it('spots a PLI or FIR and writes a PLI', () => {
    const pli = Buffer.alloc(12);
    writePli(pli, 1, 2);
    expect(wantsKeyframe(pli, 0, 12)).toBe(true);
    const fir = Buffer.from(pli);
    fir[0] = 0x84;
    expect(wantsKeyframe(fir, 0, 12)).toBe(true);
    const nack = Buffer.from(pli);
    nack[0] = 0x81;
    nack[1] = 205;
    expect(wantsKeyframe(nack, 0, 12)).toBe(false);
  });
});

describe('ReceiverStats and receiver reports', () => {
  it('counts loss, extended sequence numbers and LSR/DLSR', () => {
    const stats = new ReceiverStats(90000);
    const p = Buffer.alloc(12);
    const seqs = [65530, 65531, 65533, 65534, 65535, 0, 1, 3]; // 65532 and 2 lost, with a wrap
    seqs.forEach((s, i) => {
      writeRtpHeader(p, 96, false, s, i * 3600, 0x1234);
      stats.onPacket(p, 0, i * 40);
    });
    stats.onSenderReport(sr, 1000);
    const out = Buffer.alloc(200);
    const n = writeReceiverReport(out, 0x5555, [stats], 'cctv-gateway@test', 1500);
    expect(out[0]).toBe(0x81);
    expect(out[1]).toBe(201);
    expect(out.readUInt16BE(2)).toBe(7);
    expect(out.readUInt32BE(8)).toBe(0x1234);
    expect(out[12]).toBe(Math.floor((2 * 256) / 10)); // fraction lost
    expect(out.readUInt32BE(12) & 0xffffff).toBe(2); // cumulative lost
    expect(out.readUInt32BE(16)).toBe(0x10000 + 3); // extended highest sequence number
    expect(out.readUInt32BE(24)).toBe(((sr.ntpHi & 0xffff) << 16) | (sr.ntpLo >>> 16));
    expect(out.readUInt32BE(28)).toBe(Math.round(0.5 * 65536)); // DLSR: 500 ms
    // SDES CNAME chunk follows, padded to 32 bits.
    expect(out[32 + 1]).toBe(202);
    expect(out.subarray(32 + 10, 32 + 10 + 17).toString()).toBe('cctv-gateway@test');
    expect(n % 4).toBe(0);
    expect(out.readUInt16BE(34)).toBe((n - 32) / 4 - 1);
  });

  it('writes an RR without blocks before the first packet', () => {
    const out = Buffer.alloc(100);
    writeReceiverReport(out, 1, [new ReceiverStats(8000)], 'x', 0);
    expect(out[0]).toBe(0x80);
    expect(out.readUInt16BE(2)).toBe(1);
  });
});
