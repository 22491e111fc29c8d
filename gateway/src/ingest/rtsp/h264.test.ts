import { describe, expect, it } from 'vitest';
import {
  HAS_PPS,
  HAS_SPS,
  IDR_START,
  inspectH264,
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
