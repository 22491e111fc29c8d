// What `docker build` would make, checked without Docker (it cannot run here): the image's EXPOSE
// lists exactly the media ports its own worker count opens (worker i: rtcPort + i, UDP and TCP) and
// the HTTP port; .dockerignore keeps the host's node_modules, .cache (host paths, the development JWT
// secret), var, outputs and key files out of `COPY . .` while every tracked source file gets in; and
// the systemd unit in config/deploy/ is valid (systemd-analyze verify, when the machine has it).
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';

const root = path.resolve(import.meta.dirname, '..');
const run = promisify(execFile);

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions (continuations joined, comments and blank lines dropped). */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (pending && line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = pending + line;
    pending = '';
    const m = /^(\w+)\s+(.*)$/.exec(full);
    if (m) out.push({ op: (m[1] as string).toUpperCase(), args: m[2] as string });
  }
  return out;
}

/** The instructions of the last stage: the image that runs. */
function finalStage(all: Instruction[]): Instruction[] {
  const from = all.map((i) => i.op).lastIndexOf('FROM');
  return all.slice(from);
}

/** ENV key=value pairs of a stage (later ones win; the old `ENV key value` form too). */
function envOf(stage: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of stage.filter((x) => x.op === 'ENV')) {
    if (!i.args.includes('=')) {
      const [k, ...v] = i.args.split(/\s+/);
      env[k as string] = v.join(' ');
      continue;
    }
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g))
      env[m[1] as string] = (m[2] as string).replace(/^"(.*)"$/, '$1');
  }
  return env;
}

/** EXPOSE'd ports by protocol (a port without /proto is TCP). */
function exposed(stage: Instruction[]): { tcp: number[]; udp: number[] } {
  const out = { tcp: new Set<number>(), udp: new Set<number>() };
  for (const i of stage.filter((x) => x.op === 'EXPOSE')) {
    for (const token of i.args.split(/\s+/).filter(Boolean)) {
      const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp))?$/i.exec(token);
      if (!m) throw new Error(`EXPOSE ${token}: not a port, range or port/proto the test understands`);
      const [lo, hi] = [Number(m[1]), Number(m[2] ?? m[1])];
      const proto = (m[3]?.toLowerCase() ?? 'tcp') as 'tcp' | 'udp';
      for (let p = lo; p <= hi; p++) out[proto].add(p);
    }
  }
  const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
  return { tcp: sorted(out.tcp), udp: sorted(out.udp) };
}

/**
 * A .dockerignore as Docker reads it (moby/patternmatcher): patterns in order, `!` re-includes, a
 * leading `/` is dropped, `*` and `?` stay within one path segment, `**` spans any number of them,
 * and a pattern that matches a directory excludes everything under it.
 */
function dockerignore(text: string): (file: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = path.posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, '')).replace(/\/$/, '');
      let re = '';
      for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i] as string;
        if (c === '*' && pattern[i + 1] === '*') {
          i++;
          if (pattern[i + 1] === '/') {
            i++;
            re += '(?:.*/)?';
          } else re += '.*';
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${re}$`) };
    });
  return (file) => {
    const parts = file.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) excluded = !r.negate;
    return excluded;
  };
}

describe('Dockerfile', () => {
  it("EXPOSEs exactly the HTTP port and rtcPort..rtcPort+workers-1 (UDP and TCP) of the image's own config", async () => {
    const stage = finalStage(instructions(await fs.readFile(path.join(root, 'Dockerfile'), 'utf8')));
    const env = envOf(stage);
    // The image starts with config/default.yaml plus its ENV, as main.ts does without --config.
    const { config } = loadConfig(path.join(root, 'config', 'default.yaml'), env);
    const { workers, rtcPort } = config.media;
    // 0 means one per core: the host's core count, which no EXPOSE written at build time can match.
    expect(workers, 'the Dockerfile must set CCTV_WORKERS to a fixed count').toBeGreaterThan(0);
    expect(rtcPort, 'the Dockerfile needs a fixed CCTV_RTC_PORT (or the schema default), not 0').toBeGreaterThan(0);
    // Media must listen beyond the container's loopback, or published ports lead nowhere.
    expect(config.media.listenIp).toBe('0.0.0.0');
    const media = Array.from({ length: workers }, (_, i) => rtcPort + i);
    const ports = exposed(stage);
    console.log(`Dockerfile: ${workers} workers from port ${rtcPort}; EXPOSE udp ${ports.udp} tcp ${ports.tcp}`);
    expect(ports.udp).toEqual(media);
    expect(ports.tcp).toEqual([...new Set([config.server.port, ...media])].sort((a, b) => a - b));
  });

  it('the port rule the test assumes is the one WorkerPool applies', async () => {
    const pool = await fs.readFile(path.join(root, 'gateway/src/media/WorkerPool.ts'), 'utf8');
    expect(pool, 'worker count: CCTV_WORKERS, 0 = one per core').toMatch(
      /opts\.workers > 0 \? opts\.workers : os\.availableParallelism\(\)/,
    );
    expect(pool, 'worker i listens on rtcPort + i').toMatch(/rtcPort: opts\.rtcPort > 0 \? opts\.rtcPort \+ index : 0/);
    const slot = await fs.readFile(path.join(root, 'gateway/src/media/WorkerSlot.ts'), 'utf8');
    expect(slot, 'each worker serves that port over UDP and TCP').toMatch(
      /listenInfos: \[listen\('udp'\), listen\('tcp'\)\]/,
    );
  });

  it('puts no secret or host path in the image, and runs as production so the secret is required', async () => {
    const text = await fs.readFile(path.join(root, 'Dockerfile'), 'utf8');
    const all = instructions(text);
    const env = envOf(finalStage(all));
    expect(env['NODE_ENV']).toBe('production');
    for (const i of all) {
      expect(`${i.op} ${i.args}`).not.toMatch(/CCTV_JWT_SECRET|jwtSecret|dev-jwt-secret|PASS|PRIVATE_KEY/i);
      if (i.op === 'COPY' || i.op === 'ADD') expect(i.args).not.toMatch(/(^|\s)\/(work|home|root|tmp)\//);
    }
    expect(all.some((i) => i.op === 'COPY' && /^\.\s+\.$/.test(i.args))).toBe(true); // what .dockerignore guards
  });
});

describe('.dockerignore', () => {
  it('keeps node_modules, .cache, var, .git, outputs, logs and key files out of the build context', async () => {
    const ignored = dockerignore(await fs.readFile(path.join(root, '.dockerignore'), 'utf8'));
    const mustStayOut = [
      'node_modules/fastify/package.json',
      'web-client/node_modules/x/index.js',
      '.cache/env',
      '.cache/dev-jwt-secret',
      '.cache/mediasoup-worker/3.12.16-x/mediasoup-worker',
      'var/audit.jsonl',
      '.git/HEAD',
      'test-results/run.json',
      'load-tests/out/coldstart.json',
      'gateway.log',
      'load-tests/out.log',
      'dist/main.js',
      'web-client/dist/app.js',
      '.env',
      'config/.env.production',
      'config/deploy/tls.key',
      'config/deploy/cert.pem',
      'config/cameras.local.yaml',
    ];
    expect(mustStayOut.filter((f) => !ignored(f))).toEqual([]);
  });

  it('lets every tracked source file in, so the image builds from the same tree', async () => {
    const ignored = dockerignore(await fs.readFile(path.join(root, '.dockerignore'), 'utf8'));
    const { stdout } = await run('git', ['ls-files', '-z'], { cwd: root, maxBuffer: 16 << 20 });
    const tracked = stdout.split('\0').filter(Boolean);
    expect(tracked.length).toBeGreaterThan(50);
    const needed = ['package.json', 'package-lock.json', 'scripts/setup.sh', 'config/default.yaml', 'Dockerfile'];
    expect(needed.filter((f) => ignored(f))).toEqual([]);
    expect(tracked.filter((f) => ignored(f))).toEqual([]);
  });
});

describe('config/deploy/cctv-gateway.service', () => {
  const unit = path.join(root, 'config/deploy/cctv-gateway.service');

  it('has the keys a deployment relies on', async () => {
    const text = await fs.readFile(unit, 'utf8');
    const keys = new Map<string, string[]>();
    let section = '';
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#') || line.startsWith(';')) continue;
      const s = /^\[(\w+)\]$/.exec(line);
      if (s) {
        section = s[1] as string;
        continue;
      }
      const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (!kv) throw new Error(`${line}: not a key=value line`);
      const key = `${section}.${kv[1]}`;
      keys.set(key, [...(keys.get(key) ?? []), kv[2] as string]);
    }
    const one = (k: string) => keys.get(k)?.at(-1);
    expect(one('Service.User')).toBeTruthy();
    expect(one('Service.User')).not.toBe('root');
    expect(one('Service.WorkingDirectory')).toMatch(/^\//);
    expect(one('Service.EnvironmentFile')).toBe('/etc/cctv-gateway/env');
    expect(keys.get('Service.Environment')).toContain('NODE_ENV=production');
    expect(one('Service.ExecStart')).toMatch(
      /^\/\S*bash scripts\/env\.sh node --import tsx gateway\/src\/main\.ts --config \/etc\/cctv-gateway\/config\.yaml$/,
    );
    expect(one('Service.Restart')).toBe('on-failure');
    expect(['mixed', 'control-group']).toContain(one('Service.KillMode'));
    expect(Number(one('Service.LimitNOFILE'))).toBeGreaterThanOrEqual(65536);
    expect(one('Service.NoNewPrivileges')).toBe('yes');
    expect(one('Service.ProtectSystem')).toBe('strict');
    const rw = (keys.get('Service.ReadWritePaths') ?? []).join(' ');
    expect(rw).toMatch(/\/var(\s|$)/);
    expect(rw).toMatch(/\/\.cache(\s|$)/);
    // V8's JIT needs writable+executable memory: this option would kill the gateway at start.
    expect(keys.has('Service.MemoryDenyWriteExecute')).toBe(false);
    expect(one('Install.WantedBy')).toBe('multi-user.target');
  });

  it('passes systemd-analyze verify', async () => {
    const which = await run('sh', ['-c', 'command -v systemd-analyze']).catch(() => undefined);
    if (!which) {
      console.log('SKIPPED: systemd-analyze is not installed here; the unit was only parsed for its keys');
      return;
    }
    const result = await run('systemd-analyze', ['verify', unit], { cwd: root }).then(
      (r) => ({ code: 0, stderr: r.stderr }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    // Unknown keys and bad values are only warnings (exit 0): any line about this unit fails too.
    const about = result.stderr.split('\n').filter((l) => l.includes('cctv-gateway.service'));
    console.log(
      `systemd-analyze verify: exit ${result.code}${about.length ? `\n${about.join('\n')}` : ', no warnings'}`,
    );
    expect(about).toEqual([]);
    expect(result.code).toBe(0);
  });
});
