import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { types } from 'mediasoup';
import * as sdpTransform from 'sdp-transform';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../../signaling/src/errors.js';
import { renumberOffer } from '../../../../tests/support/whep.js';
import { buildAnswer, h264Profile, parseOffer, parseTrickle, whepPlan } from './sdp.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../tests/fixtures/whep');
/** A real offer of Debian's Chromium 156: recvonly video then audio, BUNDLE, nothing trickled yet. */
const CHROMIUM = fs.readFileSync(path.join(FIXTURES, 'chromium-156-offer.sdp'), 'utf8');

/** The routers' capabilities as mediasoup 3.12 numbers ROUTER_CODECS (gateway/src/media/codecs.ts). */
const ROUTER: types.RtpCapabilities = {
  codecs: [
    {
      kind: 'video',
      mimeType: 'video/H264',
      clockRate: 90000,
      preferredPayloadType: 100,
      parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
      rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
    },
    { kind: 'video', mimeType: 'video/rtx', clockRate: 90000, preferredPayloadType: 101, parameters: { apt: 100 } },
    {
      kind: 'video',
      mimeType: 'video/H264',
      clockRate: 90000,
      preferredPayloadType: 102,
      parameters: { 'packetization-mode': 1, 'profile-level-id': '4d001f', 'level-asymmetry-allowed': 1 },
    },
    { kind: 'video', mimeType: 'video/rtx', clockRate: 90000, preferredPayloadType: 103, parameters: { apt: 102 } },
    { kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000, channels: 1, preferredPayloadType: 0 },
    { kind: 'audio', mimeType: 'audio/PCMA', clockRate: 8000, channels: 1, preferredPayloadType: 8 },
    { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, preferredPayloadType: 104 },
  ],
  headerExtensions: [
    { kind: 'video', uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', preferredId: 1 },
    { kind: 'video', uri: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time', preferredId: 4 },
    { kind: 'video', uri: 'urn:ietf:params:rtp-hdrext:toffset', preferredId: 12 },
    { kind: 'audio', uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', preferredId: 1 },
    { kind: 'audio', uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', preferredId: 10 },
  ],
};

const renumber = renumberOffer;

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof GatewayError ? `${err.status} ${err.code} ${err.reason ?? ''}`.trim() : String(err);
  }
  return 'no error';
};

describe('parseOffer', () => {
  it("reads Chromium's offer: codecs with its payload types, rtx, rtcp-fb, extension ids, DTLS", () => {
    const o = parseOffer(CHROMIUM);
    expect(o.sections).toEqual([
      { mid: '0', kind: 'video' },
      { mid: '1', kind: 'audio' },
    ]);
    const h264 = o.rtpCapabilities.codecs?.find(
      (c) =>
        c.mimeType === 'video/H264' &&
        c.parameters?.['profile-level-id'] === '42e01f' &&
        c.parameters?.['packetization-mode'] === 1,
    );
    expect(h264?.preferredPayloadType).toBe(108);
    expect(h264?.rtcpFeedback).toContainEqual({ type: 'nack', parameter: 'pli' });
    expect(h264?.rtcpFeedback).toContainEqual({ type: 'ccm', parameter: 'fir' });
    const rtx = o.rtpCapabilities.codecs?.find((c) => c.mimeType === 'video/rtx' && c.parameters?.['apt'] === 108);
    expect(rtx?.preferredPayloadType).toBe(109);
    expect(o.rtpCapabilities.codecs?.find((c) => c.mimeType === 'audio/opus')).toMatchObject({
      preferredPayloadType: 111,
      clockRate: 48000,
      channels: 2,
    });
    expect(o.rtpCapabilities.headerExtensions).toContainEqual({
      kind: 'video',
      uri: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
      preferredId: 4,
      direction: 'sendrecv',
    });
    // The MID extension is left out: mediasoup numbers mids itself (see sdp.ts).
    expect(o.rtpCapabilities.headerExtensions?.some((e) => e.uri.endsWith('sdes:mid'))).toBe(false);
    expect(o.dtlsParameters.role).toBe('client'); // actpass: we answer passive
    expect(o.dtlsParameters.fingerprints[0]?.algorithm).toBe('sha-256');
    expect(o.iceUfrag).toMatch(/^\S{4,}$/);
  });

  it('keeps an all-digit profile-level-id a string (sdp-transform would make 640028 a number)', () => {
    const sdp = CHROMIUM.replace('profile-level-id=42e01f', 'profile-level-id=640028');
    const c = parseOffer(sdp).rtpCapabilities.codecs?.find((x) => x.parameters?.['profile-level-id'] === '640028');
    expect(c).toBeDefined();
  });

  it('refuses what is not an offer it can use: 400 E_BAD_REQUEST bad_offer', () => {
    expect(codeOf(() => parseOffer('hello'))).toBe('400 E_BAD_REQUEST bad_offer');
    expect(codeOf(() => parseOffer(CHROMIUM.replace(/a=fingerprint:.*\r\n/g, '')))).toBe('400 E_BAD_REQUEST bad_offer');
    expect(codeOf(() => parseOffer(CHROMIUM.replace(/a=ice-ufrag:.*\r\n/g, '')))).toBe('400 E_BAD_REQUEST bad_offer');
    expect(codeOf(() => parseOffer(CHROMIUM.replace(/a=setup:actpass/g, 'a=setup:holdconn')))).toBe(
      '400 E_BAD_REQUEST bad_offer',
    );
    expect(codeOf(() => parseOffer(CHROMIUM.replaceAll('a=recvonly', 'a=sendonly')))).toBe(
      '400 E_BAD_REQUEST bad_offer',
    );
    expect(codeOf(() => parseOffer(`${CHROMIUM}${'a=x\r\n'.repeat(10_000)}`))).toBe('400 E_BAD_REQUEST bad_offer');
  });

  it("serves a max-bundle player's bundle-only section (port 0), not a disabled one", () => {
    const [head, rest] = CHROMIUM.split(/(?=m=audio)/) as [string, string];
    const bundleOnly = `${head}${rest.replace('m=audio 9 ', 'm=audio 0 ').replace('a=mid:1', 'a=mid:1\r\na=bundle-only')}`;
    expect(parseOffer(bundleOnly).sections.map((s) => s.kind)).toEqual(['video', 'audio']);
    const disabled = `${head}${rest.replace('m=audio 9 ', 'm=audio 0 ')}`;
    expect(parseOffer(disabled).sections.map((s) => s.kind)).toEqual(['video', undefined]);
  });

  it('answers a=setup:passive offers as active', () => {
    const o = parseOffer(CHROMIUM.replaceAll('a=setup:actpass', 'a=setup:passive'));
    expect(o.dtlsParameters.role).toBe('server');
  });

  it('serves one section of each kind; a second video section is not served', () => {
    const [head, video] = CHROMIUM.split(/(?=m=video)/) as [string, string];
    const audio = video.slice(video.indexOf('m=audio'));
    const v = video.slice(0, video.indexOf('m=audio'));
    const sdp = `${head.replace('BUNDLE 0 1', 'BUNDLE 0 1 2')}${v}${audio}${v.replace('a=mid:0', 'a=mid:2')}`;
    expect(parseOffer(sdp).sections.map((s) => s.kind)).toEqual(['video', 'audio', undefined]);
  });
});

describe('whepPlan', () => {
  it("numbers the router's codecs as Chromium's stock offer does, rtx included", () => {
    const plan = whepPlan(parseOffer(CHROMIUM).rtpCapabilities, ROUTER);
    expect(plan.codecs.map((c) => `${c.codec.mimeType}/${c.payloadType}/${c.rtxPayloadType ?? '-'}`)).toEqual([
      'video/H264/108/109',
      'video/H264/116/117',
      'audio/PCMU/0/-',
      'audio/PCMA/8/-',
      'audio/opus/111/-',
    ]);
    // The router's parameters (what the answer signals), no payload type of its own.
    expect(plan.codecs[0]?.codec).toEqual({
      kind: 'video',
      mimeType: 'video/H264',
      clockRate: 90000,
      parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
    });
    expect(plan.rtpCapabilities.codecs?.map((c) => `${c.mimeType}/${c.preferredPayloadType}`)).toEqual([
      'video/H264/108',
      'video/rtx/109',
      'video/H264/116',
      'video/rtx/117',
      'audio/PCMU/0',
      'audio/PCMA/8',
      'audio/opus/111',
    ]);
    expect(plan.rtpCapabilities.codecs?.[1]?.parameters).toEqual({ apt: 108 });
    // Chromium numbers toffset 1 and abs-send-time 2, the router 12 and 4: none kept.
    expect(plan.rtpCapabilities.headerExtensions?.filter((e) => e.kind === 'video')).toEqual([]);
  });

  it('follows a renumbered offer; offers numbered alike share a key, others do not', () => {
    const stock = whepPlan(parseOffer(CHROMIUM).rtpCapabilities, ROUTER);
    const moved = whepPlan(parseOffer(renumber(CHROMIUM, 12)).rtpCapabilities, ROUTER);
    expect(moved.codecs[0]).toMatchObject({ payloadType: 120, rtxPayloadType: 121 });
    expect(whepPlan(parseOffer(CHROMIUM).rtpCapabilities, ROUTER).key).toBe(stock.key);
    expect(moved.key).not.toBe(stock.key);
  });

  it('leaves rtx out when the offer has none for the codec', () => {
    const sdp = CHROMIUM.replace(/a=fmtp:109 apt=108/, 'a=fmtp:109 apt=99');
    const plan = whepPlan(parseOffer(sdp).rtpCapabilities, ROUTER);
    expect(plan.codecs[0]).toMatchObject({ payloadType: 108, rtxPayloadType: undefined });
    expect(plan.rtpCapabilities.codecs?.filter((c) => c.kind === 'video').map((c) => c.preferredPayloadType)).toEqual([
      108, 116, 117,
    ]);
  });

  it('has no video for a VP8-only offer', () => {
    const vp8 = CHROMIUM.replace(/^m=video 9 UDP\/TLS\/RTP\/SAVPF .*$/m, 'm=video 9 UDP/TLS/RTP/SAVPF 96 97');
    const plan = whepPlan(parseOffer(vp8).rtpCapabilities, ROUTER);
    expect(plan.codecs.some((c) => c.codec.kind === 'video')).toBe(false);
    expect(plan.rtpCapabilities.codecs?.some((c) => c.kind === 'video')).toBe(false);
  });
});

describe('h264Profile', () => {
  it('tells the profiles the routers carry apart', () => {
    expect(h264Profile('42e01f')).toBe('constrained-baseline');
    expect(h264Profile('42001f')).toBe('baseline');
    expect(h264Profile('4d001f')).toBe('main');
    expect(h264Profile('640c1f')).toBe('constrained-high');
    expect(h264Profile('640028')).toBe('high');
  });
});

describe('buildAnswer', () => {
  const offer = parseOffer(renumber(CHROMIUM, 24));
  const rtpParameters: types.RtpParameters = {
    mid: '0',
    codecs: [
      {
        mimeType: 'video/H264',
        payloadType: 100,
        clockRate: 90000,
        parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
        rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
      },
      { mimeType: 'video/rtx', payloadType: 101, clockRate: 90000, parameters: { apt: 100 }, rtcpFeedback: [] },
    ],
    headerExtensions: [],
    encodings: [{ ssrc: 1111, rtx: { ssrc: 2222 } }],
    rtcp: { cname: 'x', reducedSize: true },
  };
  const answer = buildAnswer({
    offer,
    iceParameters: { usernameFragment: 'srvufrag', password: 'srvpassword', iceLite: true },
    iceCandidates: [
      {
        foundation: 'udpcandidate',
        priority: 1076302079,
        ip: '127.0.0.1',
        protocol: 'udp',
        port: 40000,
        type: 'host',
        tcpType: undefined,
      },
      {
        foundation: 'tcpcandidate',
        priority: 1076276479,
        ip: '127.0.0.1',
        protocol: 'tcp',
        port: 40000,
        type: 'host',
        tcpType: 'passive',
      },
    ],
    dtlsParameters: { role: 'auto', fingerprints: [{ algorithm: 'sha-256', value: 'AB:CD' }] },
    tracks: [{ kind: 'video', rtpParameters }],
    streamId: 'kel-sekip-jaya',
    sessionId: '0123456789abcdef0123456789abcdef',
  });
  const a = sdpTransform.parse(answer);

  it('is ICE-lite, passive, one m-line per offer m-line in order with the same mids', () => {
    expect(a.icelite).toBe('ice-lite');
    expect(a.media.map((m) => [m.type, String(m.mid), m.port > 0])).toEqual([
      ['video', '0', true],
      ['audio', '1', false], // the camera has no audio: port 0
    ]);
    expect(a.groups?.map((g) => `${g.type} ${g.mids}`)).toEqual(['BUNDLE 0']);
    const v = a.media[0] as sdpTransform.MediaDescription;
    expect(v.setup).toBe('passive');
    expect(v.direction).toBe('sendonly');
    expect(v.iceUfrag).toBe('srvufrag');
    expect(v.fingerprint).toEqual({ type: 'sha-256', hash: 'AB:CD' });
    expect(v.candidates?.map((c) => `${c.transport} ${c.port} ${c.tcptype ?? ''}`.trim())).toEqual([
      'udp 40000',
      'tcp 40000 passive',
    ]);
    expect(v.rtcpMux).toBe('rtcp-mux');
  });

  it("names the consumer's payload types, SSRCs with cname/msid and the rtx FID group", () => {
    const v = a.media[0] as sdpTransform.MediaDescription;
    expect(v.payloads).toBe('100 101');
    expect(v.rtp.map((r) => `${r.payload} ${r.codec}/${r.rate}`)).toEqual(['100 H264/90000', '101 rtx/90000']);
    expect(v.fmtp.find((f) => f.payload === 101)?.config).toBe('apt=100');
    expect(v.rtcpFb?.map((f) => `${f.payload} ${f.type} ${f.subtype ?? ''}`.trim())).toEqual([
      '100 nack',
      '100 nack pli',
    ]);
    expect(v.ssrcGroups).toEqual([{ semantics: 'FID', ssrcs: '1111 2222' }]);
    expect(v.ssrcs?.filter((s) => s.attribute === 'msid').map((s) => s.id)).toEqual([1111, 2222]);
    expect(v.msid?.[0]?.id).toBe('kel-sekip-jaya');
  });
});

describe('parseTrickle', () => {
  it('reads a trickle-ice-sdpfrag as whip-whep and Chromium players send it', () => {
    const frag = [
      'a=ice-ufrag:EsAw',
      'a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1',
      'm=audio 9 UDP/TLS/RTP/SAVPF 0',
      'a=mid:0',
      'a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0',
      'a=end-of-candidates',
      '',
    ].join('\r\n');
    expect(parseTrickle(frag)).toEqual({
      iceUfrag: 'EsAw',
      icePwd: 'P2uYro0UCOQ4zxjKXaWCBui1',
      candidates: 1,
      endOfCandidates: true,
    });
  });
});
