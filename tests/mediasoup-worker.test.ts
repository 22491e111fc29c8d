// The worker built by scripts/build-mediasoup-worker.mjs from Debian's libraries: it starts, routes,
// and survives closing a WebRtcServer that still has transports (the fix for mediasoup PR #1390).
import * as mediasoup from 'mediasoup';
import { afterEach, describe, expect, it } from 'vitest';

const workers: mediasoup.types.Worker[] = [];
afterEach(() => {
  for (const w of workers.splice(0)) w.close();
});

async function newWorker() {
  const w = await mediasoup.createWorker({ logLevel: 'warn' });
  workers.push(w);
  return w;
}

describe('mediasoup worker (Debian libraries)', () => {
  it('is the built binary, not a missing prebuilt one', () => {
    expect(process.env.MEDIASOUP_WORKER_BIN).toMatch(
      /\.cache\/mediasoup-worker\/3\.12\.16-[0-9a-f]{12}\/mediasoup-worker$/,
    );
    expect(mediasoup.version).toBe('3.12.16');
  });

  it('starts and creates a router with H.264 and VP8', async () => {
    const w = await newWorker();
    const router = await w.createRouter({
      mediaCodecs: [
        { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
        {
          kind: 'video',
          mimeType: 'video/H264',
          clockRate: 90000,
          parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
        },
      ],
    });
    expect(router.rtpCapabilities.codecs?.map((c) => c.mimeType)).toEqual(
      expect.arrayContaining(['video/VP8', 'video/H264']),
    );
    const usage = await w.getResourceUsage();
    expect(usage.ru_maxrss).toBeGreaterThan(0);
  });

  it('survives closing a WebRtcServer that still has live transports', async () => {
    const w = await newWorker();
    let died: Error | undefined;
    w.on('died', (err) => {
      died = err;
    });
    const router = await w.createRouter({ mediaCodecs: [] });
    const server = await w.createWebRtcServer({
      listenInfos: [
        { protocol: 'udp', ip: '127.0.0.1', port: 0 },
        { protocol: 'tcp', ip: '127.0.0.1', port: 0 },
      ],
    });
    const transports = await Promise.all(
      [1, 2, 3, 4, 5].map(() => router.createWebRtcTransport({ webRtcServer: server })),
    );
    server.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(died).toBeUndefined();
    expect(w.closed).toBe(false);
    expect(transports.every((t) => t.closed)).toBe(true);
    // The worker still answers requests after the close.
    const dump = await w.dump();
    expect(dump.webRtcServerIds).toEqual([]);
  });
});
