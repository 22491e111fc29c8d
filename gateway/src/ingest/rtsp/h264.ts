// H.264 over RTP (RFC 6184) as far as a relay needs it: which NAL units a packet starts (SPS, PPS,
// IDR), the SPS/PPS it carries, a STAP-A holding SPS+PPS, the profile-level-id of an SPS, and the
// payloads that carry an oversize packet's NAL units again in packets a WebRTC path can take.
// Reads the packet in place; allocates only when it copies out (parameter sets, fragments, which
// are rare). Pure; tested beside.

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

/**
 * The payloads, each at most `max` bytes, that carry the same NAL units as the oversize payload at
 * buf[off, off+len): a single NAL unit becomes FU-A fragments; an FU-A fragment becomes smaller
 * fragments (start bit on the first, end bit on the last, as the original had them); a STAP-A
 * becomes its NAL units, each alone or fragmented. null for what is not split here (FU-B, MTAP,
 * malformed payloads): the caller forwards those as they are. Each buffer begins with `headroom`
 * bytes left for the caller (room for an RTP header), then the payload.
 */
export function fragmentH264(buf: Buffer, off: number, len: number, max: number, headroom = 0): Buffer[] | null {
  if (len < 2 || max < 3) return null;
  const type = (buf[off] as number) & 0x1f;
  if (type >= 1 && type <= 23) return fuA(buf[off] as number, buf, off + 1, off + len, true, true, max, headroom);
  if (type === NAL_FU_A) {
    const fu = buf[off + 1] as number;
    const indicator = ((buf[off] as number) & 0xe0) | (fu & 0x1f);
    return fuA(indicator, buf, off + 2, off + len, (fu & 0x80) !== 0, (fu & 0x40) !== 0, max, headroom);
  }
  if (type === NAL_STAP_A) {
    const out: Buffer[] = [];
    let p = off + 1;
    const end = off + len;
    while (p + 2 < end) {
      const size = ((buf[p] as number) << 8) | (buf[p + 1] as number);
      if (size === 0 || p + 2 + size > end) return null;
      if (size <= max) {
        const whole = Buffer.allocUnsafe(headroom + size);
        buf.copy(whole, headroom, p + 2, p + 2 + size);
        out.push(whole);
      } else out.push(...fuA(buf[p + 2] as number, buf, p + 3, p + 2 + size, true, true, max, headroom));
      p += 2 + size;
    }
    return out.length ? out : null;
  }
  return null;
}

/**
 * FU-A fragments of the NAL unit body buf[start, end) whose header byte is `nal`; `first`/`last`:
 * whether this body begins/ends the NAL unit (start/end bits of the first/last fragment). Each
 * buffer begins with `headroom` bytes left for the caller (an RTP header).
 */
function fuA(
  nal: number,
  buf: Buffer,
  start: number,
  end: number,
  first: boolean,
  last: boolean,
  max: number,
  headroom: number,
): Buffer[] {
  const chunk = max - 2;
  const total = end - start;
  const n = Math.max(1, Math.ceil(total / chunk));
  // Even sizes (differing by at most a byte): no tiny last fragment.
  const base = Math.floor(total / n);
  const out: Buffer[] = [];
  for (let i = 0, p = start; i < n; i++) {
    const q = p + base + (i < total % n ? 1 : 0);
    const frag = Buffer.allocUnsafe(headroom + 2 + q - p);
    frag[headroom] = (nal & 0xe0) | NAL_FU_A;
    frag[headroom + 1] = (i === 0 && first ? 0x80 : 0) | (i === n - 1 && last ? 0x40 : 0) | (nal & 0x1f);
    buf.copy(frag, headroom + 2, p, q);
    out.push(frag);
    p = q;
  }
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
