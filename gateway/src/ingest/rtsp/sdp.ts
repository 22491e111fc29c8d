// The parts of an RTSP DESCRIBE answer (SDP, RFC 8866) a relay needs: each media's payload types,
// codec (rtpmap), format parameters (fmtp) and control URL. Pure; tested beside.

export interface SdpFormat {
  payloadType: number;
  /** Upper-cased encoding name from a=rtpmap, or the static payload type's name (PCMU, PCMA, ...). */
  encoding: string;
  clockRate: number;
  channels: number;
  /** a=fmtp parameters, keys lower-cased. */
  fmtp: Record<string, string>;
  /** The a=fmtp line's parameters as written (handed on to FFmpeg). */
  fmtpText: string;
}

export interface SdpMedia {
  type: string; // video | audio | application ...
  port: number;
  proto: string;
  formats: SdpFormat[];
  /** a=control, as written (relative or absolute); '' when absent. */
  control: string;
  /** a=framerate, 0 when absent. */
  framerate: number;
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive' | '';
}

export interface Sdp {
  control: string;
  media: SdpMedia[];
}

// RFC 3551 static payload types a camera may use without an a=rtpmap line.
const STATIC_PT: Record<number, [string, number, number]> = {
  0: ['PCMU', 8000, 1],
  8: ['PCMA', 8000, 1],
  14: ['MPA', 90000, 1],
  26: ['JPEG', 90000, 1],
  32: ['MPV', 90000, 1],
};

export function parseSdp(text: string): Sdp {
  const sdp: Sdp = { control: '', media: [] };
  let media: SdpMedia | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.length < 2 || line[1] !== '=') continue;
    const kind = line[0];
    const value = line.slice(2);
    if (kind === 'm') {
      const [type = '', port = '0', proto = '', ...fmts] = value.split(/\s+/);
      media = {
        type: type.toLowerCase(),
        port: Number.parseInt(port, 10) || 0,
        proto,
        formats: fmts
          .map((f) => Number.parseInt(f, 10))
          .filter((pt) => Number.isInteger(pt) && pt >= 0 && pt < 128)
          .map((pt) => {
            const s = STATIC_PT[pt];
            return {
              payloadType: pt,
              encoding: s?.[0] ?? '',
              clockRate: s?.[1] ?? 0,
              channels: s?.[2] ?? 1,
              fmtp: {},
              fmtpText: '',
            };
          }),
        control: '',
        framerate: 0,
        direction: '',
      };
      sdp.media.push(media);
      continue;
    }
    if (kind !== 'a') continue;
    const colon = value.indexOf(':');
    const name = (colon < 0 ? value : value.slice(0, colon)).toLowerCase();
    const arg = colon < 0 ? '' : value.slice(colon + 1).trim();
    if (name === 'control') {
      if (media) media.control = arg;
      else sdp.control = arg;
    } else if (!media) {
    } else if (name === 'rtpmap') {
      const m = /^(\d+)\s+([^/\s]+)\/(\d+)(?:\/(\d+))?/.exec(arg);
      const f = m && media.formats.find((x) => x.payloadType === Number(m[1]));
      if (m && f) {
        f.encoding = (m[2] as string).toUpperCase();
        f.clockRate = Number(m[3]);
        f.channels = m[4] ? Number(m[4]) : 1;
      }
    } else if (name === 'fmtp') {
      const m = /^(\d+)\s+(.*)$/.exec(arg);
      const f = m && media.formats.find((x) => x.payloadType === Number(m[1]));
      if (m && f) {
        f.fmtpText = (m[2] as string).trim();
        f.fmtp = parseFmtp(f.fmtpText);
      }
    } else if (name === 'framerate') {
      media.framerate = Number.parseFloat(arg) || 0;
    } else if (name === 'sendrecv' || name === 'sendonly' || name === 'recvonly' || name === 'inactive') {
      media.direction = name;
    }
  }
  return sdp;
}

export function parseFmtp(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (part.trim()) out[part.trim().toLowerCase()] = '';
      continue;
    }
    out[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  return out;
}

/**
 * The URL a media's SETUP goes to, resolved as FFmpeg does (the behaviour cameras are tested
 * against): an absolute a=control as is; otherwise the base (Content-Base, else the DESCRIBE URL;
 * an absolute session-level a=control replaces it) + '/' + the control; '*' or none = the base.
 */
export function controlUrl(base: string, sessionControl: string, mediaControl: string): string {
  const isAbsolute = (c: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(c);
  const root = isAbsolute(sessionControl) ? sessionControl : base;
  if (!mediaControl || mediaControl === '*') return root;
  if (isAbsolute(mediaControl)) return mediaControl;
  return `${root.endsWith('/') ? root : `${root}/`}${mediaControl}`;
}

/** sprop-parameter-sets → the NAL units it carries (SPS, PPS, ...), each without a start code. */
export function spropParameterSets(value: string | undefined): Buffer[] {
  if (!value) return [];
  return value
    .split(',')
    .map((b64) => Buffer.from(b64.trim(), 'base64'))
    .filter((nal) => nal.length > 0);
}
