import { describe, expect, it } from 'vitest';
import { formatRequest, parseSession, parseTransport, RtspDemuxer, type RtspMessage } from './message.js';

function frame(channel: number, payload: Buffer): Buffer {
  const head = Buffer.from([0x24, channel, 0, 0]);
  head.writeUInt16BE(payload.length, 2);
  return Buffer.concat([head, payload]);
}

function collect() {
  const frames: { channel: number; data: Buffer }[] = [];
  const messages: RtspMessage[] = [];
  const demux = new RtspDemuxer(
    (channel, buf, off, len) => frames.push({ channel, data: Buffer.from(buf.subarray(off, off + len)) }),
    (m) => messages.push(m),
  );
  return { demux, frames, messages };
}

const sdpBody = 'v=0\r\nm=video 0 RTP/AVP 96\r\n';
const describeReply = Buffer.from(
  `RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: ${sdpBody.length}\r\n\r\n${sdpBody}`,
);
const keepAliveReply = Buffer.from('RTSP/1.0 200 OK\r\nCSeq: 7\r\nSession: 1234\r\n\r\n');

describe('RtspDemuxer', () => {
  const payloads = Array.from({ length: 40 }, (_, i) => Buffer.alloc(3 + ((i * 97) % 1400), i));
  const stream = Buffer.concat([
    describeReply,
    ...payloads.slice(0, 20).map((p, i) => frame(i % 4, p)),
    keepAliveReply,
    ...payloads.slice(20).map((p, i) => frame(i % 4, p)),
    Buffer.from('GET_PARAMETER rtsp://x/ RTSP/1.0\r\nCSeq: 1\r\n\r\n'),
  ]);

  const check = ({ frames, messages }: ReturnType<typeof collect>) => {
    expect(frames.map((f) => f.data)).toEqual(payloads);
    expect(frames.map((f) => f.channel)).toEqual(payloads.map((_, i) => i % 4));
    expect(messages.map((m) => m.status)).toEqual([200, 200, 0]);
    expect(messages[0]?.body.toString()).toBe(sdpBody);
    expect(messages[1]?.headers.get('session')).toEqual(['1234']);
    expect(messages[2]?.method).toBe('GET_PARAMETER');
  };

  it('splits one whole buffer into messages and frames', () => {
    const c = collect();
    c.demux.push(stream);
    check(c);
  });

  for (const size of [1, 2, 3, 5, 7, 64, 1000, 1500, 4096]) {
    it(`reassembles everything when the stream arrives in ${size}-byte chunks`, () => {
      const c = collect();
      for (let i = 0; i < stream.length; i += size) c.demux.push(stream.subarray(i, i + size));
      check(c);
    });
  }

  it('hands out a frame inside one chunk without copying', () => {
    let seen: Buffer | undefined;
    const chunk = frame(0, Buffer.from([0x80, 1, 2, 3]));
    new RtspDemuxer(
      (_c, buf) => {
        seen = buf;
      },
      () => {},
    ).push(chunk);
    expect(seen).toBe(chunk);
  });

  it('reads only up to `end` of a reused read buffer', () => {
    const c = collect();
    const reused = Buffer.alloc(stream.length + 100, 0x24); // stale bytes after `end`
    let off = 0;
    for (const size of [700, 1, 3000, 5, 100000]) {
      const n = Math.min(size, stream.length - off);
      stream.copy(reused, 0, off, off + n);
      c.demux.push(reused.subarray(0, n + 50), n);
      off += n;
      // the same memory is read into again: frames were copied out by the handler
      reused.fill(0x24);
    }
    check(c);
  });

  it('rejects garbage', () => {
    const c = collect();
    expect(() => c.demux.push(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'))).toThrow(/unexpected line/);
  });
});

describe('headers', () => {
  it('formats a request', () => {
    expect(formatRequest('OPTIONS', 'rtsp://h/a', { CSeq: 1 })).toBe('OPTIONS rtsp://h/a RTSP/1.0\r\nCSeq: 1\r\n\r\n');
  });
  it('parses Session with and without a timeout', () => {
    expect(parseSession('A1B2C3;timeout=30')).toEqual({ id: 'A1B2C3', timeoutSec: 30 });
    expect(parseSession('A1B2C3')).toEqual({ id: 'A1B2C3', timeoutSec: 60 });
    expect(parseSession(undefined)).toBeUndefined();
  });
  it('parses Transport answers', () => {
    expect(parseTransport('RTP/AVP/TCP;unicast;interleaved=2-3;ssrc=1A2B3C4D;mode="PLAY"')).toEqual({
      interleaved: [2, 3],
      ssrc: 0x1a2b3c4d,
    });
    expect(parseTransport('RTP/AVP;unicast;client_port=5000-5001;server_port=6970-6971;source=10.0.0.5')).toEqual({
      serverPort: [6970, 6971],
      source: '10.0.0.5',
    });
    expect(parseTransport('RTP/AVP;unicast;server_port=6970')).toEqual({ serverPort: [6970, 6971] });
  });
});
