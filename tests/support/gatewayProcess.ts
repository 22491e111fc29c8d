// A gateway in a process of its own (gateway/src/main.ts), as it runs in production: for timings
// a browser measures, which the test runner's own event loop would otherwise share.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './nginx.js';
import { TEST_SECRET, waitFor } from './stack.js';

const root = path.resolve(import.meta.dirname, '../..');

export interface GatewayProcess {
  base: string;
  child: ChildProcess;
  log: string[];
  close(): Promise<void>;
}

/** Starts one on 127.0.0.1 with `cameras` (config entries); tokens of the test stacks' secret work on it. */
export async function startGatewayProcess(cameras: Record<string, unknown>[]): Promise<GatewayProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cctv-gw-'));
  const port = await freePort('127.0.0.1');
  const config = {
    server: { host: '127.0.0.1', port, maxConnectionsPerAddress: 0 },
    media: { workers: 1, listenIp: '127.0.0.1', rtcPort: await freePort('127.0.0.1') },
    log: { level: 'warn' },
    audit: { file: path.join(dir, 'audit.jsonl') },
    auth: {
      accounts: { file: path.join(dir, 'users.json') },
      sessions: { revokedFile: path.join(dir, 'revoked.jsonl') },
    },
    cameras,
  };
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify(config));
  const child = spawn('node', ['--import', 'tsx', 'gateway/src/main.ts', '--config', file], {
    cwd: root,
    env: { ...process.env, CCTV_JWT_SECRET: TEST_SECRET, NODE_ENV: 'test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: string[] = [];
  for (const s of [child.stdout, child.stderr])
    s?.setEncoding('utf8').on('data', (c: string) => log.push(...c.split('\n').filter(Boolean)));
  const base = `http://127.0.0.1:${port}`;
  const close = async () => {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'the gateway process ready',
      async () => ((await fetch(`${base}/readyz`).catch(() => undefined))?.ok ? true : undefined),
      30_000,
      200,
    );
  } catch (err) {
    await close();
    throw new Error(`${(err as Error).message}; its log: ${log.slice(-10).join(' | ')}`);
  }
  return { base, child, log, close };
}
