// The process tree dies with the gateway. The real gateway is started as the Dockerfile and `npm start`
// start it, with an always-on simulated camera (relay) and an FFmpeg camera; its tree is read from
// /proc. SIGKILL of a worker, FFmpeg or the simulator leaves the gateway serving (a worker and FFmpeg
// come back); SIGKILL of the gateway, or of npm above it, leaves no process of the tree alive, and a
// new start on the same ports succeeds. Every process of a start carries a marker in its environment,
// so one reparented to init is found even if it was never seen in the tree.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tiedCommand } from '../gateway/src/core/tiedSpawn.js';

const root = path.resolve(import.meta.dirname, '..');
const HTTP = 18480;
const SIM = 18554;
// Below Linux's ephemeral range (32768-60999): an outgoing connection's local port can never take them.
const RTC = 28480; // worker i listens on RTC + i, UDP and TCP
const MARK = 'PROCESS_TREE_TEST_MARK';

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type Kind = 'npm' | 'gateway' | 'worker' | 'ffmpeg' | 'simulator' | 'esbuild' | 'other';
interface Proc {
  pid: number;
  ppid: number;
  kind: Kind;
}

function kindOf(argv: string[]): Kind {
  const prog = path.basename(argv[0] ?? '');
  if (prog === 'mediasoup-worker') return 'worker';
  if (prog === 'ffmpeg') return 'ffmpeg';
  // tsx's transform service: it exits when its stdin (a pipe from the gateway) closes.
  if (prog === 'esbuild') return 'esbuild';
  if (argv.some((a) => a.endsWith('camsim.py'))) return 'simulator';
  if (prog === 'node' && argv.some((a) => a.endsWith('gateway/src/main.ts'))) return 'gateway';
  // npm sets its title, so its argv[0] reads `npm start …`.
  if (/^npm( |$)/.test(argv[0] ?? '')) return 'npm';
  return 'other';
}

/** Live processes (zombies are dead) whose environment carries `marker`. */
async function marked(marker: string): Promise<Proc[]> {
  const out: Proc[] = [];
  for (const d of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const [stat, environ, cmdline] = await Promise.all(
      ['stat', 'environ', 'cmdline'].map((f) => fs.readFile(`/proc/${d}/${f}`, 'utf8').catch(() => '')),
    );
    if (!environ?.split('\0').includes(`${MARK}=${marker}`)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so split after its closing parenthesis.
    const [state, ppid] = (stat ?? '').slice((stat ?? '').lastIndexOf(')') + 2).split(' ');
    if (!state || state === 'Z') continue;
    out.push({ pid: Number(d), ppid: Number(ppid), kind: kindOf((cmdline ?? '').split('\0')) });
  }
  return out;
}

const count = (ps: Proc[], kind: Kind) => ps.filter((p) => p.kind === kind).length;
const summary = (ps: Proc[]) =>
  ps
    .map((p) => `${p.kind}:${p.pid}`)
    .sort()
    .join(' ');

const runs: Run[] = [];

class Run {
  readonly marker = randomUUID();
  readonly log: string[] = [];
  readonly child: ChildProcess;

  constructor(how: 'docker' | 'npm', config: string, extraEnv: Record<string, string> = {}) {
    const env = { ...process.env, ...extraEnv, [MARK]: this.marker };
    // The Dockerfile's own CMD, or the package.json start line through npm.
    const [cmd, ...args] =
      how === 'docker' ? [...dockerCmd, '--config', config] : ['npm', 'start', '--', '--config', config];
    this.child = spawn(cmd as string, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    runs.push(this);
    for (const s of [this.child.stdout, this.child.stderr]) {
      s?.setEncoding('utf8').on('data', (chunk: string) => {
        this.log.push(...chunk.split('\n').filter(Boolean));
        this.log.splice(0, Math.max(0, this.log.length - 60));
      });
    }
  }

  tree(): Promise<Proc[]> {
    return marked(this.marker);
  }

  /** Until /readyz answers 200 and every kind of child runs. */
  async ready(): Promise<Proc[]> {
    let ps: Proc[] = [];
    await waitFor(
      'the gateway serving with 2 workers, the simulator and FFmpeg',
      async () => {
        ps = await this.tree();
        const full = count(ps, 'worker') === 2 && count(ps, 'simulator') === 1 && count(ps, 'ffmpeg') === 1;
        return full && (await readyz()) === 200;
      },
      45_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; tree: ${summary(ps)}\n${this.log.slice(-25).join('\n')}`);
    });
    return ps;
  }

  /** SIGKILLs `pid` and waits until no process of this start is alive; the milliseconds that took. */
  async killAll(pid: number): Promise<number> {
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    let left: Proc[] = [];
    const gone = async () => {
      left = await this.tree();
      return left.length === 0;
    };
    await waitFor('no process of the tree alive', gone).catch(() => {});
    expect(summary(left), `left behind after SIGKILL of ${pid}`).toBe('');
    return Date.now() - t0;
  }
}

async function readyz(): Promise<number> {
  return fetch(`http://127.0.0.1:${HTTP}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
    (r) => r.status,
    () => 0,
  );
}

/** Which of the start's ports (HTTP, RTSP, both workers' UDP and TCP) something still holds. */
async function heldPorts(): Promise<string[]> {
  const tcp = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = net.createServer().once('error', () => resolve(true));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
    });
  const udp = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4').once('error', () => resolve(true));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(false)));
    });
  const checks: [string, Promise<boolean>][] = [
    [`tcp/${HTTP}`, tcp(HTTP)],
    [`tcp/${SIM}`, tcp(SIM)],
    ...[RTC, RTC + 1].flatMap((p): [string, Promise<boolean>][] => [
      [`tcp/${p}`, tcp(p)],
      [`udp/${p}`, udp(p)],
    ]),
  ];
  const held: string[] = [];
  for (const [name, busy] of checks) if (await busy) held.push(name);
  return held;
}

let dir: string;
let config: string;
let dockerCmd: string[];

beforeAll(async () => {
  const dockerfile = await fs.readFile(path.join(root, 'Dockerfile'), 'utf8');
  dockerCmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]');
  expect(dockerCmd.length).toBeGreaterThan(0);
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'process-tree-'));
  config = path.join(dir, 'gateway.yaml');
  const yaml = [
    `server: { host: 127.0.0.1, port: ${HTTP} }`,
    'log: { level: info }',
    `media: { workers: 2, listenIp: 127.0.0.1, rtcPort: ${RTC}, rtpPortRange: { min: 30480, max: 30580 } }`,
    `audit: { file: ${path.join(dir, 'audit.jsonl')} }`,
    'simulator:',
    `  port: ${SIM}`,
    '  cameras:',
    '    - { id: tree-relay, name: process tree, alwaysOn: true, width: 320, height: 180, fps: 15, gop: 15 }',
    'cameras:',
    `  - { id: tree-ffmpeg, name: process tree ffmpeg, alwaysOn: true, ingest: ffmpeg, main: { url: "rtsp://127.0.0.1:${SIM}/tree-relay" } }`,
  ];
  await fs.writeFile(config, `${yaml.join('\n')}\n`);
});

// A failed test must not leave its gateway holding the ports of the next.
afterEach(async () => {
  for (const run of runs.splice(0)) for (const p of await run.tree()) process.kill(p.pid, 'SIGKILL');
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('tiedSpawn', () => {
  it('is the only way gateway code starts a process', async () => {
    const offenders: string[] = [];
    for (const f of await fs.readdir(path.join(root, 'gateway/src'), { recursive: true })) {
      if (!f.endsWith('.ts') || f.endsWith('.test.ts') || f === 'core/tiedSpawn.ts') continue;
      const text = await fs.readFile(path.join(root, 'gateway/src', f), 'utf8');
      for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'node:child_process'/g)) {
        const values = (m[1] as string).split(',').filter((n) => n.trim() && !n.trim().startsWith('type '));
        if (values.length) offenders.push(`${f}: ${values.join(',').trim()}`);
      }
      if (/import\s+(\w+|\*\s+as\s+\w+)\s+from\s*'node:child_process'/.test(text)) offenders.push(f);
    }
    expect(offenders).toEqual([]);
  });

  it('children die with a SIGKILLed parent, after both execs', async () => {
    const script = [
      "import { tiedExecFile, tiedSpawn } from './gateway/src/core/tiedSpawn.ts';",
      "const a = tiedSpawn('sleep', ['300'], { stdio: 'ignore' });",
      "const b = tiedExecFile('sleep', ['301'], {}, () => {});",
      'console.log(JSON.stringify([a.pid, b.pid])); setInterval(() => {}, 1e6);',
    ].join('\n');
    const parent = spawn('node', ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root });
    const pids = await new Promise<number[]>((resolve) =>
      parent.stdout.once('data', (d: Buffer) => resolve(JSON.parse(String(d)))),
    );
    const prog = (pid: number) =>
      fs.readFile(`/proc/${pid}/cmdline`, 'utf8').then(
        (c) => c.split('\0')[0],
        () => '',
      );
    const state = (pid: number) =>
      fs.readFile(`/proc/${pid}/stat`, 'utf8').then(
        (s) => s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3),
        () => 'gone',
      );
    await waitFor('both children exec sleep', async () =>
      (await Promise.all(pids.map(prog))).every((p) => p === 'sleep'),
    );
    const t0 = Date.now();
    parent.kill('SIGKILL');
    await waitFor(
      'both children dead',
      async () => (await Promise.all(pids.map(state))).every((s) => s === 'Z' || s === 'gone'),
      3000,
    );
    console.log(`tied sleeps ${pids.join(', ')} died ${Date.now() - t0} ms after SIGKILL of their parent`);
  });

  it('a child whose parent is not the process that tied it never runs the command', async () => {
    const [file, args] = tiedCommand('/bin/echo', ['ran']);
    const direct = await promisify(execFile)(file, args);
    expect(direct.stdout).toBe('ran\n');
    // Started from bash, the child's parent is not this process: as if this one had died before setpriv.
    const viaOther = await promisify(execFile)('bash', ['-c', '"$@"; exit $?', 'bash', file, ...args]).then(
      () => ({ code: 0, stdout: 'unexpected' }),
      (err: { code: number; stdout: string }) => err,
    );
    expect(viaOther).toMatchObject({ code: 1, stdout: '' });
  });
});

describe('the gateway process tree', () => {
  it('started as the Dockerfile does, env.sh leaves node itself: no wrapper', async () => {
    expect(await heldPorts()).toEqual([]);
    // Without tsx's cache its esbuild services (one per thread that loads modules) are in the tree too.
    const run = new Run('docker', config, { TSX_DISABLE_CACHE: '1' });
    const ps = await run.ready();
    console.log(`tree: ${summary(ps)}`);
    expect(count(ps, 'esbuild')).toBeGreaterThan(0);
    expect(count(ps, 'gateway'), 'one node runs main.ts (the tsx CLI would add a second)').toBe(1);
    const gateway = ps.find((p) => p.kind === 'gateway');
    expect(gateway?.pid).toBe(run.child.pid);
    for (const p of ps) if (p.kind !== 'gateway') expect(p.ppid, `${p.kind} ${p.pid}`).toBe(gateway?.pid);
    expect(count(ps, 'other')).toBe(0);

    // A child's death is the gateway's to heal: a worker is replaced in its slot, FFmpeg restarted.
    const worker = ps.find((p) => p.kind === 'worker') as Proc;
    let t0 = Date.now();
    process.kill(worker.pid, 'SIGKILL');
    await waitFor('the worker replaced and serving', async () => {
      const now = await run.tree();
      return count(now, 'worker') === 2 && !now.some((p) => p.pid === worker.pid) && (await readyz()) === 200;
    });
    console.log(`worker ${worker.pid} SIGKILLed: replaced and serving after ${Date.now() - t0} ms`);

    const ffmpeg = (await run.tree()).find((p) => p.kind === 'ffmpeg') as Proc;
    t0 = Date.now();
    process.kill(ffmpeg.pid, 'SIGKILL');
    let again: Proc | undefined;
    await waitFor('a new FFmpeg', async () => {
      again = (await run.tree()).find((p) => p.kind === 'ffmpeg' && p.pid !== ffmpeg.pid);
      return again !== undefined;
    });
    console.log(`ffmpeg ${ffmpeg.pid} SIGKILLed: ffmpeg ${again?.pid} running after ${Date.now() - t0} ms`);

    // Every module is loaded by now, so the gateway no longer needs tsx's esbuild.
    const esbuild = (await run.tree()).filter((p) => p.kind === 'esbuild').map((p) => p.pid);
    for (const pid of esbuild) process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    expect(await readyz()).toBe(200);
    console.log(`esbuild ${esbuild.join(', ')} SIGKILLed: the gateway still serves`);

    const full = summary(await run.ready());
    const ms = await run.killAll(run.child.pid as number);
    console.log(`gateway ${run.child.pid} SIGKILLed (${full}): no process of its tree alive after ${ms} ms`);
    expect(await heldPorts()).toEqual([]);
  });

  it('started by npm start, nothing sits between npm and node, and SIGKILL of npm stops the tree', async () => {
    const run = new Run('npm', config);
    const ps = await run.ready();
    const npm = ps.find((p) => p.pid === run.child.pid);
    const gateway = ps.find((p) => p.kind === 'gateway');
    console.log(`tree: ${summary(ps)}`);
    expect(npm?.kind).toBe('npm');
    expect(gateway?.ppid).toBe(npm?.pid);
    expect(count(ps, 'other')).toBe(0);
    const ms = await run.killAll(run.child.pid as number);
    console.log(`npm ${run.child.pid} SIGKILLed: the gateway shut down, no process of its tree alive after ${ms} ms`);
    expect(await heldPorts()).toEqual([]);
  });

  it('a new start on the same ports succeeds; a SIGKILLed simulator leaves the gateway serving; SIGKILL during a start leaves nothing', async () => {
    const run = new Run('docker', config);
    const ps = await run.ready();
    console.log(`restarted on the same ports: ${summary(ps)}`);

    // The simulator is the demo's camera, not a part of the gateway: nothing restarts it.
    const sim = ps.find((p) => p.kind === 'simulator') as Proc;
    process.kill(sim.pid, 'SIGKILL');
    await waitFor('the simulator gone', async () => count(await run.tree(), 'simulator') === 0);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await readyz()).toBe(200);
    console.log(`simulator ${sim.pid} SIGKILLed: the gateway still serves; tree: ${summary(await run.tree())}`);

    const ms = await run.killAll(run.child.pid as number);
    console.log(`gateway SIGKILLed: no process alive after ${ms} ms`);

    // Killed while it starts its children (the simulator is up, workers may be spawning).
    const early = new Run('docker', config);
    await waitFor('the simulator spawned', async () => count(await early.tree(), 'simulator') === 1, 30_000);
    const during = summary(await early.tree());
    const ms2 = await early.killAll(early.child.pid as number);
    console.log(`gateway SIGKILLed during its start (${during}): no process alive after ${ms2} ms`);
    expect(await heldPorts()).toEqual([]);
  });
});
