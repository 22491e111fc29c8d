import { describe, expect, it } from 'vitest';
import { TransportChoice } from './transport.js';

describe('TransportChoice', () => {
  it('auto: TCP first, UDP after TCP is refused, and keeps what carried video', () => {
    const c = new TransportChoice('auto');
    expect(c.current).toBe('tcp');
    expect(c.learned).toBeUndefined();
    expect(c.refused('tcp')).toBe('udp');
    expect(c.current).toBe('udp');
    expect(c.worked('udp')).toBe(true);
    expect(c.worked('udp')).toBe(false); // said once
    expect(c.learned).toBe('udp');
    // A stale refusal of the transport no longer in use changes nothing.
    expect(c.refused('tcp')).toBeUndefined();
    expect(c.current).toBe('udp');
  });

  it('auto: a transport that went silent is dropped for the other, and back', () => {
    const c = new TransportChoice('auto');
    c.worked('tcp');
    expect(c.refused('tcp')).toBe('udp');
    expect(c.learned).toBeUndefined();
    expect(c.refused('udp')).toBe('tcp');
  });

  it('tcp and udp are never switched', () => {
    for (const t of ['tcp', 'udp'] as const) {
      const c = new TransportChoice(t);
      expect(c.current).toBe(t);
      expect(c.refused(t)).toBeUndefined();
      expect(c.current).toBe(t);
      expect(c.learned).toBe(t);
      expect(c.worked(t)).toBe(false);
    }
  });
});
