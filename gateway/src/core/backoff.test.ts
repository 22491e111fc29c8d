import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  it('doubles from the initial delay and stops at the cap', () => {
    const top = () => 1;
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, 500, 3000, top))).toEqual([500, 1000, 2000, 3000, 3000]);
  });
  it('jitters down to half of the ceiling', () => {
    expect(backoffDelay(2, 500, 10000, () => 0)).toBe(1000);
  });
});
