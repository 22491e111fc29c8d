// The health check schedule with real timers and fake variants: spread over the interval (no burst),
// once per interval each, at most 4 in flight, skipped while the ingest runs, closed for good.
import { afterEach, describe, expect, it } from 'vitest';
import { HealthChecks, type HealthTarget } from './HealthChecks.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class FakeVariant implements HealthTarget {
  closed = false;
  ingestRunning = false;
  health: { state: string; reason?: string } = { state: 'unknown' };
  /** When each check started, ms after t0. */
  readonly starts: number[] = [];
  running = 0;
  maxRunning = 0;

  constructor(
    readonly id: string,
    readonly t0: number,
    readonly takesMs = 2,
    readonly live = { now: 0, max: 0 },
  ) {}

  async checkHealth(): Promise<void> {
    this.starts.push(Date.now() - this.t0);
    this.running++;
    this.live.now++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    this.live.max = Math.max(this.live.max, this.live.now);
    await sleep(this.takesMs);
    this.running--;
    this.live.now--;
    this.health = { state: 'up' };
  }
}

let checks: HealthChecks | undefined;
afterEach(() => {
  checks?.close();
  checks = undefined;
});

describe('HealthChecks', () => {
  it('spreads n variants evenly over the interval, then checks each once per interval', async () => {
    const n = 8;
    const intervalMs = 800;
    const step = intervalMs / n;
    const t0 = Date.now();
    const vs = Array.from({ length: n }, (_, i) => new FakeVariant(`cam-${i}/main`, t0));
    checks = new HealthChecks({ targets: () => vs, intervalMs });
    checks.start();
    await sleep(intervalMs * 2 - step / 2); // two whole rounds, less half a step
    checks.close();
    const all = vs.flatMap((v) => v.starts).sort((a, b) => a - b);
    const gaps = all.slice(1).map((t, k) => t - (all[k] as number));
    console.log(
      `first checks at ${vs.map((v) => v.starts[0]).join(', ')} ms (step ${step} ms); ` +
        `smallest gap between any two checks ${Math.min(...gaps)} ms; per variant ${vs.map((v) => v.starts.length).join(',')}`,
    );
    // Timers on a busy 2-core machine fire late by some ms, never early: a generous upper margin.
    vs.forEach((v, i) => {
      expect(v.starts).toHaveLength(2);
      const [first, second] = v.starts as [number, number];
      expect(first).toBeGreaterThanOrEqual(i * step - 2);
      expect(first).toBeLessThan(i * step + 45);
      expect(second - first).toBeGreaterThan(intervalMs - 45);
      expect(second - first).toBeLessThan(intervalMs + 45);
    });
    // No herd: consecutive checks about one step apart, and the round's clock does not drift.
    expect(Math.min(...gaps)).toBeGreaterThan(step - 45);
    expect(all.at(-1) as number).toBeLessThan(2 * intervalMs - step + 45);
  });

  it('keeps at most 4 checks in flight when checks are slow; each variant in one at a time', async () => {
    const t0 = Date.now();
    const live = { now: 0, max: 0 };
    // 10 variants, a step of 30 ms, each check 400 ms (a camera that does not answer): unbounded,
    // about 13 would be in flight.
    const vs = Array.from({ length: 10 }, (_, i) => new FakeVariant(`cam-${i}/main`, t0, 400, live));
    checks = new HealthChecks({ targets: () => vs, intervalMs: 300 });
    checks.start();
    await sleep(140); // ticks at 0, 30, 60, 90 started checks; 120 (maybe a late 30 too) waits
    expect(checks.stats.inFlight).toBe(4);
    expect(checks.stats.waiting).toBeGreaterThanOrEqual(1);
    expect(checks.stats.waiting).toBeLessThanOrEqual(2);
    await sleep(1260);
    checks.close();
    const stats = checks.stats;
    console.log(
      `slow checks: at most ${live.max} in flight; ${stats.checks} started in 1.4 s; first starts ${vs.map((v) => v.starts[0]).join(', ')} ms`,
    );
    expect(live.max).toBe(4);
    expect(vs.every((v) => v.maxRunning === 1)).toBe(true);
    // Everyone had a turn, in order: the ones that waited went first when a check ended.
    expect(vs.every((v) => v.starts.length >= 1)).toBe(true);
    const firsts = vs.map((v) => v.starts[0] as number);
    expect([...firsts].sort((a, b) => a - b)).toEqual(firsts);
    // Three rounds of 4, 400 ms each, fit in 1.4 s; a fourth has not started.
    expect(stats.checks).toBeGreaterThanOrEqual(12);
    expect(stats.checks).toBeLessThanOrEqual(16);
  });

  it('skips variants whose ingest runs or that are closed, and follows the list as it changes', async () => {
    const t0 = Date.now();
    const watched = new FakeVariant('watched/main', t0);
    watched.ingestRunning = true;
    const gone = new FakeVariant('gone/main', t0);
    gone.closed = true;
    const idle = new FakeVariant('idle/main', t0);
    const list: FakeVariant[] = [watched, gone, idle];
    checks = new HealthChecks({ targets: () => list, intervalMs: 150 });
    checks.start();
    await sleep(320); // two rounds
    expect(watched.starts).toEqual([]);
    expect(gone.starts).toEqual([]);
    expect(idle.starts.length).toBe(2);
    expect(checks.stats.skipped).toBeGreaterThanOrEqual(4);
    // The viewer left; a camera was added by a reconfigure.
    watched.ingestRunning = false;
    const added = new FakeVariant('added/main', t0);
    list.push(added);
    await sleep(320);
    expect(watched.starts.length).toBeGreaterThanOrEqual(1);
    expect(added.starts.length).toBeGreaterThanOrEqual(1);
    expect(gone.starts).toEqual([]);
  });

  it('starts no check after close(), and its timer does not hold the process', async () => {
    const t0 = Date.now();
    const vs = Array.from({ length: 4 }, (_, i) => new FakeVariant(`cam-${i}/main`, t0));
    checks = new HealthChecks({ targets: () => vs, intervalMs: 200 });
    // Its timer (armed, nothing to check yet) is unref'd: not among what keeps the process alive.
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const empty = new HealthChecks({ targets: () => [], intervalMs: 200 });
    const before = timeouts();
    empty.start();
    expect(timeouts()).toBe(before);
    empty.close();
    checks.start();
    checks.start(); // idempotent: one schedule
    await sleep(120);
    const started = checks.stats.checks;
    expect(started).toBe(3); // at 0, 50, 100 ms
    checks.close();
    await sleep(300);
    expect(checks.stats.checks).toBe(started);
    checks.start(); // a closed schedule stays closed
    await sleep(60);
    expect(checks.stats.checks).toBe(started);
  });

  it('refuses an interval of 0', () => {
    expect(() => new HealthChecks({ targets: () => [], intervalMs: 0 })).toThrow(/interval/);
  });
});
