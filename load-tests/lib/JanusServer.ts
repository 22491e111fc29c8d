// Janus 1.1.2 (Debian's /usr/bin/janus) with only its streaming plugin and HTTP transport, pulling
// simulated cameras over RTSP (its streaming plugin speaks RTSP over UDP only), for side-by-side runs.
//
// libnice never gathers candidates on a loopback interface, so this adds an internal veth pair with
// 127.0.0.2 to the benchmark's private network namespace (scripts/netns.sh) and limits Janus' ICE to
// it: every packet stays on 127.0.0.0/8 inside that namespace. It refuses to touch any other network.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from './report.js';

const JANUS_BIN = '/usr/bin/janus';
const JANUS_LIB = '/usr/lib/x86_64-linux-gnu/janus';
const VETH = 'jbench0';
const VETH_PEER = 'jbench1';
export const JANUS_ICE_IP = '127.0.0.2';

export interface JanusMountpoint {
  id: number;
  name: string;
  url: string;
}

export interface JanusOptions {
  mountpoints: JanusMountpoint[];
  /** HTTP API port on 127.0.0.1; default 8088. */
  port?: number;
}

/** Adds the veth pair carrying 127.0.0.2 (idempotent). Only inside a namespace scripts/netns.sh made. */
export function ensureIceInterface(): void {
  if (process.env['CCTV_IN_NETNS'] !== '1') {
    throw new Error('Janus runs only inside the private network namespace: run via scripts/netns.sh');
  }
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  if (!ip('-br', 'link').includes(VETH)) {
    ip('link', 'add', VETH, 'type', 'veth', 'peer', 'name', VETH_PEER);
    ip('addr', 'add', `${JANUS_ICE_IP}/32`, 'dev', VETH);
    ip('link', 'set', VETH_PEER, 'up');
    ip('link', 'set', VETH, 'up');
  }
}

export class JanusServer {
  #exited: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly dir: string,
    readonly port: number,
    readonly mountpoints: JanusMountpoint[],
  ) {
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(opts: JanusOptions): Promise<JanusServer> {
    if (!fs.existsSync(JANUS_BIN)) throw new Error(`${JANUS_BIN} missing: apt-get install janus`);
    ensureIceInterface();
    const port = opts.port ?? 8088;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-janus-'));
    const plugins = path.join(dir, 'plugins');
    const transports = path.join(dir, 'transports');
    const none = path.join(dir, 'none');
    for (const d of [plugins, transports, none]) fs.mkdirSync(d);
    fs.symlinkSync(
      path.join(JANUS_LIB, 'plugins', 'libjanus_streaming.so'),
      path.join(plugins, 'libjanus_streaming.so'),
    );
    fs.symlinkSync(path.join(JANUS_LIB, 'transports', 'libjanus_http.so'), path.join(transports, 'libjanus_http.so'));
    const write = (name: string, text: string) => fs.writeFileSync(path.join(dir, name), text);
    write(
      'janus.jcfg',
      `general: {
  configs_folder = "${dir}"
  plugins_folder = "${plugins}"
  transports_folder = "${transports}"
  events_folder = "${none}"
  loggers_folder = "${none}"
  debug_level = 3
  admin_secret = "bench-only"
  server_name = "bench"
}
media: {
  rtp_port_range = "30000-34999"
}
nat: {
  nice_debug = false
  ice_enforce_list = "${VETH}"
}
plugins: {
}
transports: {
}
events: {
}
loggers: {
}
`,
    );
    write(
      'janus.transport.http.jcfg',
      `general: {
  json = "compact"
  base_path = "/janus"
  http = true
  port = ${port}
  ip = "127.0.0.1"
  https = false
}
admin: {
  admin_http = false
}
cors: {
}
`,
    );
    const mounts = opts.mountpoints
      .map(
        (m) => `${m.name}: {
  type = "rtsp"
  id = ${m.id}
  description = "${m.name}"
  audio = false
  video = true
  url = "${m.url}"
  rtspiface = "127.0.0.1"
  rtsp_reconnect_delay = 2
}
`,
      )
      .join('');
    write('janus.plugin.streaming.jcfg', `general: {\n  rtp_port_range = "35000-35999"\n}\n${mounts}`);
    const log = fs.openSync(path.join(dir, 'janus.log'), 'w');
    const child = spawn(JANUS_BIN, ['-C', path.join(dir, 'janus.jcfg'), '-F', dir, '-o'], {
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    const janus = new JanusServer(child, dir, port, opts.mountpoints);
    try {
      await janus.#waitHttp();
    } catch (err) {
      await janus.stop();
      throw err;
    }
    return janus;
  }

  get pid(): number | undefined {
    return this.child.exitCode === null ? this.child.pid : undefined;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The last lines of Janus' log, for error messages. */
  logTail(lines = 20): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'janus.log'), 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  async #waitHttp(): Promise<void> {
    const until = Date.now() + 15_000;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`janus exited (${this.child.exitCode}):\n${this.logTail()}`);
      try {
        const r = await fetch(`${this.origin}/janus/info`);
        if (r.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > until) throw new Error(`janus HTTP API not up within 15 s:\n${this.logTail()}`);
      await sleep(200);
    }
  }

  async #post(url: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const r = await fetch(`${this.origin}${url}`, {
      method: 'POST',
      body: JSON.stringify({ ...body, transaction: Math.random().toString(36).slice(2) }),
    });
    return (await r.json()) as Record<string, unknown>;
  }

  /** Milliseconds since the mountpoint's video last received a packet (null when unknown). */
  async mediaAgeMs(id: number): Promise<number | null> {
    const s = ((await this.#post('/janus', { janus: 'create' }))['data'] as { id: number }).id;
    try {
      const h = (
        (await this.#post(`/janus/${s}`, { janus: 'attach', plugin: 'janus.plugin.streaming' }))['data'] as {
          id: number;
        }
      ).id;
      const r = await this.#post(`/janus/${s}/${h}`, { janus: 'message', body: { request: 'info', id } });
      const info = (r['plugindata'] as { data?: { info?: { media?: { age_ms?: number }[] } } } | undefined)?.data?.info;
      const age = info?.media?.[0]?.age_ms;
      return typeof age === 'number' ? age : null;
    } finally {
      await this.#post(`/janus/${s}`, { janus: 'destroy' }).catch(() => {});
    }
  }

  /** Resolves once every mountpoint receives media (its RTSP pull is up). */
  async waitLive(timeoutMs = 20_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (const m of this.mountpoints) {
      for (;;) {
        const age = await this.mediaAgeMs(m.id).catch(() => null);
        if (age !== null && age < 1000) break;
        if (Date.now() > until) throw new Error(`janus mountpoint ${m.name} receives nothing:\n${this.logTail()}`);
        await sleep(300);
      }
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      await this.#exited;
      clearTimeout(killer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
