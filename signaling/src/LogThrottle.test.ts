import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LogThrottle } from './LogThrottle.js';

describe('LogThrottle', () => {
  let lines: string[];
  let throttle: LogThrottle<string>;
  beforeEach(() => {
    vi.useFakeTimers();
    lines = [];
    throttle = new LogThrottle<string>(10_000, 3, (what, count, seconds) =>
      lines.push(`${what ?? 'other'}: ${count} more in ${seconds} s`),
    );
  });
  afterEach(() => {
    throttle.close();
    vi.useRealTimers();
  });

  it('admits the first occurrence per key, then one summary per interval', () => {
    expect(throttle.admit('a', 'a')).toBe(true);
    for (let i = 0; i < 412; i++) expect(throttle.admit('a', 'a')).toBe(false);
    expect(throttle.admit('b', 'b')).toBe(true);
    expect(lines).toEqual([]);
    vi.advanceTimersByTime(10_000);
    expect(lines).toEqual(['a: 412 more in 10 s']);
    throttle.admit('a', 'a');
    vi.advanceTimersByTime(10_000);
    expect(lines).toEqual(['a: 412 more in 10 s', 'a: 1 more in 10 s']);
  });

  it('forgets a key quiet for a whole interval, so its next occurrence is logged again', () => {
    throttle.admit('a', 'a');
    vi.advanceTimersByTime(10_000); // nothing suppressed: no line, key forgotten
    expect(lines).toEqual([]);
    expect(throttle.admit('a', 'a')).toBe(true);
  });

  it('bounds the keys it tracks: the rest share one summary', () => {
    for (const k of ['a', 'b', 'c']) expect(throttle.admit(k, k)).toBe(true);
    for (let i = 0; i < 50; i++) expect(throttle.admit(`peer-${i}`, `peer-${i}`)).toBe(false);
    vi.advanceTimersByTime(10_000);
    expect(lines).toEqual(['other: 50 more in 10 s']);
  });

  it('writes what is still counted on close', () => {
    throttle.admit('a', 'a');
    throttle.admit('a', 'a');
    throttle.close();
    expect(lines).toEqual(['a: 1 more in 0 s']);
  });
});
