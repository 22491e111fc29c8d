import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../config/load.js';
import { CameraSchema } from '../config/schema.js';
import { splitCredentials } from '../gateway/src/ingest/rtsp/auth.js';

const fixture = (name: string) => path.join(import.meta.dirname, 'fixtures', name);
const defaultFile = path.join(import.meta.dirname, '..', 'config', 'default.yaml');

describe('config loader', () => {
  it('loads the embedded default with defaults filled in', () => {
    const { config, cameras, cameraProblems } = loadConfig(defaultFile, {});
    expect(config.server.port).toBe(8080);
    expect(config.ingest.idleTimeoutSec).toBe(30);
    expect(config.simulator?.cameras.length).toBe(6);
    expect(config.simulator?.cameras[0]?.fps).toBe(25);
    expect(cameras).toEqual([]);
    expect(cameraProblems).toEqual([]);
  });

  it('keeps valid cameras, reports bad ones by field, and takes secrets from the environment', () => {
    const { config, cameras, cameraProblems } = loadConfig(fixture('valid.yaml'), { CAM_PASS_DEMO: 'p@ss/w0rd' });
    expect(config.server.port).toBe(9090);
    expect(cameras.map((c) => c.id)).toEqual(['kel-demo-1']);
    expect(cameras[0]?.main.url).toBe('rtsp://viewer:p%40ss%2Fw0rd@127.0.0.1:8554/cam1');
    // The schema's default (another change is moving it from 'tcp' to 'auto').
    expect(cameras[0]?.rtspTransport).toBe(CameraSchema.properties.rtspTransport.default);
    expect(cameraProblems.map((p) => p.field)).toEqual(['/cameras/1/id', '/cameras/2/main/url']);
  });

  it('reports a camera whose password variable is unset, without echoing anything secret', () => {
    const { cameras, cameraProblems } = loadConfig(fixture('valid.yaml'), {});
    expect(cameras).toEqual([]);
    expect(cameraProblems[0]).toMatchObject({ id: 'kel-demo-1', field: '/cameras/0/main/url' });
    expect(cameraProblems[0]?.reason).toContain('CAM_PASS_DEMO');
  });

  it('fails fast on an out-of-range field and names it', () => {
    expect(() => loadConfig(fixture('invalid-port.yaml'), {})).toThrowError(ConfigError);
    expect(() => loadConfig(fixture('invalid-port.yaml'), {})).toThrowError(/\/server\/port must be <= 65535/);
  });

  it('fails fast on a misspelt setting and names it', () => {
    expect(() => loadConfig(fixture('unknown-key.json'), {})).toThrowError(/\/media\/listenIP is not a known setting/);
  });

  it('applies environment overrides and checks them', () => {
    const { config } = loadConfig(defaultFile, { CCTV_PORT: '9999', CCTV_JWT_SECRET: 'a-long-enough-secret-value' });
    expect(config.server.port).toBe(9999);
    expect(config.auth.jwtSecret).toBe('a-long-enough-secret-value');
    expect(() => loadConfig(defaultFile, { CCTV_PORT: 'eighty' })).toThrowError(/CCTV_PORT.*must be an integer/);
    expect(() => loadConfig(defaultFile, { CCTV_JWT_SECRET: 'short' })).toThrowError(/\/auth\/jwtSecret/);
  });

  it('reports an unreadable file and broken YAML clearly', () => {
    expect(() => loadConfig(fixture('nope.yaml'), {})).toThrowError(/cannot be read: ENOENT/);
    expect(() => loadConfig(fixture('../config.test.ts'), {})).toThrowError(/not valid YAML|must be a mapping/);
  });
});

describe('camera URL credentials', () => {
  const PASSWORD = 'p@ss:w/rd#1%';
  const cam = (id: string, url: string, sub?: string) => ({
    id,
    name: `Kantor ${id}`,
    main: { url },
    ...(sub ? { sub: { url: sub } } : {}),
  });
  const load = (cameras: unknown[], env: NodeJS.ProcessEnv = {}) => parseConfig({ cameras }, 'test', env);

  it('refuses a password pasted raw, naming the field and never the password', () => {
    const { cameras, cameraProblems } = load(
      [
        cam('ok', 'rtsp://viewer:${CAM_PASS}@10.0.0.1/a'),
        cam('raw', `rtsp://admin:${PASSWORD}@10.0.0.2:554/stream`),
        cam('raw-sub', 'rtsp://10.0.0.3/a', 'rtsp://admin:Zq Vx7@10.0.0.3/b'),
        cam('slash', 'rtsp://admin:123/456@10.0.0.4/a'),
        cam('bad-port', 'rtsp://admin:x@10.0.0.5:99999/a'),
        cam('bad-host', 'rtsp://admin:x@/a'),
        cam('bad-env-name', 'rtsp://admin:${cam_pass}@10.0.0.6/a'),
      ],
      { CAM_PASS: PASSWORD },
    );
    expect(cameras.map((c) => c.id)).toEqual(['ok']);
    expect(cameraProblems.map((p) => [p.id, p.field])).toEqual([
      ['raw', '/cameras/1/main/url'],
      ['raw-sub', '/cameras/2/sub/url'],
      ['slash', '/cameras/3/main/url'],
      ['bad-port', '/cameras/4/main/url'],
      ['bad-host', '/cameras/5/main/url'],
      ['bad-env-name', '/cameras/6/main/url'],
    ]);
    const reasons = cameraProblems.map((p) => p.reason);
    expect(reasons[0]).toMatch(/more than one '@'.*%40/);
    expect(reasons[1]).toMatch(/a space, which must be written %20/);
    expect(reasons[2]).toMatch(/'\/', which must be written %2F/);
    expect(reasons[3]).toMatch(/port/);
    expect(reasons[4]).toMatch(/no host/);
    expect(reasons[5]).toMatch(/UPPER_CASE/);
    const text = JSON.stringify(cameraProblems);
    for (const piece of [
      'p@s',
      '@ss',
      'ss:',
      's:w',
      ':w/',
      'w/r',
      '/rd',
      'rd#',
      'd#1',
      '#1%',
      'Zq ',
      ' Vx',
      '123',
      '456',
    ])
      expect(text).not.toContain(piece);
  });

  it('takes a percent-encoded password in the URL, and a plain one from ${NAME}, to the same credentials', () => {
    const encoded = `rtsp://admin:${encodeURIComponent(PASSWORD)}@10.0.0.2:554/stream`;
    const { cameras, cameraProblems } = load(
      [
        cam('encoded', encoded),
        cam('colon-raw', 'rtsp://admin:p%40ss:w%2Frd%231%25@10.0.0.2:554/stream'),
        cam('lower-hex', 'rtsp://admin:p%40ss%3aw%2frd%231%25@10.0.0.2:554/stream'),
        cam('env', 'rtsp://admin:${CAM_PASS}@10.0.0.2:554/stream'),
        cam('env-user', 'rtsp://${CAM_USER}:${CAM_PASS}@10.0.0.2:554/stream'),
        cam('looks-encoded', 'rtsp://admin:${CAM_PASS_LITERAL}@10.0.0.2:554/stream'),
      ],
      { CAM_PASS: PASSWORD, CAM_USER: 'admin', CAM_PASS_LITERAL: 'p%40ss' },
    );
    expect(cameraProblems).toEqual([]);
    const creds = cameras.map((c) => splitCredentials(c.main.url).creds);
    for (const c of creds.slice(0, 5)) expect(c).toEqual({ user: 'admin', password: PASSWORD });
    // A value in a variable is never decoded: "p%40ss" is sent as it is.
    expect(creds[5]).toEqual({ user: 'admin', password: 'p%40ss' });
    expect(cameras[3]?.main.url).toBe(encoded);
  });

  it('refuses a ${NAME} whose value makes the URL unreadable, without echoing the value', () => {
    const { cameraProblems } = load([cam('env-host', 'rtsp://admin:x@${CAM_HOST}/a')], { CAM_HOST: '10.0.0.1:554' });
    expect(cameraProblems[0]).toMatchObject({ field: '/cameras/0/main/url' });
    expect(cameraProblems[0]?.reason).toMatch(/once the environment variables are filled in: the host is not/);
    expect(cameraProblems[0]?.reason).not.toContain('10.0.0.1');
    const port = load([cam('env-port', 'rtsp://admin:x@10.0.0.1:${CAM_PORT}/a')], { CAM_PORT: '8554' });
    expect(port.cameraProblems).toEqual([]);
    expect(port.cameras[0]?.main.url).toBe('rtsp://admin:x@10.0.0.1:8554/a');
  });
});
