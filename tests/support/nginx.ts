// Debian's nginx as an unprivileged child, run on config/deploy/nginx.conf.template, with a throwaway
// self-signed certificate (openssl) in a temp dir; see tests/behind-proxy.test.ts.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from './stack.js';

export const NGINX_TEMPLATE = path.resolve('config/deploy/nginx.conf.template');

export interface Nginx {
  port: number;
  dir: string;
  cert: string;
  key: string;
  errorLog(): string;
  close(): Promise<void>;
}

/** A port free right now on `host`. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, host, r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** A self-signed certificate for 127.0.0.1 and localhost in `dir`. */
export function selfSignedCert(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

export async function startNginx(opts: {
  upstream: string;
  bind: string;
  listenHost?: string;
  port?: number;
}): Promise<Nginx> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cctv-nginx-'));
  const { cert, key } = selfSignedCert(dir);
  const host = opts.listenHost ?? '127.0.0.1';
  const port = opts.port ?? (await freePort(host));
  const values: Record<string, string> = {
    LISTEN: `${host}:${port}`,
    CERT: cert,
    KEY: key,
    UPSTREAM: opts.upstream,
    BIND: opts.bind,
    PREFIX: dir,
  };
  const conf = fs.readFileSync(NGINX_TEMPLATE, 'utf8').replace(/\{\{(\w+)\}\}/g, (_m, k: string) => {
    const v = values[k];
    if (v === undefined) throw new Error(`nginx template: no value for {{${k}}}`);
    return v;
  });
  const confFile = path.join(dir, 'nginx.conf');
  fs.writeFileSync(confFile, conf);
  const child: ChildProcess = spawn(
    'nginx',
    ['-p', dir, '-c', confFile, '-e', path.join(dir, 'error.log'), '-g', `daemon off; pid ${dir}/nginx.pid;`],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  let exited: number | null = null;
  child.once('exit', (code) => {
    exited = code ?? -1;
  });
  const errorLog = () => fs.readFileSync(path.join(dir, 'error.log'), 'utf8');
  await waitFor(
    'nginx to listen',
    () =>
      new Promise<boolean>((resolve, reject) => {
        if (exited !== null) reject(new Error(`nginx exited (${exited}): ${errorLog()}`));
        const s = net.connect(port, host);
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      }),
    10_000,
  );
  return {
    port,
    dir,
    cert,
    key,
    errorLog,
    close: async () => {
      if (exited === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
