// Whether an H.264 camera may send B-frames, from its SPS: Baseline cannot; otherwise the VUI's
// bitstream_restriction says how many frames the decoder may have to reorder (x264 and most camera
// encoders write it). WebRTC decoders show reordered frames at about 1 per second, so such a camera
// is transcoded. Only the fields up to max_num_reorder_frames are read (ITU-T H.264 7.3.2.1.1, E.1.1).
import { NAL_SPS } from './h264.js';

/** Reads bits of an RBSP (emulation-prevention bytes already removed); past the end it throws. */
class Bits {
  #pos = 0;
  constructor(private readonly b: Buffer) {}

  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.b[this.#pos >> 3];
      if (byte === undefined) throw new RangeError('SPS ends early');
      v = v * 2 + ((byte >> (7 - (this.#pos & 7))) & 1);
      this.#pos++;
    }
    return v;
  }

  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) if (++zeros > 31) throw new RangeError('bad Exp-Golomb code');
    return 2 ** zeros - 1 + this.u(zeros);
  }

  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -k / 2;
  }
}

/** The NAL unit's payload without its header byte and emulation-prevention bytes (00 00 03). */
function rbsp(nal: Buffer): Buffer {
  const out: number[] = [];
  let zeros = 0;
  for (let i = 1; i < nal.length; i++) {
    const v = nal[i] as number;
    if (zeros >= 2 && v === 3) {
      zeros = 0;
      continue;
    }
    zeros = v === 0 ? zeros + 1 : 0;
    out.push(v);
  }
  return Buffer.from(out);
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function skipScalingList(r: Bits, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

function skipHrd(r: Bits): void {
  const cpbCnt = r.ue() + 1;
  r.u(8); // bit_rate_scale, cpb_size_scale
  for (let i = 0; i < cpbCnt; i++) {
    r.ue();
    r.ue();
    r.u(1);
  }
  r.u(20); // four 5-bit lengths
}

/**
 * How many frames the stream may reorder (0: none, no B-frames), or undefined when the SPS does
 * not say (no bitstream_restriction in its VUI) or cannot be read.
 */
export function spsReorderFrames(sps: Buffer | undefined): number | undefined {
  if (!sps || sps.length < 4 || ((sps[0] as number) & 0x1f) !== NAL_SPS) return undefined;
  const profile = sps[1] as number;
  if (profile === 66) return 0; // Baseline has no B slices
  try {
    const r = new Bits(rbsp(sps));
    r.u(24); // profile_idc, constraint flags, level_idc
    r.ue(); // seq_parameter_set_id
    if (HIGH_PROFILES.has(profile)) {
      const chroma = r.ue();
      if (chroma === 3) r.u(1);
      r.ue(); // bit_depth_luma_minus8
      r.ue(); // bit_depth_chroma_minus8
      r.u(1);
      const scalingMatrix = r.u(1);
      for (let i = 0; scalingMatrix && i < (chroma === 3 ? 12 : 8); i++) {
        const listPresent = r.u(1);
        if (listPresent) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const pocType = r.ue();
    if (pocType === 0) r.ue();
    else if (pocType === 1) {
      r.u(1);
      r.se();
      r.se();
      const n = r.ue();
      for (let i = 0; i < n; i++) r.se();
    }
    r.ue(); // max_num_ref_frames
    r.u(1);
    r.ue(); // pic_width_in_mbs_minus1
    r.ue(); // pic_height_in_map_units_minus1
    if (!r.u(1)) r.u(1); // frame_mbs_only_flag, mb_adaptive_frame_field_flag
    r.u(1); // direct_8x8_inference_flag
    if (r.u(1)) for (let i = 0; i < 4; i++) r.ue(); // frame cropping
    if (!r.u(1)) return undefined; // no VUI
    if (r.u(1) && r.u(8) === 255) r.u(32); // aspect ratio (extended SAR)
    if (r.u(1)) r.u(1); // overscan
    if (r.u(1)) {
      r.u(4); // video_format, video_full_range_flag
      if (r.u(1)) r.u(24); // colour description
    }
    if (r.u(1)) {
      r.ue();
      r.ue();
    }
    if (r.u(1)) r.u(65); // timing info
    const nalHrd = r.u(1);
    if (nalHrd) skipHrd(r);
    const vclHrd = r.u(1);
    if (vclHrd) skipHrd(r);
    if (nalHrd || vclHrd) r.u(1);
    r.u(1); // pic_struct_present_flag
    if (!r.u(1)) return undefined; // no bitstream_restriction
    r.u(1);
    for (let i = 0; i < 4; i++) r.ue();
    return r.ue(); // max_num_reorder_frames
  } catch {
    return undefined;
  }
}
