// Test harness: the real camera simulator and a real gateway in this process, logs captured.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { parseConfig } from '../../config/load.js';
import type { CameraConfig, Config } from '../../config/schema.js';
import { type Role, TokenVerifier } from '../../gateway/src/auth/tokens.js';
import { Gateway } from '../../gateway/src/Gateway.js';
import { createLogger } from '../../gateway/src/log.js';
import { CameraSimulator, type SimCameraSpec } from '../../gateway/src/sim/CameraSimulator.js';

export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface Stack {
  sim: CameraSimulator;
  gateway: Gateway;
  logs: LogRecord[];
  config: Config;
  base: string;
  token(streams?: string[], ttlSec?: number, role?: Role, sub?: string): string;
  /** Stops the gateway and starts a new one on the same port, config and audit file. */
  restartGateway(): Promise<void>;
  close(): Promise<void>;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export const TEST_SECRET = 'test-secret-for-the-test-suite-only';

export async function startStack(opts: {
  /**
   * `ingest` picks the camera's ingest path. Unlike the product's default (`auto`, the packet relay
   * for H.264), cameras here default to `ffmpeg`, which the older tests and benchmarks measure.
   */
  cameras: (SimCameraSpec & Partial<Pick<CameraConfig, 'alwaysOn' | 'rtspTransport' | 'ingest'>>)[];
  /** Extra gateway camera entries (e.g. one nothing serves). */
  extraCameras?: Record<string, unknown>[];
  config?: DeepPartial<Config>;
  /** Start as production does for this reason (e.g. 'NODE_ENV=production'): /metrics then needs a token. */
  production?: string;
}): Promise<Stack> {
  const sim = await CameraSimulator.start({
    cameras: opts.cameras.map(({ alwaysOn, rtspTransport, ingest, ...s }) => s),
  });
  const audio = (c: SimCameraSpec) => (c.audio ? { audio: true } : {});
  const cameras = opts.cameras.map((c) => ({
    id: c.id,
    name: `Kantor ${c.id}`,
    main: { url: c.auth ? sim.urlWithCredentials(c.id) : sim.url(c.id) },
    ...(c.alwaysOn ? { alwaysOn: true } : {}),
    ...(c.rtspTransport ? { rtspTransport: c.rtspTransport } : {}),
    ingest: c.ingest ?? 'ffmpeg',
    ...audio(c),
  }));
  return gatewayOnSim(sim, [...cameras, ...(opts.extraCameras ?? [])], opts.config, opts.production);
}

/** A gateway in this process over a running simulator, with the test defaults; shared by every stack. */
export async function gatewayOnSim(
  sim: CameraSimulator,
  cameras: Record<string, unknown>[],
  overrides: DeepPartial<Config> = {},
  production?: string,
): Promise<Stack> {
  const base = {
    // Every test client comes from 127.0.0.1: no per-address cap unless a test sets one.
    server: { host: '127.0.0.1', port: 0, maxConnectionsPerAddress: 0 },
    media: { workers: 2, listenIp: '127.0.0.1', rtcPort: 0 },
    ingest: { idleTimeoutSec: 30, backoffInitialMs: 200, backoffMaxMs: 2000 },
    log: { level: 'info' },
    audit: { file: path.join(os.tmpdir(), `cctv-audit-${process.pid}-${Date.now()}.jsonl`) },
    // Never the repository's var/: each stack has its own accounts and signed-out sessions.
    auth: {
      accounts: { file: path.join(os.tmpdir(), `cctv-users-${process.pid}-${Date.now()}.json`) },
      sessions: { revokedFile: path.join(os.tmpdir(), `cctv-revoked-${process.pid}-${Date.now()}.jsonl`) },
    },
  };
  const merged = deepMerge(base, overrides as Record<string, unknown>);
  const { config, cameras: valid } = parseConfig({ ...merged, cameras }, 'test', {});
  const logs: LogRecord[] = [];
  // CCTV_TEST_LOG=path keeps the gateway's log for a look after a failure.
  const logFile = process.env['CCTV_TEST_LOG'];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line) as LogRecord);
      if (logFile) fs.appendFileSync(logFile, String(chunk));
      cb();
    },
  });
  const logger = createLogger(config.log.level, sink);
  const verifier = TokenVerifier.fromConfig({ ...config.auth, jwtSecret: config.auth.jwtSecret ?? TEST_SECRET });
  const gateway = await Gateway.start({ config, cameras: valid, verifier, logger, production });
  const stack: Stack = {
    sim,
    gateway,
    logs,
    config,
    base: `http://127.0.0.1:${gateway.port}`,
    token: (streams = ['*'], ttlSec = 3600, role = 'viewer', sub = 'test-viewer') =>
      verifier.sign({ sub, role, streams }, ttlSec),
    restartGateway: async () => {
      await stack.gateway.close();
      stack.gateway = await Gateway.start({
        config: { ...config, server: { ...config.server, port: stack.gateway.port } },
        cameras: valid,
        verifier,
        logger,
        production,
      });
      stack.base = `http://127.0.0.1:${stack.gateway.port}`;
    },
    close: async () => {
      await stack.gateway.close();
      await sim.stop();
    },
  };
  return stack;
}

function deepMerge<T extends Record<string, unknown>>(a: T, b: Record<string, unknown>): T {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object'
        ? deepMerge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out as T;
}

/** FFmpeg processes whose command line mentions `needle` (e.g. the stream it serves: 'cam-a/main'). */
export async function ffmpegProcesses(needle: string): Promise<number[]> {
  const fs = await import('node:fs/promises');
  const pids: number[] = [];
  for (const d of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const cmd = await fs.readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
    const argv = cmd.split('\0');
    if (argv[0]?.endsWith('ffmpeg') && argv.some((a) => a.includes(needle))) pids.push(Number(d));
  }
  return pids;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
  everyMs = 100,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
