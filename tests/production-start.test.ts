// A production start never uses the development JWT secret: with NODE_ENV=production, or a
// server.publicUrl that is not loopback, and no CCTV_JWT_SECRET, the real entry point (started as
// the Dockerfile and the systemd unit start it, through scripts/env.sh) prints one line saying what
// to set and exits 2 before any worker or the simulator starts. With the secret it starts and stops
// cleanly on SIGTERM; the demo (no NODE_ENV, loopback) still starts with the development secret.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { devSecretRefusal, isLoopbackHost, productionReason } from '../gateway/src/auth/setup.js';

const root = path.resolve(import.meta.dirname, '..');
const MESSAGE =
  /^cctv-gateway: refusing to start in production \(.+\) with the development JWT secret: set CCTV_JWT_SECRET \(at least 32 random characters, e\.g\. `openssl rand -base64 48`\) or auth\.publicKeyFile/;

let dir: string;

/** The test runner's environment without NODE_ENV (vitest sets it to `test`) or any CCTV_ setting. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (k !== 'NODE_ENV' && !k.startsWith('CCTV_')) env[k] = v;
  return { ...env, ...extra };
}

async function writeConfig(name: string, lines: string[]): Promise<string> {
  const file = path.join(dir, name);
  const base = [
    'log: { level: info }',
    'media: { workers: 1, listenIp: 127.0.0.1, rtcPort: 0, rtpPortRange: { min: 44100, max: 44199 } }',
    `audit: { file: ${path.join(dir, `${name}.audit.jsonl`)} }`,
    'cameras: []',
  ];
  await fs.writeFile(file, `${[...lines, ...base].join('\n')}\n`);
  return file;
}

interface Started {
  code: Promise<number | null>;
  stdout: () => string;
  stderr: () => string;
  kill: (signal: NodeJS.Signals) => void;
}

function start(args: string[], env: NodeJS.ProcessEnv): Started {
  const child = spawn('bash', ['scripts/env.sh', 'node', '--import', 'tsx', 'gateway/src/main.ts', ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const code = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, stdout: () => out, stderr: () => err, kill: (s) => child.kill(s) };
}

async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitForOutput(run: Started, re: RegExp, ms: number): Promise<RegExpExecArray> {
  const until = Date.now() + ms;
  for (;;) {
    const m = re.exec(run.stdout());
    if (m) return m;
    if (Date.now() > until)
      throw new Error(`no ${re} after ${ms} ms\nstdout:\n${run.stdout()}\nstderr:\n${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'production-start-'));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('what counts as production', () => {
  it('NODE_ENV=production, or a public URL whose host is not loopback', () => {
    const server = (publicUrl?: string) => ({ server: { ...(publicUrl ? { publicUrl } : {}) } }) as never;
    expect(productionReason(server(), {})).toBeUndefined();
    expect(productionReason(server(), { NODE_ENV: 'development' })).toBeUndefined();
    expect(productionReason(server(), { NODE_ENV: 'production' })).toBe('NODE_ENV=production');
    for (const url of ['http://127.0.0.1:8080', 'http://localhost:8080/', 'http://[::1]:8080', 'http://127.1.2.3'])
      expect(productionReason(server(url), {}), url).toBeUndefined();
    expect(productionReason(server('https://cctv.palembang.go.id'), {})).toMatch(/is not loopback/);
    expect(productionReason(server('http://10.20.0.5:8080'), {})).toMatch(/is not loopback/);
    expect(productionReason(server('cctv.palembang.go.id'), {})).toMatch(/is not a URL/);
    expect(isLoopbackHost('127.0.0.1.example.org')).toBe(false);
    expect(isLoopbackHost('notlocalhost')).toBe(false);
  });

  it('refuses only the development secrets: a JWT secret, or an RS256/ES256 key with a session secret, passes; the demo config is not production', () => {
    const demo = loadConfig(path.join(root, 'config', 'default.yaml'), {}).config;
    expect(devSecretRefusal(demo, {})).toBeUndefined();
    expect(devSecretRefusal(demo, { NODE_ENV: 'production' })).toMatch(MESSAGE);
    const withSecret = loadConfig(path.join(root, 'config', 'default.yaml'), {
      CCTV_JWT_SECRET: 'x'.repeat(48),
    }).config;
    expect(devSecretRefusal(withSecret, { NODE_ENV: 'production' })).toBeUndefined();
    const rs256 = { ...demo, auth: { ...demo.auth, algorithm: 'RS256' as const, publicKeyFile: '/etc/k.pem' } };
    // RS256 has no HS secret to derive the sign-in session key from: that needs its own.
    expect(devSecretRefusal(rs256, { NODE_ENV: 'production' })).toMatch(
      /development session key: .*CCTV_SESSION_SECRET/,
    );
    const rs256Sessions = {
      ...rs256,
      auth: { ...rs256.auth, sessions: { ...rs256.auth.sessions, secret: 'y'.repeat(48) } },
    };
    expect(devSecretRefusal(rs256Sessions, { NODE_ENV: 'production' })).toBeUndefined();
  });
});

describe('the entry point started like production', () => {
  it('NODE_ENV=production and no CCTV_JWT_SECRET: exits 2 with the message, nothing started', async () => {
    const config = await writeConfig('prod.yaml', ['server: { host: 127.0.0.1, port: 0 }']);
    const t0 = Date.now();
    const run = start(['--config', config], cleanEnv({ NODE_ENV: 'production' }));
    const code = await within(15_000, 'the refused start', run.code);
    console.log(`refused in ${Date.now() - t0} ms: ${run.stderr().trim()}`);
    expect(code).toBe(2);
    expect(run.stderr()).toMatch(MESSAGE);
    expect(run.stderr()).toContain('(NODE_ENV=production)');
    expect(run.stderr().trim().split('\n')).toHaveLength(1);
    // The logger is not even made: no worker, simulator or listener said anything.
    expect(run.stdout()).toBe('');
  });

  it('a public URL that is not loopback and no NODE_ENV: refused the same way', async () => {
    const config = await writeConfig('public.yaml', [
      'server: { host: 127.0.0.1, port: 0, publicUrl: "https://cctv.palembang.go.id" }',
    ]);
    const run = start(['--config', config], cleanEnv({}));
    const code = await within(15_000, 'the refused start', run.code);
    expect(code).toBe(2);
    expect(run.stderr()).toMatch(MESSAGE);
    expect(run.stderr()).toContain('server.publicUrl https://cctv.palembang.go.id is not loopback');
    expect(run.stdout()).toBe('');
  });

  it('with CCTV_JWT_SECRET it starts, serves, and stops on SIGTERM', async () => {
    const config = await writeConfig('secret.yaml', [
      'server: { host: 127.0.0.1, port: 0, publicUrl: "https://cctv.palembang.go.id" }',
    ]);
    const run = start(['--config', config], cleanEnv({ NODE_ENV: 'production', CCTV_JWT_SECRET: 'k'.repeat(48) }));
    try {
      const m = await waitForOutput(run, /"port":(\d+)[^\n]*"msg":"gateway listening"/, 30_000);
      const res = await fetch(`http://127.0.0.1:${m[1]}/healthz`);
      expect(res.status).toBe(200);
      expect(run.stdout()).not.toContain('development secret');
      expect(run.stderr()).not.toMatch(/refusing/);
    } finally {
      run.kill('SIGTERM');
    }
    expect(await within(15_000, 'the stop on SIGTERM', run.code)).toBe(0);
    expect(run.stdout()).toContain('"msg":"gateway stopped"');
  });

  it('the demo (default config, no NODE_ENV, loopback) still starts with the development secret', async () => {
    const run = start(
      ['--demo'],
      cleanEnv({
        CCTV_PORT: '0',
        CCTV_SIM_PORT: '0',
        CCTV_RTC_PORT: '0',
        CCTV_WORKERS: '1',
        CCTV_AUDIT_FILE: path.join(dir, 'demo.audit.jsonl'),
      }),
    );
    try {
      await waitForOutput(run, /Open: {2}http:\/\/127\.0\.0\.1:\d+\/\?token=/, 45_000);
      expect(run.stdout()).toContain('using the development secret');
    } finally {
      run.kill('SIGTERM');
    }
    expect(await within(20_000, 'the demo stop on SIGTERM', run.code)).toBe(0);
  });
});
