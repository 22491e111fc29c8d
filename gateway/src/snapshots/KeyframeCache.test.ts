import { describe, expect, it, vi } from 'vitest';
import { stapAPayload } from '../ingest/rtsp/h264.js';
import { appendAnnexB, KeyframeCache } from './KeyframeCache.js';

const SPS = Buffer.from([0x67, 0x42, 0xc0, 0x1e, 0xda]);
const PPS = Buffer.from([0x68, 0xce, 0x3c, 0x80]);

function rtp(payload: Buffer, ts: number, marker: boolean, seq = 0): Buffer {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = (marker ? 0x80 : 0) | 96;
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(ts, 4);
  h.writeUInt32BE(1234, 8);
  return Buffer.concat([h, payload]);
}
// Packets sit at an offset in a larger buffer, as the RTSP interleaved stream hands them on.
const push = (c: KeyframeCache, p: Buffer) => c.push(Buffer.concat([Buffer.alloc(7, 0xff), p]), 7, p.length);
const idr = (n: number) => Buffer.from([0x65, n, n, n]);
const pframe = (n: number) => Buffer.from([0x41, n, n]);
const annexB = (...nals: Buffer[]) => Buffer.concat(nals.flatMap((n) => [Buffer.from([0, 0, 0, 1]), n]));

describe('KeyframeCache', () => {
  it('holds nothing before the first keyframe, then the GOP from it up to the newest complete frame', () => {
    const c = new KeyframeCache(1 << 20);
    push(c, rtp(pframe(1), 100, true));
    expect(c.gop()).toBeUndefined();
    push(c, rtp(stapAPayload([SPS, PPS]), 200, false));
    push(c, rtp(idr(2), 200, true));
    push(c, rtp(pframe(3), 300, true));
    push(c, rtp(pframe(4), 400, false)); // no marker yet: not a complete frame
    const gop = c.gop();
    expect(gop?.frames).toBe(2);
    expect(gop?.annexB).toEqual(annexB(SPS, PPS, SPS, PPS, idr(2), pframe(3)));
  });

  it('starts again at the next keyframe, and reassembles FU-A fragments', () => {
    const c = new KeyframeCache(1 << 20);
    push(c, rtp(idr(1), 100, true));
    push(c, rtp(pframe(2), 200, true));
    // An IDR in two FU-A fragments (indicator NRI 3, type 28; header S/E bits with type 5).
    push(c, rtp(Buffer.from([0x7c, 0x85, 9, 9]), 300, false));
    push(c, rtp(Buffer.from([0x7c, 0x45, 8]), 300, true));
    const gop = c.gop();
    expect(gop?.frames).toBe(1);
    expect(gop?.annexB).toEqual(annexB(Buffer.from([0x65, 9, 9, 8])));
  });

  it('predicts the next keyframe from the GOP it saw, or from a hint before its second keyframe', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    try {
      const c = new KeyframeCache(1 << 20);
      expect(c.nextKeyframe(1000)).toBeUndefined(); // no keyframe yet
      push(c, rtp(idr(1), 100, true));
      expect(c.nextKeyframe()).toBeUndefined(); // one keyframe, no GOP known
      vi.advanceTimersByTime(300);
      expect(c.nextKeyframe(1000)).toEqual({ inMs: 700, gopMs: 1000 });
      vi.advanceTimersByTime(900); // the keyframe due at 1000 came late, at 1200
      push(c, rtp(idr(2), 200, true));
      expect(c.gopMs).toBe(1200);
      vi.advanceTimersByTime(2600); // two GOPs later and some: the next is 1200 - 200 away
      expect(c.nextKeyframe(1000)).toEqual({ inMs: 1000, gopMs: 1200 });
      c.clear();
      expect(c.gopMs).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps the start of a GOP larger than its bound and says it was truncated', () => {
    const c = new KeyframeCache(10);
    push(c, rtp(idr(1), 100, true)); // 4 bytes
    push(c, rtp(pframe(2), 200, true)); // 3 bytes
    push(c, rtp(Buffer.alloc(8, 0x41), 300, true)); // would pass 10
    const gop = c.gop();
    expect(gop?.frames).toBe(2);
    expect(gop?.truncated).toBe(true);
    expect(c.bytes).toBe(7);
  });

  it('wakes a waiter on the next complete frame, times out otherwise, and forgets on clear()', async () => {
    const c = new KeyframeCache(1 << 20);
    const waiting = c.whenFrame(Date.now(), 1000);
    push(c, rtp(idr(1), 100, true));
    await expect(waiting).resolves.toBe(true);
    await expect(c.whenFrame(Date.now() + 60_000, 20)).resolves.toBe(false);
    c.clear();
    expect(c.gop()).toBeUndefined();
    push(c, rtp(pframe(2), 200, true));
    expect(c.gop()).toBeUndefined(); // a P-frame after clear() is no start
  });

  it('copies into one arena that grows for a large GOP and is reused from its start at the next keyframe', () => {
    const c = new KeyframeCache(1 << 20);
    push(c, rtp(idr(1), 100, true));
    const big = (n: number) => Buffer.concat([Buffer.from([0x41]), Buffer.alloc(999, n)]);
    for (let i = 0; i < 100; i++) push(c, rtp(big(i), 200 + i, true));
    expect(c.capacity).toBe(128 * 1024);
    const gop = c.gop();
    expect(gop?.frames).toBe(101);
    expect(gop?.annexB).toEqual(annexB(idr(1), ...Array.from({ length: 100 }, (_, i) => big(i))));
    push(c, rtp(idr(2), 400, true));
    expect(c.gop()?.annexB).toEqual(annexB(idr(2)));
    expect(c.capacity).toBe(128 * 1024);
    c.clear();
    expect(c.capacity).toBe(0);
  });

  it('appendAnnexB splits a STAP-A into its NAL units', () => {
    const parts: Buffer[] = [];
    appendAnnexB(parts, stapAPayload([SPS, PPS]));
    expect(Buffer.concat(parts)).toEqual(annexB(SPS, PPS));
  });
});
