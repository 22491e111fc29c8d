import { describe, expect, it } from 'vitest';
import { type Run, type RunEnd, Supervisor, type SupervisorState } from './Supervisor.js';

type R = 'died' | 'stopped' | 'stall' | 'start_failed';

/** A run the test ends by hand. */
function manualRun(): Run<R> & { end(reason: R): void } {
  let finish!: (e: RunEnd<R>) => void;
  const ended = new Promise<RunEnd<R>>((r) => {
    finish = r;
  });
  return {
    ended,
    end: (reason) => finish({ reason, message: reason }),
    stop(reason) {
      finish({ reason, message: 'stopped' });
    },
  };
}

function supervisor(
  runs: (() => Promise<Run<R>>)[],
  healthyAfterMs = 60_000,
  delayFor?: (end: RunEnd<R>) => number | undefined,
) {
  let i = 0;
  const sup = new Supervisor<R>({
    ...(delayFor ? { delayFor } : {}),
    run: () => (runs[i++] ?? runs[runs.length - 1] ?? (() => Promise.reject(new Error('none'))))(),
    startFailure: (err) => ({ reason: 'start_failed', message: err.message }),
    backoffInitialMs: 20,
    backoffMaxMs: 80,
    healthyAfterMs,
    random: () => 1, // the ceiling of each jittered delay
  });
  const states: SupervisorState[] = [];
  const failures: { reason: R; delayMs: number }[] = [];
  sup.on('state', (s) => states.push(s));
  sup.on('failed', ({ reason, delayMs }) => failures.push({ reason, delayMs }));
  return { sup, states, failures };
}

const until = async (what: () => boolean) => {
  for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(what()).toBe(true);
};

describe('Supervisor', () => {
  it('restarts a run that ends by itself, backing off (capped) while failures repeat', async () => {
    const runs = Array.from({ length: 5 }, () => manualRun());
    const { sup, failures } = supervisor(runs.map((r) => () => Promise.resolve(r)));
    sup.start();
    for (const [n, r] of runs.slice(0, 4).entries()) {
      await until(() => sup.current === r);
      r.end('died');
      await until(() => failures.length === n + 1);
    }
    expect(failures.map((f) => f.delayMs)).toEqual([20, 40, 80, 80]);
    expect(sup.restarts).toBe(4);
    await sup.stop('stopped');
    expect(sup.state).toBe('stopped');
  });

  it('counts a rejected start as a failed run and tries again', async () => {
    const ok = manualRun();
    const { sup, failures } = supervisor([() => Promise.reject(new Error('port taken')), () => Promise.resolve(ok)]);
    sup.start();
    await until(() => sup.current === ok);
    expect(failures).toEqual([{ reason: 'start_failed', delayMs: 20 }]);
    expect(sup.state).toBe('running');
    await sup.stop('stopped');
  });

  it('resets the backoff after a healthy run', async () => {
    const runs = Array.from({ length: 4 }, () => manualRun());
    const { sup, failures } = supervisor(
      runs.map((r) => () => Promise.resolve(r)),
      30,
    );
    sup.start();
    await until(() => sup.current === runs[0]);
    runs[0]?.end('died');
    await until(() => sup.current === runs[1]);
    runs[1]?.end('died'); // short run: backoff grows
    await until(() => sup.current === runs[2]);
    await new Promise((r) => setTimeout(r, 40)); // healthy
    runs[2]?.end('died');
    await until(() => failures.length === 3);
    expect(failures.map((f) => f.delayMs)).toEqual([20, 40, 20]);
    await sup.stop('stopped');
  });

  it('restart() reports its own reason; stop() is no failure and ends the supervision', async () => {
    const runs = [manualRun(), manualRun()];
    const { sup, failures, states } = supervisor(runs.map((r) => () => Promise.resolve(r)));
    sup.start();
    await until(() => sup.current === runs[0]);
    sup.restart('stall');
    await until(() => sup.current === runs[1]);
    expect(failures.map((f) => f.reason)).toEqual(['stall']);
    await sup.stop('stopped');
    expect(failures).toHaveLength(1);
    expect(states).toEqual(['starting', 'running', 'backoff', 'starting', 'running', 'stopped']);
    expect(sup.runningSince).toBe(0);
  });

  it('stop() then start() begins a new run at once, without a failure', async () => {
    const runs = [manualRun(), manualRun()];
    const { sup, failures } = supervisor(runs.map((r) => () => Promise.resolve(r)));
    sup.start();
    await until(() => sup.current === runs[0]);
    const stopping = sup.stop('stopped');
    sup.start();
    await stopping;
    await until(() => sup.current === runs[1]);
    expect(failures).toHaveLength(0);
    await sup.stop('stopped');
  });

  it('waits what delayFor says after the ends it knows, the backoff after the others', async () => {
    const runs = Array.from({ length: 4 }, () => manualRun());
    const { sup, failures } = supervisor(
      runs.map((r) => () => Promise.resolve(r)),
      60_000,
      (end) => (end.reason === 'stall' ? 150 : undefined),
    );
    sup.start();
    runs[0]?.end('stall');
    await until(() => failures.length === 1);
    const t0 = Date.now();
    await until(() => sup.current === runs[1]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    runs[1]?.end('died');
    await until(() => failures.length === 2);
    expect(failures.map((f) => f.delayMs)).toEqual([150, 20]);
    await sup.stop('stopped');
  });
});
