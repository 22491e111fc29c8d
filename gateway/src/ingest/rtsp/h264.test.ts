import { describe, expect, it } from 'vitest';
import {
  fragmentH264,
  HAS_PPS,
  HAS_SPS,
  IDR_START,
  inspectH264,
  NAL_FU_A,
  NAL_STAP_A,
  parameterSets,
  profileName,
  spsProfileLevelId,
  stapAPayload,
} from './h264.js';

const SPS = Buffer.from('6742c01eda0280bfe5c04400000300040000030', 'hex');
const PPS = Buffer.from('68ce3c80', 'hex');
const IDR = Buffer.from('6588840021', 'hex');
const P = Buffer.from('419a2438', 'hex');
const at = (b: Buffer) => inspectH264(b, 0, b.length);

describe('inspectH264', () => {
  it('sees single NAL units', () => {
    expect(at(SPS)).toBe(HAS_SPS);
    expect(at(PPS)).toBe(HAS_PPS);
    expect(at(IDR)).toBe(IDR_START);
    expect(at(P)).toBe(0);
  });
  it('sees the NAL units inside a STAP-A', () => {
    expect(at(stapAPayload([SPS, PPS]))).toBe(HAS_SPS | HAS_PPS);
    expect(at(stapAPayload([SPS, PPS, IDR]))).toBe(HAS_SPS | HAS_PPS | IDR_START);
    // A truncated STAP-A stops at the last whole unit.
    const cut = stapAPayload([PPS, SPS]);
    expect(at(cut.subarray(0, 8))).toBe(HAS_PPS);
  });
  it('sees only the first FU-A fragment of an IDR as its start', () => {
    expect(at(Buffer.from([0x7c, 0x85, 1, 2]))).toBe(IDR_START); // start bit, type 5
    expect(at(Buffer.from([0x7c, 0x05, 1, 2]))).toBe(0); // continuation
    expect(at(Buffer.from([0x7c, 0x45, 1, 2]))).toBe(0); // end
    expect(at(Buffer.from([0x5c, 0x81, 1, 2]))).toBe(0); // start of a non-IDR slice
  });
  it('reads at an offset inside a larger buffer', () => {
    const buf = Buffer.concat([Buffer.alloc(20, 0xff), IDR]);
    expect(inspectH264(buf, 20, IDR.length)).toBe(IDR_START);
  });
});

describe('STAP-A and parameter sets', () => {
  it('builds a STAP-A with the highest NRI of its units', () => {
    const stap = stapAPayload([SPS, PPS]);
    expect(stap[0]).toBe(0x60 | 24);
    expect(stap.readUInt16BE(1)).toBe(SPS.length);
    expect(stap.subarray(3, 3 + SPS.length)).toEqual(SPS);
    expect(stap.readUInt16BE(3 + SPS.length)).toBe(PPS.length);
    expect(stap.length).toBe(1 + 2 + SPS.length + 2 + PPS.length);
  });
  it('copies SPS and PPS out of a packet', () => {
    expect(parameterSets(SPS, 0, SPS.length)).toEqual({ sps: SPS });
    const both = stapAPayload([SPS, PPS]);
    expect(parameterSets(both, 0, both.length)).toEqual({ sps: SPS, pps: PPS });
  });
  it('reads profile-level-id from an SPS', () => {
    expect(spsProfileLevelId(SPS)).toBe('42c01e');
    expect(spsProfileLevelId(PPS)).toBeUndefined();
    expect(profileName('42c01e')).toBe('Constrained Baseline');
    expect(profileName('640028')).toBe('High');
    expect(profileName('4d001f')).toBe('Main');
  });
});

/** NAL units carried by a sequence of payloads (single NAL, STAP-A, FU-A), as a receiver rebuilds them. */
function depacketize(payloads: readonly Buffer[]): Buffer[] {
  const nals: Buffer[] = [];
  let fu: number[] | null = null;
  for (const p of payloads) {
    const type = (p[0] as number) & 0x1f;
    if (type === NAL_FU_A) {
      const h = p[1] as number;
      if (h & 0x80) fu = [((p[0] as number) & 0xe0) | (h & 0x1f)];
      if (!fu) throw new Error('FU-A continuation without a start');
      fu.push(...p.subarray(2));
      if (h & 0x40) {
        nals.push(Buffer.from(fu));
        fu = null;
      }
    } else if (type === NAL_STAP_A) {
      for (let q = 1; q < p.length; ) {
        const size = p.readUInt16BE(q);
        nals.push(Buffer.from(p.subarray(q + 2, q + 2 + size)));
        q += 2 + size;
      }
    } else nals.push(Buffer.from(p));
  }
  if (fu) throw new Error('FU-A without an end');
  return nals;
}

const bigSlice = (type: number, size: number) => {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 7 + 3) & 0xff;
  b[0] = 0x60 | type; // NRI 3
  return b;
};

describe('fragmentH264', () => {
  const MAX = 1188;
  it('splits an oversize single NAL unit into even FU-A fragments that rebuild it', () => {
    const idr = bigSlice(5, 7000);
    const out = fragmentH264(idr, 0, idr.length, MAX) as Buffer[];
    expect(out.length).toBe(Math.ceil(6999 / (MAX - 2)));
    for (const f of out) expect(f.length).toBeLessThanOrEqual(MAX);
    expect(Math.max(...out.map((f) => f.length)) - Math.min(...out.map((f) => f.length))).toBeLessThanOrEqual(1);
    expect(depacketize(out)).toEqual([idr]);
    // The first fragment still announces an IDR start, the others do not.
    expect(out.map((f) => inspectH264(f, 0, f.length))).toEqual([IDR_START, ...out.slice(1).map(() => 0)]);
  });

  it('splits an oversize FU-A fragment keeping its start and end bits at the ends', () => {
    const nal = bigSlice(1, 9000);
    // A camera's three big fragments of one NAL unit: start, middle, end.
    const cut = [1, 3000, 6000, 9000];
    const camera = [0, 1, 2].map((i) => {
      const body = nal.subarray(cut[i] as number, cut[i + 1] as number);
      const h = (i === 0 ? 0x80 : 0) | (i === 2 ? 0x40 : 0) | 1;
      return Buffer.concat([Buffer.from([0x60 | NAL_FU_A, h]), body]);
    });
    const out = camera.flatMap((p) => fragmentH264(p, 0, p.length, MAX) as Buffer[]);
    for (const f of out) expect(f.length).toBeLessThanOrEqual(MAX);
    expect(out.filter((f) => (f[1] as number) & 0x80).length).toBe(1);
    expect(out.filter((f) => (f[1] as number) & 0x40).length).toBe(1);
    expect(depacketize(out)).toEqual([nal]);
  });

  it('opens an oversize STAP-A into its NAL units, fragmenting the big ones', () => {
    const idr = bigSlice(5, 3000);
    const stap = stapAPayload([SPS, PPS, idr]);
    const out = fragmentH264(stap, 0, stap.length, MAX) as Buffer[];
    for (const f of out) expect(f.length).toBeLessThanOrEqual(MAX);
    expect(out[0]).toEqual(SPS);
    expect(out[1]).toEqual(PPS);
    expect(depacketize(out)).toEqual([SPS, PPS, idr]);
  });

  it('reads at an offset and leaves what it does not split to the caller', () => {
    const idr = bigSlice(5, 2500);
    const buf = Buffer.concat([Buffer.alloc(12, 0xee), idr]);
    expect(depacketize(fragmentH264(buf, 12, idr.length, MAX) as Buffer[])).toEqual([idr]);
    const roomy = fragmentH264(buf, 12, idr.length, MAX, 12) as Buffer[];
    expect(depacketize(roomy.map((f) => f.subarray(12)))).toEqual([idr]);
    expect(fragmentH264(Buffer.from([0x1d, 0x85, 1, 2]), 0, 4, MAX)).toBeNull(); // FU-B
    expect(fragmentH264(Buffer.from([0x18, 0x00, 0x09, 0x67]), 0, 4, MAX)).toBeNull(); // truncated STAP-A
  });
});
