// H.264 over RTP (RFC 6184) as far as a relay needs it: which NAL units a packet starts (SPS, PPS,
// IDR), the SPS/PPS it carries, a STAP-A holding SPS+PPS, and the profile-level-id of an SPS.
// Reads the packet in place; allocates only when it copies parameter sets out. Pure; tested beside.

export const NAL_IDR = 5;
export const NAL_SPS = 7;
export const NAL_PPS = 8;
export const NAL_STAP_A = 24;
export const NAL_FU_A = 28;

/** Bits of inspectH264()'s result. */
export const HAS_SPS = 1;
export const HAS_PPS = 2;
/** A packet that starts an IDR slice (single NAL, in a STAP-A, or the first FU-A fragment). */
export const IDR_START = 4;

/** What NAL units the RTP payload at buf[off, off+len) starts. */
export function inspectH264(buf: Buffer, off: number, len: number): number {
  if (len < 1) return 0;
  const type = (buf[off] as number) & 0x1f;
  if (type === NAL_FU_A) {
    if (len < 2) return 0;
    const fu = buf[off + 1] as number;
    return fu & 0x80 && (fu & 0x1f) === NAL_IDR ? IDR_START : 0;
  }
  if (type === NAL_STAP_A) {
    let flags = 0;
    let p = off + 1;
    const end = off + len;
    while (p + 2 < end) {
      const size = ((buf[p] as number) << 8) | (buf[p + 1] as number);
      if (size === 0 || p + 2 + size > end) break;
      flags |= nalFlag((buf[p + 2] as number) & 0x1f);
      p += 2 + size;
    }
    return flags;
  }
  return nalFlag(type);
}

function nalFlag(type: number): number {
  if (type === NAL_SPS) return HAS_SPS;
  if (type === NAL_PPS) return HAS_PPS;
  if (type === NAL_IDR) return IDR_START;
  return 0;
}

/** Copies out the SPS and PPS a packet carries (single NAL or STAP-A). */
export function parameterSets(buf: Buffer, off: number, len: number): { sps?: Buffer; pps?: Buffer } {
  const out: { sps?: Buffer; pps?: Buffer } = {};
  const take = (p: number, size: number) => {
    const type = (buf[p] as number) & 0x1f;
    if (type === NAL_SPS) out.sps = Buffer.from(buf.subarray(p, p + size));
    else if (type === NAL_PPS) out.pps = Buffer.from(buf.subarray(p, p + size));
  };
  const type = (buf[off] as number) & 0x1f;
  if (type === NAL_STAP_A) {
    let p = off + 1;
    const end = off + len;
    while (p + 2 < end) {
      const size = ((buf[p] as number) << 8) | (buf[p + 1] as number);
      if (size === 0 || p + 2 + size > end) break;
      take(p + 2, size);
      p += 2 + size;
    }
  } else if (len > 0) {
    take(off, len);
  }
  return out;
}

/** The RTP payload of a STAP-A carrying `nals` (e.g. SPS then PPS); NRI is the highest of theirs. */
export function stapAPayload(nals: readonly Buffer[]): Buffer {
  const size = 1 + nals.reduce((n, nal) => n + 2 + nal.length, 0);
  const out = Buffer.allocUnsafe(size);
  let nri = 0;
  let p = 1;
  for (const nal of nals) {
    nri = Math.max(nri, (nal[0] as number) & 0x60);
    out.writeUInt16BE(nal.length, p);
    nal.copy(out, p + 2);
    p += 2 + nal.length;
  }
  out[0] = nri | NAL_STAP_A;
  return out;
}

/** profile-level-id (6 hex digits) of an SPS NAL unit (header byte included). */
export function spsProfileLevelId(sps: Buffer | undefined): string | undefined {
  if (!sps || sps.length < 4 || ((sps[0] as number) & 0x1f) !== NAL_SPS) return undefined;
  return sps.subarray(1, 4).toString('hex');
}

/** H.264 profile name of a profile-level-id, for logs. */
export function profileName(profileLevelId: string): string {
  const idc = Number.parseInt(profileLevelId.slice(0, 2), 16);
  const constraints = Number.parseInt(profileLevelId.slice(2, 4), 16);
  if (idc === 66) return constraints & 0x40 ? 'Constrained Baseline' : 'Baseline';
  if (idc === 77) return 'Main';
  if (idc === 88) return 'Extended';
  if (idc === 100) return 'High';
  return `profile_idc ${idc}`;
}
