// A real coturn (Debian's /usr/bin/turnserver) on 127.0.0.1 for the TURN tests: REST-scheme shared
// secret (use-auth-secret), plain TURN over UDP and TCP, relaying to loopback peers (the gateway's media
// port in the test namespace). The secret goes in a 0600 config file, not on the command line.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from './stack.js';

export interface Coturn {
  port: number;
  /** turn:127.0.0.1:port?transport=udp and …=tcp */
  urls: string[];
  /** Everything coturn printed so far. */
  log(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

export async function startCoturn(
  secret: string,
  bin = process.env['TURNSERVER_PATH'] ?? '/usr/bin/turnserver',
): Promise<Coturn> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coturn-'));
  const conf = path.join(dir, 'turnserver.conf');
  fs.writeFileSync(
    conf,
    [
      `listening-ip=127.0.0.1`,
      `relay-ip=127.0.0.1`,
      `listening-port=${port}`,
      'min-port=49152',
      'max-port=65535',
      'use-auth-secret',
      `static-auth-secret=${secret}`,
      'realm=cctv.test',
      'fingerprint',
      'no-tls',
      'no-dtls',
      'no-cli',
      'no-rfc5780',
      'no-stun-backward-compatibility',
      'allow-loopback-peers',
      `userdb=${path.join(dir, 'turndb')}`,
      `pidfile=${path.join(dir, 'turnserver.pid')}`,
      'log-file=stdout',
      'simple-log',
      'verbose',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  let out = '';
  const child: ChildProcess = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d) => {
    out += String(d);
  });
  child.stderr?.on('data', (d) => {
    out += String(d);
  });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const listening = async () => {
    if (exited) throw new Error(`coturn exited:\n${out}`);
    return new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  };
  await waitFor('coturn to listen', listening, 10_000);
  return {
    port,
    urls: [`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`],
    log: () => out,
    stop: async () => {
      if (!exited) {
        child.kill('SIGTERM');
        await waitFor('coturn to exit', () => exited, 5000).catch(() => child.kill('SIGKILL'));
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
