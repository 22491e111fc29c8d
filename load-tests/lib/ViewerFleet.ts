// Parent side of the load-generator processes (viewerProcess.ts): forks them, spreads viewers over
// them, sums their counters.
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { LOAD_TESTS_DIR } from './report.js';
import type { ProcessStats, ViewerCommand, ViewerTarget } from './viewerProcess.js';

type Pending = { resolve: (d: unknown) => void; reject: (e: Error) => void };

class ViewerProcess {
  #next = 1;
  readonly #pending = new Map<number, Pending>();

  constructor(readonly child: ChildProcess) {
    child.on('message', (m: { id: number; ok: boolean; data?: unknown; error?: string }) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.ok) p.resolve(m.data);
      else p.reject(new Error(m.error));
    });
    child.once('exit', () => {
      for (const p of this.#pending.values()) p.reject(new Error('viewer process exited'));
      this.#pending.clear();
    });
  }

  call<T>(msg: Omit<ViewerCommand, 'id'>): Promise<T> {
    const id = this.#next++;
    this.child.send({ ...msg, id });
    return new Promise((resolve, reject) =>
      this.#pending.set(id, { resolve: resolve as (d: unknown) => void, reject }),
    );
  }
}

export class ViewerFleet {
  #added = 0;

  private constructor(readonly procs: ViewerProcess[]) {}

  static start(processes: number): ViewerFleet {
    const entry = path.join(LOAD_TESTS_DIR, 'lib', 'viewerProcess.ts');
    const procs = Array.from({ length: processes }, () => {
      const child = fork(entry, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      return new ViewerProcess(child);
    });
    return new ViewerFleet(procs);
  }

  get pids(): number[] {
    return this.procs.map((p) => p.child.pid).filter((p): p is number => p !== undefined);
  }

  /** Adds one viewer per entry of `streams`, round-robin over the processes. */
  async add(target: ViewerTarget, streams: string[]): Promise<{ added: number; errors: string[] }> {
    const per: string[][] = this.procs.map(() => []);
    streams.forEach((s, i) => {
      per[(this.#added + i) % this.procs.length]?.push(s);
    });
    this.#added += streams.length;
    const results = await Promise.all(
      this.procs.map((p, i) =>
        p.call<{ added: number; errors: string[] }>({ cmd: 'add', target, streams: per[i] ?? [] } as Omit<
          ViewerCommand,
          'id'
        >),
      ),
    );
    return { added: results.reduce((n, r) => n + r.added, 0), errors: results.flatMap((r) => r.errors) };
  }

  async reset(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.call({ cmd: 'reset' })));
  }

  async stats(): Promise<ProcessStats> {
    const all = await Promise.all(this.procs.map((p) => p.call<ProcessStats>({ cmd: 'stats' })));
    return all.reduce(
      (a, b) => ({
        viewers: a.viewers + b.viewers,
        connected: a.connected + b.connected,
        packets: a.packets + b.packets,
        bytes: a.bytes + b.bytes,
        lost: a.lost + b.lost,
        expected: a.expected + b.expected,
        silent: a.silent + b.silent,
        firstRtpMs: [...a.firstRtpMs, ...b.firstRtpMs],
      }),
      { viewers: 0, connected: 0, packets: 0, bytes: 0, lost: 0, expected: 0, silent: 0, firstRtpMs: [] },
    );
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.call({ cmd: 'closeAll' }).catch(() => {})));
    this.#added = 0;
  }

  async stop(): Promise<void> {
    await this.closeAll();
    for (const p of this.procs) {
      if (p.child.exitCode === null) {
        const exited = new Promise((r) => p.child.once('exit', r));
        p.child.disconnect();
        const t = setTimeout(() => p.child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    }
  }
}
