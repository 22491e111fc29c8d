// `npm run demo:cluster`: a cluster of three gateway nodes on this machine, loopback only.
//   - redis-server on 127.0.0.1 (a free port, no persistence, in a temp dir)
//   - the camera simulator once, with config/default.yaml's `simulator` cameras, on 127.0.0.1
//   - three `gateway/src/main.ts --config <generated>` nodes on 127.0.0.1, 127.0.0.2 and 127.0.0.3,
//     one worker each, the same cameras (all pointing at the one simulator), the same JWT secret
//     (.cache/dev-jwt-secret, as `npm run demo` and `npm run token` use) and a cluster secret made
//     for this run
// Prints each node's URL with a viewer token, then waits. Ctrl-C / SIGTERM: the nodes drain (SIGTERM,
// SIGKILL after 15 s), then the simulator and Redis stop and the temp dir goes. Every child is started
// under `setpriv --pdeathsig SIGKILL` too, so even a SIGKILL of this process leaves none behind (the
// nodes' mediasoup workers and FFmpegs are tied to the nodes the same way).
// Node logs (pino JSON, level info): var/demo-cluster/<node>.log; warnings and errors are echoed here.
// Environment: DEMO_CLUSTER_PORT (default 8081: node i listens on DEMO_CLUSTER_PORT + i),
// DEMO_CLUSTER_RTC_PORT (default 40100: node i's worker on DEMO_CLUSTER_RTC_PORT + i).
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config/load.js';
import { TokenVerifier } from '../gateway/src/auth/tokens.js';
import { CameraSimulator } from '../gateway/src/sim/CameraSimulator.js';
import { simulatedCameras } from '../gateway/src/sim/fromConfig.js';

const root = path.resolve(import.meta.dirname, '..');
const ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
const basePort = Number(process.env['DEMO_CLUSTER_PORT'] ?? 8081);
const baseRtc = Number(process.env['DEMO_CLUSTER_RTC_PORT'] ?? 40100);
const say = (s: string) => process.stdout.write(`[demo:cluster] ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Node {
  id: string;
  address: string;
  port: number;
  child: ChildProcess;
  exited: Promise<void>;
}

// A run killed with SIGKILL leaves its temp dir: the next run removes those whose process is gone.
for (const name of fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('cctv-demo-cluster-'))) {
  const dir = path.join(os.tmpdir(), name);
  let alive: boolean;
  try {
    process.kill(Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8')), 0);
    alive = true;
  } catch {
    // No pid file (yet): only a dir older than a minute is stale.
    alive = !fs.existsSync(path.join(dir, 'pid')) && Date.now() - fs.statSync(dir).mtimeMs < 60_000;
  }
  if (!alive) fs.rmSync(dir, { recursive: true, force: true });
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cctv-demo-cluster-'));
fs.writeFileSync(path.join(tmp, 'pid'), String(process.pid));
const logDir = path.join(root, 'var', 'demo-cluster');
const nodes: Node[] = [];
let redis: ChildProcess | undefined;
let sim: CameraSimulator | undefined;
let stopping: Promise<void> | undefined;

/** A TCP port free on `host` now: `want` when it is, else one the kernel picks. */
async function tcpPort(host: string, want = 0): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(undefined));
      srv.listen(port, host, () => {
        const got = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(got));
      });
    });
  return (want ? await tryListen(want) : undefined) ?? (await tryListen(0)) ?? 0;
}

/** True when `port` is free on `host` over both UDP and TCP (a WebRtcServer binds both). */
async function udpTcpFree(host: string, port: number): Promise<boolean> {
  if ((await tcpPort(host, port)) !== port) return false;
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

async function rtcPort(host: string, want: number): Promise<number> {
  for (let p = want; p < want + 200; p += 3) if (await udpTcpFree(host, p)) return p;
  throw new Error(`no free UDP+TCP port near ${want} on ${host}`);
}

/** The development JWT secret every node and `npm run token` share (made once, like auth/setup.ts). */
function devJwtSecret(): string {
  const file = path.join(root, '.cache', 'dev-jwt-secret');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, crypto.randomBytes(32).toString('base64url'), { mode: 0o600 });
  }
  return fs.readFileSync(file, 'utf8').trim();
}

async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${url}: the process exited`);
    const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await sleep(250);
  }
  throw new Error(`${url}/readyz did not answer 200 within ${timeoutMs / 1000} s`);
}

/** A child under `setpriv --pdeathsig`: it gets `signal` when this process dies, however it dies. */
// Each in its own process group (detached): Ctrl-C in the terminal, or a signal to this group, reaches
// this process alone, not the nodes' mediasoup workers or Redis, so the nodes drain in order (their
// cameras handed over through Redis) instead of seeing their workers die under them.
function tied(signal: string, cmd: string, args: string[], opts: Parameters<typeof spawn>[2]): ChildProcess {
  return spawn('setpriv', ['--pdeathsig', signal, '--', cmd, ...args], { ...opts, detached: true });
}

async function startRedis(): Promise<number> {
  const port = await tcpPort('127.0.0.1');
  const dir = path.join(tmp, 'redis');
  fs.mkdirSync(dir);
  redis = tied(
    'SIGKILL',
    'redis-server',
    ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const until = Date.now() + 5000;
  while (Date.now() < until) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write('PING\r\n');
      });
      s.once('data', (d) => {
        s.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
      s.once('error', () => resolve(false));
    });
    if (up) return port;
    await sleep(100);
  }
  throw new Error('redis-server did not answer PING within 5 s (is it installed? scripts/setup.sh installs it)');
}

function startNode(
  i: number,
  port: number,
  rtc: number,
  common: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Node {
  const id = `node-${String.fromCharCode(97 + i)}`;
  const address = ADDRESSES[i] as string;
  const config = {
    ...common,
    server: { host: address, port, maxConnectionsPerAddress: 0 },
    // One worker each (fits 2 cores); pipes between nodes and camera ingest use rtpPortRange.
    media: {
      workers: 1,
      listenIp: address,
      announcedAddress: address,
      rtcPort: rtc,
      rtpPortRange: { min: 42000 + i * 300, max: 42299 + i * 300 },
    },
    audit: { file: path.join(tmp, `${id}-audit.jsonl`) },
    auth: { sessions: { revokedFile: path.join(tmp, `${id}-revoked.jsonl`) } },
    cluster: { ...(common['cluster'] as object), nodeId: id, internalAddress: address },
  };
  const file = path.join(tmp, `${id}.json`);
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  const log = fs.createWriteStream(path.join(logDir, `${id}.log`), { flags: 'w' });
  // SIGKILL, not SIGTERM, when this process dies without stopping them: Redis dies with it, and a node
  // told to drain while its Redis is gone was seen to hang instead of exiting.
  const child = tied('SIGKILL', process.execPath, ['--import', 'tsx', 'gateway/src/main.ts', '--config', file], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let partial = '';
  const echo = (chunk: string) => {
    log.write(chunk);
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    // While the cluster stops, nodes hand cameras to nodes that are stopping too: that is in the log only.
    if (stopping) return;
    for (const line of lines) {
      const level = /"level":(\d+)/.exec(line)?.[1];
      if (level ? Number(level) >= 40 : line.trim() && !line.startsWith('{'))
        process.stdout.write(`[${id}] ${line.length > 400 ? `${line.slice(0, 400)}…` : line}\n`);
    }
  };
  child.stdout?.setEncoding('utf8').on('data', echo);
  child.stderr?.setEncoding('utf8').on('data', echo);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      log.end();
      if (!stopping) say(`${id} exited (${signal ?? `code ${code}`}); the other nodes take its cameras`);
      if (!stopping && nodes.every((n) => n.child.exitCode !== null || n.child.signalCode !== null))
        void stop('every node exited', 1);
      resolve();
    }),
  );
  const node = { id, address, port, child, exited };
  nodes.push(node);
  return node;
}

function stop(why: string, code = 0): Promise<void> {
  stopping ??= (async () => {
    say(`stopping (${why})…`);
    for (const n of nodes) n.child.kill('SIGTERM');
    const all = Promise.all(nodes.map((n) => n.exited));
    const late = await Promise.race([all.then(() => false), sleep(15_000).then(() => true)]);
    if (late) for (const n of nodes) n.child.kill('SIGKILL');
    await all;
    await sim?.stop().catch(() => {});
    redis?.kill('SIGTERM');
    fs.rmSync(tmp, { recursive: true, force: true });
    say('stopped');
    process.exit(code);
  })();
  return stopping;
}

process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGHUP', () => void stop('SIGHUP'));

try {
  fs.mkdirSync(logDir, { recursive: true });
  // The loader fills the schema's defaults of the simulated cameras (env overrides ignored: {}).
  const list = loadConfig(path.join(root, 'config', 'default.yaml'), {}).config.simulator?.cameras ?? [];
  const [redisPort, simPort] = await Promise.all([startRedis(), tcpPort('127.0.0.1', 8555)]);
  const { specs, cameras } = simulatedCameras(list);
  sim = await CameraSimulator.start({ port: simPort, cameras: specs });
  say(
    `redis-server on 127.0.0.1:${redisPort}, camera simulator on rtsp://127.0.0.1:${sim.port}/ (${list.length} cameras)`,
  );

  const jwtSecret = devJwtSecret();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // Secrets go through the environment, never argv or the generated files.
    CCTV_JWT_SECRET: jwtSecret,
    CCTV_CLUSTER_SECRET: crypto.randomBytes(32).toString('base64url'),
    NODE_ENV: 'development',
  };
  for (const k of ['CCTV_CONFIG', 'CCTV_HOST', 'CCTV_PORT', 'CCTV_RTC_PORT', 'CCTV_LISTEN_IP', 'CCTV_NODE_ID'])
    delete env[k];
  const common = {
    log: { level: process.env['CCTV_LOG_LEVEL'] ?? 'info' },
    cluster: { redis: `redis://127.0.0.1:${redisPort}` },
    cameras: cameras(sim),
  };
  const started: Node[] = [];
  for (const [i, address] of ADDRESSES.entries()) {
    const port = await tcpPort(address, basePort + i);
    const rtc = await rtcPort(address, baseRtc + i);
    started.push(startNode(i, port, rtc, common, env));
  }
  await Promise.all(started.map((n) => waitReady(`http://${n.address}:${n.port}`, n.child, 60_000)));

  const tokens = TokenVerifier.fromConfig({
    algorithm: 'HS256',
    jwtSecret,
    issuer: 'cctv-gateway',
    audience: 'cctv-gateway',
    clockToleranceSec: 5,
  });
  const token = tokens.sign({ sub: 'demo-viewer', role: 'viewer', streams: ['*'] }, 12 * 3600);
  let out = `\n  A cluster of ${started.length} nodes (Redis 127.0.0.1:${redisPort}), ${list.length} simulated cameras.\n`;
  for (const n of started) out += `  ${n.id}:  http://${n.address}:${n.port}/?token=${token}\n`;
  out +=
    `  Token (viewer, all streams, 12 h): ${token}\n` +
    `  Each camera is ingested by one node; the others pipe it. Kill a node (kill <pid>) to watch another take over:\n` +
    `    ${started.map((n) => `${n.id} pid ${n.child.pid}`).join(', ')}\n` +
    `  Health: /readyz  Metrics: /metrics (cctv_cluster_*)  Logs: ${path.relative(root, logDir)}/<node>.log\n` +
    `  Stop with Ctrl-C.\n\n`;
  process.stdout.write(out);
} catch (err) {
  process.stderr.write(`[demo:cluster] failed: ${(err as Error).message}\n`);
  await stop('start failed', 1);
}
