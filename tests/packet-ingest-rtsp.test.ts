// The packet relay's RTSP client against a scripted camera (a small RTSP server in this file) whose
// every packet is known: redirects, Basic auth, keep-alive before the session timeout, failure
// reasons, RTCP both ways, and the Producer-side stream (sequence numbers without gaps, monotonic
// timestamps, SPS/PPS inserted before each IDR) across a camera reconnect. No browser, no GStreamer.
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RtpForwarder } from '../gateway/src/ingest/RtpForwarder.js';
import { RtspPacketSource } from '../gateway/src/ingest/rtsp/RtspPacketSource.js';
import { writeSenderReport } from '../gateway/src/ingest/rtsp/rtcp.js';
import { payloadOffset, writeRtpHeader } from '../gateway/src/ingest/rtsp/rtp.js';
import { TransportChoice } from '../gateway/src/ingest/rtsp/transport.js';
import { type RestartReason, superviseIngest } from '../gateway/src/ingest/source.js';
import { createLogger } from '../gateway/src/log.js';
import { PLAYOUT_DELAY } from '../gateway/src/media/codecs.js';
import { sleep, waitFor } from './support/stack.js';

const SPS = Buffer.from('6742c01eda0280bfe5c04400000300040000030', 'hex');
const PPS = Buffer.from('68ce3c80', 'hex');
const SDP = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=fake',
  't=0 0',
  'a=control:*',
  'm=video 0 RTP/AVP 96',
  'a=rtpmap:96 H264/90000',
  `a=fmtp:96 packetization-mode=1;profile-level-id=42c01e;sprop-parameter-sets=${SPS.toString('base64')},${PPS.toString('base64')}`,
  'a=control:track1',
  '',
].join('\r\n');

interface Req {
  method: string;
  url: string;
  headers: Record<string, string>;
}

interface FakeOptions {
  sessionTimeoutSec?: number;
  getParameter?: boolean;
  basic?: { user: string; password: string };
  describeStatus?: number;
  redirectTo?: string;
  silent?: boolean;
}

/** A camera that speaks just enough RTSP and sends 25 fps of H.264 RTP: IDR (FU-A) every 10 frames, no in-band SPS. */
class FakeCamera {
  readonly requests: Req[] = [];
  readonly fromClient: { channel: number; pt: number }[] = [];
  readonly clients = new Set<net.Socket>();
  port = 0;
  #server: net.Server;

  constructor(private readonly o: FakeOptions = {}) {
    this.#server = net.createServer((sock) => this.#serve(sock));
  }

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.#server.address() as net.AddressInfo).port;
    return this;
  }

  url(path = '/cam', userinfo = ''): string {
    return `rtsp://${userinfo}127.0.0.1:${this.port}${path}`;
  }

  /** Drops every client, like a camera reboot. */
  dropClients(): void {
    for (const s of this.clients) s.destroy();
  }

  async close(): Promise<void> {
    this.dropClients();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  #serve(sock: net.Socket): void {
    this.clients.add(sock);
    let buf = Buffer.alloc(0);
    let timer: NodeJS.Timeout | undefined;
    sock.on('close', () => {
      clearInterval(timer);
      this.clients.delete(sock);
    });
    sock.on('error', () => {});
    const reply = (cseq: string, status: string, headers: Record<string, string> = {}, body = '') => {
      let out = `RTSP/1.0 ${status}\r\nCSeq: ${cseq}\r\n`;
      for (const [k, v] of Object.entries(headers)) out += `${k}: ${v}\r\n`;
      if (body) out += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
      sock.write(`${out}\r\n${body}`);
    };
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (buf[0] === 0x24) {
          if (buf.length < 4 || buf.length < 4 + buf.readUInt16BE(2)) return;
          this.fromClient.push({ channel: buf[1] as number, pt: buf[5] as number });
          buf = buf.subarray(4 + buf.readUInt16BE(2));
          continue;
        }
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [first = '', ...lines] = buf.subarray(0, end).toString().split('\r\n');
        buf = buf.subarray(end + 4);
        const [method = '', url = ''] = first.split(' ');
        const headers: Record<string, string> = {};
        for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
        this.requests.push({ method, url, headers });
        const cseq = headers['cseq'] ?? '0';
        if (this.o.silent) continue;
        if (this.o.basic) {
          const want = `Basic ${Buffer.from(`${this.o.basic.user}:${this.o.basic.password}`).toString('base64')}`;
          if (headers['authorization'] !== want) {
            reply(cseq, '401 Unauthorized', { 'WWW-Authenticate': 'Basic realm="fake"' });
            continue;
          }
        }
        const session = `SESS1;timeout=${this.o.sessionTimeoutSec ?? 60}`;
        if (method === 'DESCRIBE') {
          if (this.o.redirectTo) reply(cseq, '302 Moved Temporarily', { Location: this.o.redirectTo });
          else if (this.o.describeStatus) reply(cseq, `${this.o.describeStatus} Nope`);
          else reply(cseq, '200 OK', { 'Content-Type': 'application/sdp', 'Content-Base': `${url}/` }, SDP);
        } else if (method === 'SETUP') {
          reply(cseq, '200 OK', { Session: session, Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' });
        } else if (method === 'PLAY') {
          reply(cseq, '200 OK', { Session: session });
          timer = this.#stream(sock);
        } else if (method === 'GET_PARAMETER' && !this.o.getParameter) {
          reply(cseq, '501 Not Implemented');
        } else {
          reply(cseq, '200 OK', { Session: session });
        }
      }
    });
  }

  /** 25 fps from a random sequence number and timestamp; each 10th frame an IDR in two FU-A pieces. */
  #stream(sock: net.Socket): NodeJS.Timeout {
    let seq = Math.floor(Math.random() * 65536);
    let ts = Math.floor(Math.random() * 2 ** 32);
    let frame = 0;
    const ssrc = Math.floor(Math.random() * 2 ** 32);
    const send = (channel: number, pkt: Buffer) => {
      const head = Buffer.from([0x24, channel, 0, 0]);
      head.writeUInt16BE(pkt.length, 2);
      sock.write(Buffer.concat([head, pkt]));
    };
    const rtp = (payload: Buffer, marker: boolean) => {
      const p = Buffer.alloc(12 + payload.length);
      writeRtpHeader(p, 96, marker, seq, ts, ssrc);
      seq = (seq + 1) & 0xffff;
      payload.copy(p, 12);
      send(0, p);
    };
    return setInterval(() => {
      if (frame % 10 === 0) {
        rtp(Buffer.from([0x7c, 0x85, ...Buffer.alloc(600, 1)]), false);
        rtp(Buffer.from([0x7c, 0x45, ...Buffer.alloc(300, 2)]), true);
        const sr = Buffer.alloc(28);
        writeSenderReport(sr, { ssrc, ntpHi: 3_900_000_000 + frame, ntpLo: 0, rtpTs: ts, packets: seq, octets: 0 });
        send(1, sr);
      } else {
        rtp(Buffer.from([0x41, ...Buffer.alloc(200, 3)]), true);
      }
      frame++;
      ts = (ts + 3600) >>> 0;
    }, 40);
  }
}

/** The "mediasoup" side: what the relay sends to the PlainTransport's RTP and RTCP ports. */
async function producerSide() {
  const open = () =>
    new Promise<dgram.Socket>((r) => {
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => r(s));
    });
  const rtp = await open();
  const rtcp = await open();
  const packets: {
    seq: number;
    ts: number;
    ssrc: number;
    pt: number;
    nal: number;
    fu: number;
    /** Carries exactly the playout-delay element (min = max = 0) the ingest stamps on a frame's first packet. */
    stamped: boolean;
    at: number;
    from: number;
  }[] = [];
  const reports: { pt: number; ssrc: number; rtpTs: number }[] = [];
  let rtcpPeer: { port: number; address: string } | undefined;
  rtp.on('message', (m, rinfo) =>
    packets.push({
      seq: m.readUInt16BE(2),
      ts: m.readUInt32BE(4),
      ssrc: m.readUInt32BE(8),
      pt: (m[1] as number) & 0x7f,
      nal: (m[payloadOffset(m, 0, m.length)] as number) & 0x1f,
      fu: m[payloadOffset(m, 0, m.length) + 1] as number,
      stamped:
        ((m[0] as number) & 0x1f) === 0x10 &&
        m.readUInt32BE(12) === 0xbede0001 &&
        m.readUInt32BE(16) === (((PLAYOUT_DELAY.preferredId << 4) | 2) << 24) >>> 0,
      at: Date.now(),
      from: rinfo.port,
    }),
  );
  rtcp.on('message', (m, rinfo) => {
    rtcpPeer = rinfo;
    reports.push({ pt: m[1] as number, ssrc: m.readUInt32BE(4), rtpTs: m.readUInt32BE(16) });
  });
  const target = {
    ip: '127.0.0.1',
    rtpPort: rtp.address().port,
    rtcpPort: rtcp.address().port,
    localRtpPort: 0,
    localRtcpPort: 0,
    ssrc: 0x01020304,
    payloadType: 102,
  };
  return {
    target,
    packets,
    reports,
    /** Sends a PLI from "mediasoup" to the relay's RTCP socket. */
    pli: () => {
      const p = Buffer.from([0x81, 206, 0, 2, 0, 0, 0, 1, 1, 2, 3, 4]);
      if (rtcpPeer) rtcp.send(p, rtcpPeer.port, rtcpPeer.address);
    },
    close: () => {
      rtp.close();
      rtcp.close();
    },
  };
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(camera: FakeOptions, url?: (cam: FakeCamera) => string, timeoutMs = 2000) {
  const cam = await new FakeCamera(camera).listen();
  const side = await producerSide();
  // The stream's forwarder (its held local ports) and the relay under the gateway's Supervisor, as StreamVariant has them.
  const logger = createLogger('silent');
  const forwarder = await RtpForwarder.open({
    ssrc: side.target.ssrc,
    payloadType: side.target.payloadType,
    clockRate: 90000,
    video: true,
    logger,
  });
  await forwarder.pointAt(side.target);
  const ports = [forwarder.localPorts.rtp, forwarder.localPorts.rtcp];
  const failures: RestartReason[] = [];
  const relay = new RtspPacketSource({
    url: url ? url(cam) : cam.url(),
    transport: new TransportChoice('tcp'),
    timeoutMs,
    video: { forwarder, codec: 'h264', clockRate: 90000 },
    secrets: [],
    logger,
    rtcpIntervalMs: 300,
  });
  const src = superviseIngest(relay, { backoffInitialMs: 100, backoffMaxMs: 300 });
  src.on('failed', ({ reason }) => failures.push(reason));
  cleanups.push(
    () => cam.close(),
    () => side.close(),
    () => forwarder.close(),
    () => src.stop('stopped'),
    () => relay.close(),
  );
  return { cam, side, src, relay, forwarder, failures, ports: ports as [number, number] };
}

/** Whether a UDP port on 127.0.0.1 can be bound now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => r(false));
    s.bind(port, '127.0.0.1', () => s.close(() => r(true)));
  });
}

describe('packet relay against a scripted camera', () => {
  it('keeps sequence numbers gapless and timestamps increasing across a reconnect, with SPS/PPS before each IDR', async () => {
    const { cam, side, src, relay } = await setup({});
    src.start();
    await waitFor('first session', () => side.packets.length > 60, 5000);
    cam.dropClients();
    const dropAt = Date.now();
    await waitFor(
      'second session',
      () => side.packets.some((p) => p.at > dropAt + 50) && side.packets.length > 140,
      5000,
    );
    await src.stop('stopped');
    const pk = side.packets;
    expect(new Set(pk.map((p) => p.ssrc))).toEqual(new Set([0x01020304]));
    expect(new Set(pk.map((p) => p.pt))).toEqual(new Set([102]));
    // The playout-delay stamp rides on each frame's first packet only.
    expect(pk.every((p, i) => p.stamped === (i === 0 || p.ts !== pk[i - 1]?.ts))).toBe(true);
    for (let i = 1; i < pk.length; i++) {
      expect((pk[i]?.seq as number) - (pk[i - 1]?.seq as number)).toSatisfy((d: number) => (d & 0xffff) === 1);
      const dts = ((pk[i]?.ts as number) - (pk[i - 1]?.ts as number)) >>> 0;
      expect(dts).toBeLessThan(2 ** 31); // never backwards
    }
    // Every IDR start is preceded by a STAP-A (type 24) with the same timestamp.
    const idrs = pk.map((p, i) => ({ p, i })).filter(({ p }) => p.nal === 28 && p.fu === 0x85);
    expect(idrs.length).toBeGreaterThanOrEqual(6);
    for (const { p, i } of idrs) {
      if (i === 0) continue;
      expect(pk[i - 1]?.nal).toBe(24);
      expect(pk[i - 1]?.ts).toBe(p.ts);
    }
    expect(relay.counters.inserted).toBe(idrs.length);
    expect(src.restarts).toBe(1);
  });

  it('passes sender reports on with the Producer SSRC and mapped timestamps; sends RRs and forwards PLIs to the camera', async () => {
    const { cam, side, src } = await setup({});
    src.start();
    await waitFor('a sender report', () => side.reports.length >= 2, 5000);
    const sr = side.reports[side.reports.length - 1];
    expect(sr?.pt).toBe(200);
    expect(sr?.ssrc).toBe(0x01020304);
    // The SR's RTP timestamp is in the rewritten timeline: it equals the IDR packets' rewritten timestamp.
    expect(side.packets.some((p) => p.ts === sr?.rtpTs)).toBe(true);
    await waitFor(
      'a receiver report at the camera',
      () => cam.fromClient.some((f) => f.channel === 1 && f.pt === 201),
      3000,
    );
    side.pli();
    await waitFor('the PLI at the camera', () => cam.fromClient.some((f) => f.channel === 1 && f.pt === 206), 3000);
  });

  it('sends from its fixed ports, keeps them bound across stop() (idle) and releases them on close()', async () => {
    const { side, src, forwarder, ports } = await setup({});
    src.start();
    await waitFor('packets', () => side.packets.length > 5, 5000);
    await src.stop('stopped');
    expect(src.state).toBe('stopped');
    expect(await canBind(ports[0])).toBe(false);
    expect(await canBind(ports[1])).toBe(false);
    const n = side.packets.length;
    src.start(); // on demand again: same ports, the stream runs on
    await waitFor('packets again', () => side.packets.length > n + 5, 5000);
    expect(new Set(side.packets.map((p) => p.from))).toEqual(new Set([ports[0]]));
    await src.stop('stopped');
    forwarder.close();
    expect(await canBind(ports[0])).toBe(true);
    expect(await canBind(ports[1])).toBe(true);
  });

  it('restarts the session on a stall (as StreamVariant asks) and resumes on the same Producer stream', async () => {
    const { side, src, failures } = await setup({});
    src.start();
    await waitFor('packets', () => side.packets.length > 20, 5000);
    const since = src.runningSince;
    expect(since).toBeGreaterThan(0);
    src.restart('stall');
    await waitFor('the restart', () => failures.length > 0, 2000, 5);
    expect(failures).toEqual(['stall']);
    expect(src.state).toBe('backoff');
    expect(src.runningSince).toBe(0);
    const n = side.packets.length;
    await waitFor('packets again', () => side.packets.length > n + 20, 5000);
    expect(src.state).toBe('running');
    expect(src.runningSince).toBeGreaterThan(since);
    const last = side.packets.slice(n - 1, n + 1);
    expect(((last[1]?.seq as number) - (last[0]?.seq as number)) & 0xffff).toBe(1);
  });

  it('keeps the session alive before its timeout, with OPTIONS when GET_PARAMETER is refused', async () => {
    const { cam, src } = await setup({ sessionTimeoutSec: 2 });
    src.start();
    await waitFor('PLAY', () => cam.requests.some((r) => r.method === 'PLAY'), 3000);
    await sleep(2600);
    const methods = cam.requests.map((r) => r.method);
    expect(methods).toContain('GET_PARAMETER');
    expect(methods.filter((m) => m === 'OPTIONS').length).toBeGreaterThanOrEqual(1);
    expect(cam.requests.filter((r) => r.method === 'OPTIONS').every((r) => r.headers['session'] === 'SESS1')).toBe(
      true,
    );
    expect(src.restarts).toBe(0);
  });

  it('follows a redirect, keeping the credentials for the same host', async () => {
    const target = await new FakeCamera({ basic: { user: 'admin', password: 'pw' } }).listen();
    cleanups.push(() => target.close());
    const { side, src } = await setup({ redirectTo: target.url('/real') }, (cam) => cam.url('/old', 'admin:pw@'));
    src.start();
    await waitFor('packets via the redirect', () => side.packets.length > 10, 5000);
    const setupReq = target.requests.find((r) => r.method === 'SETUP');
    expect(setupReq?.url).toBe(`${target.url('/real')}/track1`);
    expect(setupReq?.headers['authorization']).toMatch(/^Basic /);
  });

  const failing: [string, FakeOptions, RestartReason, ((cam: FakeCamera) => string)?][] = [
    [
      'a refused password',
      { basic: { user: 'admin', password: 'right' } },
      'auth',
      (c) => c.url('/cam', 'admin:wrong@'),
    ],
    ['a missing stream', { describeStatus: 404 }, 'not_found'],
    ['a camera that never answers', { silent: true }, 'timeout'],
    ['nothing listening', {}, 'unreachable', () => 'rtsp://127.0.0.1:9/cam'],
  ];
  for (const [what, opts, reason, url] of failing) {
    it(`reports ${reason} for ${what} and keeps retrying with backoff`, async () => {
      const { src, failures } = await setup(opts, url, 500);
      src.start();
      await waitFor('two failures', () => failures.length >= 2, 5000);
      expect(failures.slice(0, 2)).toEqual([reason, reason]);
      expect(src.state).not.toBe('stopped');
      await src.stop('stopped');
      expect(src.state).toBe('stopped');
    });
  }
});
