// WHEP's SDP, translated to and from what the Viewer speaks (pure; no I/O). The player's offer
// becomes mediasoup RtpCapabilities (its codecs, rtx, rtcp-fb and header-extension ids) and remote
// DtlsParameters; the answer is written from the transport's ICE-lite/DTLS parameters and the
// consumers' rtpParameters, one m-line per offer m-line in order, unserved ones with port 0.
import type { types } from 'mediasoup';
import * as sdpTransform from 'sdp-transform';
import { GatewayError } from '../../../../signaling/src/errors.js';

type Kind = 'audio' | 'video';
type MediaDescription = sdpTransform.MediaDescription;

/** A player's offer, read. */
export interface WhepOffer {
  /** The parsed offer; the answer mirrors its m-lines. */
  sdp: sdpTransform.SessionDescription;
  /** Every codec and header extension the offer can receive, with the offer's payload types and ids. */
  rtpCapabilities: types.RtpCapabilities;
  /** The player's DTLS side: `role` is what it will be (offer actpass → client, we answer passive). */
  dtlsParameters: types.DtlsParameters;
  /** The player's ICE username fragment. */
  iceUfrag: string;
  /** Per offer m-line (same order): the kind it may receive, or undefined when we cannot serve it. */
  sections: { mid: string; kind: Kind | undefined }[];
}

/** One consumer the answer describes, in the offer m-line of its kind. */
export interface AnswerTrack {
  kind: Kind;
  rtpParameters: types.RtpParameters;
}

export interface AnswerInput {
  offer: WhepOffer;
  iceParameters: types.IceParameters;
  iceCandidates: types.IceCandidate[];
  dtlsParameters: types.DtlsParameters;
  tracks: AnswerTrack[];
  /** The stream's id: the answer's msid stream id. */
  streamId: string;
  /** Stable per session: the answer's session id and RTCP cname. */
  sessionId: string;
}

// ICE-lite mediasoup sends the MID extension with mids it numbers itself ("0", "1", …), which need not
// be the offer's: without it the player demuxes by the SSRCs the answer names (RFC 8843 §9.2).
const MID_URI = 'urn:ietf:params:rtp-hdrext:sdes:mid';
// Numeric fmtp parameters mediasoup compares as numbers; every other value stays a string, so an
// all-digit profile-level-id such as 640028 is not turned into a number (sdp-transform's parseParams would).
const NUMERIC_PARAMS = new Set([
  'packetization-mode',
  'level-asymmetry-allowed',
  'apt',
  'minptime',
  'useinbandfec',
  'usedtx',
  'stereo',
  'sprop-stereo',
  'maxplaybackrate',
  'profile-id',
]);
const FINGERPRINT_ALGORITHMS = ['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512'];
/** Offers bigger than this are refused before parsing (a Chromium offer is some 5 KB). */
export const MAX_OFFER_BYTES = 32 * 1024;

const bad = (message: string) => new GatewayError('E_BAD_REQUEST', `bad SDP offer: ${message}`, 'bad_offer');

function fmtpParams(config: string): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const part of config.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    out[key] = NUMERIC_PARAMS.has(key) && /^\d+$/.test(value) ? Number(value) : value;
  }
  return out;
}

function sectionCodecs(m: MediaDescription, kind: Kind): types.RtpCodecCapability[] {
  const fb = m.rtcpFb ?? [];
  const listed = new Set(
    String(m.payloads ?? '')
      .split(/\s+/)
      .map(Number),
  );
  return m.rtp
    .filter((r) => listed.has(r.payload) && r.payload >= 0 && r.payload <= 127)
    .map((r) => {
      const fmtp = m.fmtp.filter((f) => f.payload === r.payload).map((f) => f.config);
      const parameters = fmtp.length ? fmtpParams(fmtp.join(';')) : {};
      const rtcpFeedback = fb
        .filter((f) => f.payload === r.payload || f.payload === '*')
        .map((f) => ({ type: f.type, parameter: f.subtype ?? '' }));
      return {
        kind,
        mimeType: `${kind}/${r.codec}`,
        preferredPayloadType: r.payload,
        clockRate: r.rate ?? (kind === 'audio' ? 8000 : 90000),
        ...(kind === 'audio' ? { channels: r.encoding ?? 1 } : {}),
        parameters,
        rtcpFeedback,
      };
    });
}

/** The sections a WHEP server may send on: audio or video, RTP over DTLS-SRTP, receiving, not disabled. */
function servableKind(m: MediaDescription): Kind | undefined {
  if (m.type !== 'audio' && m.type !== 'video') return undefined;
  // Port 0 is a disabled section, unless it is bundle-only (max-bundle players, RFC 8843 §6).
  if ((m.port === 0 && !m.bundleOnly) || !/^UDP\/TLS\/RTP\/SAVPF$|^(TCP\/)?DTLS\/RTP\/SAVPF$/i.test(m.protocol))
    return undefined;
  const dir = m.direction ?? 'sendrecv';
  return dir === 'recvonly' || dir === 'sendrecv' ? m.type : undefined;
}

/** Reads a player's offer; throws E_BAD_REQUEST (reason `bad_offer`) for anything that is not one. */
export function parseOffer(text: string): WhepOffer {
  if (text.length > MAX_OFFER_BYTES) throw bad(`larger than ${MAX_OFFER_BYTES} bytes`);
  if (!/^v=0\r?\n/.test(text)) throw bad('it does not start with v=0');
  let sdp: sdpTransform.SessionDescription;
  try {
    sdp = sdpTransform.parse(text);
  } catch {
    throw bad('it does not parse');
  }
  if (!sdp.media?.length) throw bad('it has no m-line');
  const fingerprint = sdp.fingerprint ?? sdp.media.find((m) => m.fingerprint)?.fingerprint;
  if (!fingerprint?.hash || !fingerprint.type) throw bad('it has no a=fingerprint (DTLS is required)');
  const algorithm = fingerprint.type.toLowerCase();
  if (!FINGERPRINT_ALGORITHMS.includes(algorithm) || !/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){19,63}$/.test(fingerprint.hash))
    throw bad(`a=fingerprint:${fingerprint.type} is not a DTLS fingerprint mediasoup knows`);
  const setup = sdp.setup ?? sdp.media.find((m) => m.setup)?.setup ?? 'actpass';
  if (!['actpass', 'active', 'passive'].includes(setup))
    throw bad(`a=setup:${setup} is not actpass, active or passive`);
  const iceUfrag = sdp.iceUfrag ?? sdp.media.find((m) => m.iceUfrag)?.iceUfrag;
  if (!iceUfrag) throw bad('it has no a=ice-ufrag');

  const bundled = new Set(String((sdp.groups ?? []).find((g) => g.type === 'BUNDLE')?.mids ?? '').split(/\s+/) ?? []);
  const codecs: types.RtpCodecCapability[] = [];
  const headerExtensions: types.RtpHeaderExtension[] = [];
  const sections: WhepOffer['sections'] = [];
  const kinds = new Set<Kind>();
  for (const [i, m] of sdp.media.entries()) {
    const mid = String(m.mid ?? i);
    let kind = servableKind(m);
    // One transport carries everything: without BUNDLE only the first servable section is served.
    if (
      kind &&
      sections.some((s) => s.kind) &&
      !(bundled.has(mid) && sections.every((s) => !s.kind || bundled.has(s.mid)))
    )
      kind = undefined;
    // One track of each kind: a second video section is answered with port 0.
    if (kind && kinds.has(kind)) kind = undefined;
    sections.push({ mid, kind });
    if (!kind) continue;
    kinds.add(kind);
    codecs.push(...sectionCodecs(m, kind));
    for (const e of m.ext ?? []) {
      if (e.uri === MID_URI || e.value < 1 || e.value > 255) continue;
      headerExtensions.push({ kind, uri: e.uri, preferredId: e.value, direction: 'sendrecv' });
    }
  }
  if (!sections.some((s) => s.kind)) throw bad('no m-line can receive audio or video over UDP/TLS/RTP/SAVPF');
  return {
    sdp,
    rtpCapabilities: { codecs, headerExtensions },
    dtlsParameters: {
      role: setup === 'passive' ? 'server' : 'client',
      fingerprints: [{ algorithm, value: fingerprint.hash.toUpperCase() }],
    },
    iceUfrag: String(iceUfrag),
    sections,
  };
}

/** One router codec an offer can receive, and the numbers the offer gives it. */
export interface PlannedCodec {
  /** The router's codec (its parameters: what the answer signals), without a payload type. */
  codec: types.RtpCodecCapability;
  /** The offer's payload type for it. */
  payloadType: number;
  /** The offer's payload type for its rtx, if it offers one (on a number nothing else takes). */
  rtxPayloadType: number | undefined;
}

/**
 * How a WHEP router must number its codecs so that its consumers send on the offer's payload types.
 * mediasoup 3.12 sends a consumer's RTP with its router's payload types whatever the capabilities say
 * (versatica/mediasoup#1126), and libwebrtc receives only with the numbers of its own offer (an answer
 * that renumbers is accepted, but its packets are dropped). So the WHEP path consumes on a router of
 * the offer's numbering (whep/routers.ts), fed by a pipe from the stream's router: a Producer maps the
 * numbers it receives to its router's, so the pipe renumbers. Header-extension ids are the worker's
 * own (not configurable in 3.12) and libwebrtc refuses an answer that moves one: an extension is kept
 * only where the offer's id is the router's.
 */
export interface WhepPlan {
  codecs: PlannedCodec[];
  /** The same for offers numbered alike (every offer of one browser build): they share a router. */
  key: string;
  /** The offer's capabilities narrowed to the plan, with the offer's numbers: what to consume with. */
  rtpCapabilities: types.RtpCapabilities;
}

export function whepPlan(offer: types.RtpCapabilities, router: types.RtpCapabilities): WhepPlan {
  const planned: PlannedCodec[] = [];
  const codecs: types.RtpCodecCapability[] = [];
  const used = new Set<number>();
  const offered = offer.codecs ?? [];
  for (const r of router.codecs ?? []) {
    if (isRtx(r)) continue;
    // The offer's first codec of the same profile and packetization (an offer lists its preference first).
    const c = offered.find(
      (o) =>
        !isRtx(o) &&
        o.kind === r.kind &&
        codecMatches(r, o) &&
        o.preferredPayloadType !== undefined &&
        !used.has(o.preferredPayloadType),
    );
    if (!c || c.preferredPayloadType === undefined) continue;
    const pt = c.preferredPayloadType;
    used.add(pt);
    const rtx = offered.find(
      (o) =>
        isRtx(o) &&
        o.kind === r.kind &&
        Number(o.parameters?.['apt']) === pt &&
        o.preferredPayloadType !== undefined &&
        !used.has(o.preferredPayloadType),
    );
    const rtxPt = r.kind === 'video' ? rtx?.preferredPayloadType : undefined;
    if (rtxPt !== undefined) used.add(rtxPt);
    const { preferredPayloadType: _pt, rtcpFeedback: _fb, ...codec } = r;
    planned.push({ codec: { ...codec, parameters: { ...r.parameters } }, payloadType: pt, rtxPayloadType: rtxPt });
    codecs.push({ ...c, parameters: { ...c.parameters } });
    // Without rtx the worker resends lost packets as they were: only the media payload type must agree.
    if (rtx && rtxPt !== undefined) codecs.push({ ...rtx, parameters: { apt: pt } });
  }
  const headerExtensions = (offer.headerExtensions ?? []).filter((e) =>
    (router.headerExtensions ?? []).some(
      (re) => re.kind === e.kind && re.uri === e.uri && re.preferredId === e.preferredId,
    ),
  );
  const key = planned
    .map(
      (p) =>
        `${describe(p.codec)}/${p.codec.parameters?.['packetization-mode'] ?? ''}=${p.payloadType}:${p.rtxPayloadType ?? '-'}`,
    )
    .join(',');
  return { codecs: planned, key, rtpCapabilities: { codecs, headerExtensions } };
}

function describe(c: types.RtpCodecCapability): string {
  const pli = c.parameters?.['profile-level-id'];
  return `${c.mimeType}${pli ? ` ${pli}` : ''}`;
}

function isRtx(c: { mimeType: string }): boolean {
  return /\/rtx$/i.test(c.mimeType);
}

/** Same codec as mediasoup counts it for consuming: mime type, clock rate, channels, H.264 packetization and profile. */
function codecMatches(a: types.RtpCodecCapability, b: types.RtpCodecCapability): boolean {
  if (a.mimeType.toLowerCase() !== b.mimeType.toLowerCase() || a.clockRate !== b.clockRate) return false;
  if (a.kind === 'audio' && (a.channels ?? 1) !== (b.channels ?? 1)) return false;
  if (a.mimeType.toLowerCase() === 'video/h264') {
    const pm = (c: types.RtpCodecCapability) => Number(c.parameters?.['packetization-mode'] ?? 0);
    const profile = (c: types.RtpCodecCapability) =>
      h264Profile(String(c.parameters?.['profile-level-id'] ?? '42001f'));
    return pm(a) === pm(b) && profile(a) === profile(b);
  }
  return true;
}

/** The H.264 profile of a profile-level-id (RFC 6184 §8.1), enough to tell those routers carry apart. */
export function h264Profile(pli: string): string {
  const idc = pli.slice(0, 2).toLowerCase();
  const iop = Number.parseInt(pli.slice(2, 4), 16);
  if (idc === '42') return iop & 0x40 ? 'constrained-baseline' : 'baseline';
  if (idc === '4d') return iop & 0x80 ? 'constrained-baseline' : 'main';
  if (idc === '58') return iop & 0x80 ? (iop & 0x40 ? 'constrained-baseline' : 'baseline') : 'extended';
  if (idc === '64') return iop & 0x0c ? 'constrained-high' : 'high';
  return idc;
}

/** The SDP answer: ICE-lite, our fingerprint, one m-line per offer m-line, each served one sendonly. */
export function buildAnswer(a: AnswerInput): string {
  const { offer } = a;
  const fp = a.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? a.dtlsParameters.fingerprints[0];
  if (!fp) throw new Error('the transport has no DTLS fingerprint');
  const setup = offer.dtlsParameters.role === 'server' ? 'active' : 'passive';
  const served = new Map<string, AnswerTrack>();
  for (const s of offer.sections) {
    const track = s.kind && a.tracks.find((t) => t.kind === s.kind);
    if (track) served.set(s.mid, track);
  }
  const cname = a.sessionId.slice(0, 16);
  const media: MediaDescription[] = offer.sdp.media.map((om, i) => {
    const mid = offer.sections[i]?.mid ?? String(i);
    const track = served.get(mid);
    if (!track) return rejected(om, mid);
    const p = track.rtpParameters;
    const enc = p.encodings?.[0];
    const trackId = `${track.kind}-${a.sessionId.slice(0, 8)}`;
    const ssrcs: NonNullable<MediaDescription['ssrcs']> = [];
    for (const ssrc of [enc?.ssrc, enc?.rtx?.ssrc]) {
      if (ssrc === undefined) continue;
      ssrcs.push({ id: ssrc, attribute: 'cname', value: cname });
      ssrcs.push({ id: ssrc, attribute: 'msid', value: `${a.streamId} ${trackId}` });
    }
    const m: MediaDescription = {
      type: om.type,
      port: 9,
      protocol: 'UDP/TLS/RTP/SAVPF',
      payloads: p.codecs.map((c) => c.payloadType).join(' '),
      connection: { version: 4, ip: '127.0.0.1' },
      rtcp: { port: 9, netType: 'IN', ipVer: 4, address: '0.0.0.0' },
      mid,
      direction: 'sendonly',
      msid: [{ id: a.streamId, appdata: trackId }],
      iceUfrag: a.iceParameters.usernameFragment,
      icePwd: a.iceParameters.password,
      fingerprint: { type: fp.algorithm, hash: fp.value },
      setup,
      candidates: a.iceCandidates.map((c) => ({
        foundation: c.foundation,
        component: 1,
        transport: c.protocol,
        priority: c.priority,
        ip: c.ip,
        port: c.port,
        type: c.type,
        ...(c.tcpType ? { tcptype: c.tcpType } : {}),
        generation: 0,
      })),
      endOfCandidates: 'end-of-candidates',
      iceOptions: 'renomination',
      rtcpMux: 'rtcp-mux',
      rtcpRsize: 'rtcp-rsize',
      ext: (p.headerExtensions ?? []).map((e) => ({ value: e.id, uri: e.uri })),
      rtp: p.codecs.map((c) => ({
        payload: c.payloadType,
        codec: c.mimeType.split('/')[1] ?? c.mimeType,
        rate: c.clockRate,
        ...(c.channels && c.channels > 1 ? { encoding: c.channels } : {}),
      })),
      fmtp: p.codecs
        .filter((c) => c.parameters && Object.keys(c.parameters).length > 0)
        .map((c) => ({
          payload: c.payloadType,
          config: Object.entries(c.parameters ?? {})
            .map(([k, v]) => `${k}=${v}`)
            .join(';'),
        })),
      rtcpFb: p.codecs.flatMap((c) =>
        (c.rtcpFeedback ?? []).map((f) => ({
          payload: c.payloadType,
          type: f.type,
          ...(f.parameter ? { subtype: f.parameter } : {}),
        })),
      ),
      ssrcs,
      ...(enc?.rtx ? { ssrcGroups: [{ semantics: 'FID', ssrcs: `${enc.ssrc} ${enc.rtx.ssrc}` }] } : {}),
    };
    return m;
  });
  const bundle = [...served.keys()];
  const answer: sdpTransform.SessionDescription = {
    version: 0,
    origin: {
      username: '-',
      sessionId: sessionNumber(a.sessionId),
      sessionVersion: 1,
      netType: 'IN',
      ipVer: 4,
      address: '127.0.0.1',
    },
    name: '-',
    timing: { start: 0, stop: 0 },
    icelite: 'ice-lite',
    groups: bundle.length ? [{ type: 'BUNDLE', mids: bundle.join(' ') }] : [],
    msidSemantic: { semantic: 'WMS', token: a.streamId },
    media,
  };
  return sdpTransform.write(answer);
}

/** An m-line we do not serve: port 0, the offer's first format, no attributes but its mid (RFC 8843). */
function rejected(om: MediaDescription, mid: string): MediaDescription {
  const first = String(om.payloads ?? '').split(/\s+/)[0] || (om.type === 'application' ? 'webrtc-datachannel' : '0');
  return {
    type: om.type,
    port: 0,
    protocol: om.protocol,
    payloads: first,
    connection: { version: 4, ip: '0.0.0.0' },
    mid,
    direction: 'inactive',
    rtp: [],
    fmtp: [],
  };
}

function sessionNumber(id: string): string {
  // A positive 62-bit decimal from the session id (the SDP o= sess-id is a numeric string).
  const hex = id
    .replace(/[^0-9a-f]/gi, '')
    .slice(0, 15)
    .padEnd(15, '0');
  return BigInt(`0x${hex}`).toString();
}

/** A trickle-ice-sdpfrag PATCH body (RFC 8840): its ICE credentials and how many candidates it names. */
export interface TrickleFragment {
  iceUfrag: string | undefined;
  icePwd: string | undefined;
  candidates: number;
  endOfCandidates: boolean;
}

export function parseTrickle(text: string): TrickleFragment {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  const value = (prefix: string) => lines.find((l) => l.startsWith(prefix))?.slice(prefix.length);
  return {
    iceUfrag: value('a=ice-ufrag:'),
    icePwd: value('a=ice-pwd:'),
    candidates: lines.filter((l) => l.startsWith('a=candidate:')).length,
    endOfCandidates: lines.includes('a=end-of-candidates'),
  };
}
