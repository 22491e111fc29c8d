import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../config/load.js';
import type { CameraConfig } from '../../../config/schema.js';
import {
  classifyAnswer,
  getProfilesBody,
  onvifSecrets,
  onvifTarget,
  parseFault,
  parseProfileTokens,
  passwordDigest,
  setSynchronizationPointBody,
  soapEnvelope,
  wsCreated,
} from './onvif.js';

const NONCE = Buffer.from([...Array(16).keys()]);
const CREATED = '2026-12-01T10:00:00Z';

const camera = (over: Partial<CameraConfig> = {}): CameraConfig => ({
  id: 'cam1',
  name: 'Cam 1',
  main: { url: 'rtsp://admin:p%40ss@10.0.0.5:554/Streaming/101', transcode: 'auto' },
  alwaysOn: false,
  rtspTransport: 'auto',
  audio: false,
  ...over,
});

describe('WS-Security UsernameToken', () => {
  it('digests Base64(SHA1(nonce + created + password)) (checked against Python hashlib)', () => {
    expect(passwordDigest(NONCE, CREATED, 'S3cret&pw')).toBe('li69Vd4u7DUoqzdEeU3o0OD40iI=');
  });

  it('writes Created in UTC without milliseconds', () => {
    expect(wsCreated(new Date('2026-12-01T10:00:00.123Z'))).toBe('2026-12-01T10:00:00Z');
  });

  it('puts the token in a SOAP 1.2 header, user escaped, the password never in clear', () => {
    const xml = soapEnvelope(getProfilesBody(), {
      user: 'a<dmin',
      password: 'S3cret&pw',
      nonce: NONCE,
      created: CREATED,
    });
    expect(xml).toContain('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">');
    expect(xml).toContain('<wsse:Username>a&lt;dmin</wsse:Username>');
    expect(xml).toMatch(/<wsse:Password Type="[^"]+#PasswordDigest">li69Vd4u7DUoqzdEeU3o0OD40iI=<\/wsse:Password>/);
    expect(xml).toContain(
      `<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">${NONCE.toString('base64')}</wsse:Nonce>`,
    );
    expect(xml).toContain(`<wsu:Created>${CREATED}</wsu:Created>`);
    expect(xml).toContain('<trt:GetProfiles xmlns:trt="http://www.onvif.org/ver10/media/wsdl"/>');
    expect(xml).not.toContain('S3cret');
  });

  it('has no header without credentials; the profile token is escaped', () => {
    const xml = soapEnvelope(setSynchronizationPointBody('a&b'));
    expect(xml).not.toContain('Header');
    expect(xml).toContain('<trt:ProfileToken>a&amp;b</trt:ProfileToken>');
  });
});

describe('parseProfileTokens', () => {
  it('reads Profiles tokens of any prefix, not the tokens of configurations inside them', () => {
    const ver10 =
      '<SOAP-ENV:Envelope><SOAP-ENV:Body><trt:GetProfilesResponse>' +
      '<trt:Profiles fixed="true" token="Profile_1"><tt:Name>main</tt:Name>' +
      '<tt:VideoSourceConfiguration token="VideoSource_1"/><tt:VideoEncoderConfiguration token="enc1">' +
      '</tt:VideoEncoderConfiguration></trt:Profiles>' +
      "<trt:Profiles\n token='Profile_2' fixed='true'><tt:Name>sub</tt:Name></trt:Profiles>" +
      '</trt:GetProfilesResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>';
    expect(parseProfileTokens(ver10)).toEqual(['Profile_1', 'Profile_2']);
    expect(parseProfileTokens('<Profiles token="a&amp;b"></Profiles><ns1:Profiles token="c"/>')).toEqual(['a&b', 'c']);
    // media2, and no match on look-alike names
    expect(parseProfileTokens('<tr2:Profiles token="m2"><tr2:Name>x</tr2:Name></tr2:Profiles>')).toEqual(['m2']);
    expect(
      parseProfileTokens('<ProfilesX token="no"/><GetProfilesResponse token="no"/><Profiles xtoken="no"/>'),
    ).toEqual([]);
  });
});

describe('parseFault and classifyAnswer', () => {
  const fault12 = (subcodes: string[], reason = 'Sender not authorized') =>
    '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><env:Fault><env:Code>' +
    '<env:Value>env:Sender</env:Value>' +
    subcodes.reduceRight((inner, s) => `<env:Subcode><env:Value>${s}</env:Value>${inner}</env:Subcode>`, '') +
    `</env:Code><env:Reason><env:Text xml:lang="en">${reason}</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`;

  it('reads SOAP 1.2 code, nested subcodes and reason; SOAP 1.1 faultcode', () => {
    expect(parseFault(fault12(['ter:InvalidArgVal', 'ter:NoProfile'], 'no &amp; such'))).toEqual({
      code: 'env:Sender',
      subcodes: ['ter:InvalidArgVal', 'ter:NoProfile'],
      reason: 'no & such',
    });
    expect(
      parseFault(
        '<s:Envelope><s:Body><s:Fault><faultcode>SOAP-ENV:Client</faultcode><faultstring>bad</faultstring></s:Fault></s:Body></s:Envelope>',
      ),
    ).toEqual({ code: 'SOAP-ENV:Client', subcodes: [], reason: 'bad' });
    expect(parseFault('<s:Envelope><s:Body><trt:SetSynchronizationPointResponse/></s:Body></s:Envelope>')).toBe(
      undefined,
    );
  });

  it('classifies answers', () => {
    const ok = '<s:Envelope><s:Body><trt:SetSynchronizationPointResponse/></s:Body></s:Envelope>';
    expect(classifyAnswer(200, ok)).toEqual({ ok: true });
    expect(classifyAnswer(400, fault12(['ter:NotAuthorized']))).toEqual({
      ok: false,
      reason: 'unauthorized',
      detail: 'HTTP 400 env:Sender ter:NotAuthorized (Sender not authorized)',
    });
    expect(classifyAnswer(500, fault12(['wsse:FailedAuthentication']))).toMatchObject({ reason: 'unauthorized' });
    expect(classifyAnswer(401, 'Unauthorized')).toMatchObject({ reason: 'unauthorized' });
    expect(classifyAnswer(404, '<html>404</html>')).toMatchObject({ reason: 'not-supported' });
    expect(classifyAnswer(400, fault12(['ter:ActionNotSupported']))).toMatchObject({ reason: 'not-supported' });
    expect(classifyAnswer(400, fault12(['ter:InvalidArgVal', 'ter:NoProfile']))).toMatchObject({
      reason: 'no-profile',
    });
    expect(classifyAnswer(500, fault12(['ter:Other']))).toMatchObject({ reason: 'fault' });
    expect(classifyAnswer(503, '')).toMatchObject({ reason: 'http-error', detail: 'HTTP 503' });
    expect(classifyAnswer(200, '<html>login</html>')).toMatchObject({ reason: 'bad-answer' });
  });
});

describe('onvifTarget', () => {
  it('is off unless configured', () => {
    expect(onvifTarget(camera(), 'main')).toBeUndefined();
    expect(onvifTarget(camera({ onvif: false }), 'main')).toBeUndefined();
  });

  it('derives the URL and credentials from the main RTSP URL', () => {
    expect(onvifTarget(camera({ onvif: {} }), 'main')).toEqual({
      url: 'http://10.0.0.5/onvif/media_service',
      user: 'admin',
      password: 'p@ss',
      profileToken: undefined,
      profileIndex: 0,
      timeoutMs: 2000,
    });
    const v6 = camera({ main: { url: 'rtsp://[fd00::5]:8554/live', transcode: 'auto' }, onvif: {} });
    expect(onvifTarget(v6, 'sub')).toMatchObject({
      url: 'http://[fd00::5]/onvif/media_service',
      user: undefined,
      password: undefined,
      profileIndex: 1,
    });
  });

  it('takes what is configured; another user does not get the RTSP password', () => {
    const onvif = { url: 'https://cam/onvif/Media', profileToken: 'P1', subProfileToken: 'P2', timeoutSec: 0.5 };
    expect(onvifTarget(camera({ onvif }), 'sub')).toMatchObject({
      url: 'https://cam/onvif/Media',
      user: 'admin',
      password: 'p@ss',
      profileToken: 'P2',
      timeoutMs: 500,
    });
    expect(onvifTarget(camera({ onvif: { user: 'onvif' } }), 'main')).toMatchObject({
      user: 'onvif',
      password: undefined,
    });
    expect(onvifTarget(camera({ onvif: { user: 'onvif', password: 'x' } }), 'main')).toMatchObject({ password: 'x' });
  });

  it('lists the ONVIF password forms for redaction', () => {
    expect(onvifSecrets(camera({ onvif: { password: 'a"b&c' } }))).toEqual(['a"b&c', 'a\\"b&c', 'a&quot;b&amp;c']);
    expect(onvifSecrets(camera({ onvif: {} }))).toEqual([]);
  });
});

describe('config: cameras[].onvif', () => {
  const load = (onvif: unknown, env: NodeJS.ProcessEnv = {}) =>
    parseConfig({ cameras: [{ id: 'c1', name: 'C1', main: { url: 'rtsp://10.0.0.5/s' }, onvif }] }, 'test', env);

  it('accepts {}, false and a full object; fills ${ENV} in the password as it is', () => {
    expect(load({}).cameras[0]?.onvif).toEqual({});
    expect(load(false).cameras[0]?.onvif).toBe(false);
    const full = load(
      { url: 'http://10.0.0.5:8080/onvif/media_service', user: 'op', password: '${CAM_ONVIF_PW}', timeoutSec: 1 },
      { CAM_ONVIF_PW: 'p@ss %20/#' },
    );
    expect(full.cameraProblems).toEqual([]);
    expect(full.cameras[0]?.onvif).toMatchObject({ user: 'op', password: 'p@ss %20/#' });
  });

  it('refuses a mistyped field by name, true, credentials in the URL and an unset variable', () => {
    expect(load({ pasword: 'x' }).cameraProblems[0]).toMatchObject({
      field: '/cameras/0/onvif/pasword',
      reason: 'is not a known setting',
    });
    expect(load(true).cameras).toEqual([]);
    expect(load({ url: 'http://admin:pw@10.0.0.5/onvif/media_service' }).cameraProblems[0]?.field).toBe(
      '/cameras/0/onvif/url',
    );
    const unset = load({ password: '${NOPE_X}' });
    expect(unset.cameraProblems[0]).toMatchObject({
      field: '/cameras/0/onvif/password',
      reason: 'uses unset environment variable(s) NOPE_X',
    });
  });
});
