import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config/load.js';

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
    expect(cameras[0]?.rtspTransport).toBe('tcp');
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
