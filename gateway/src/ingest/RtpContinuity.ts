// Between FFmpeg and mediasoup: FFmpeg sends its RTP and RTCP here, and each packet goes on to the
// Producer's PlainTransport at once with its sequence number and timestamp rewritten so that they
// run on across FFmpeg restarts. Without it, every restarted FFmpeg starts a new random timestamp
// base (FFmpeg 5.1 has no option to set it), which mediasoup 3.12's SimpleConsumer passes on, and
// Chromium can hold the resumed video for seconds. The same RtpRewriter the packet relay uses.
//
// Sends from the fixed local ports of the track's RtpTarget (a comedia PlainTransport accepts only
// the source it learned first), bound here for the stream's life; FFmpeg sends from any port.
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import type { RtpTarget } from './ffmpegArgs.js';
import { findSenderReport, writeSenderReport } from './rtsp/rtcp.js';
import { isRtp, RtpRewriter } from './rtsp/rtp.js';

const bind = (port: number) =>
  new Promise<dgram.Socket>((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(port, '127.0.0.1', () => {
      s.off('error', reject);
      s.on('error', () => {}); // loopback sends to a closed transport: nothing to do
      s.unref();
      resolve(s);
    });
  });

export class RtpContinuity {
  readonly #rewriter: RtpRewriter;
  readonly #sr = Buffer.alloc(28);
  readonly #sockets: dgram.Socket[];

  private constructor(
    readonly target: RtpTarget,
    clockRate: number,
    recvRtp: dgram.Socket,
    recvRtcp: dgram.Socket,
    fwdRtp: dgram.Socket,
    fwdRtcp: dgram.Socket,
  ) {
    this.#rewriter = new RtpRewriter(target.ssrc, target.payloadType, clockRate);
    this.#sockets = [recvRtp, recvRtcp, fwdRtp, fwdRtcp];
    this.ffmpegTarget = {
      ...target,
      rtpPort: recvRtp.address().port,
      rtcpPort: recvRtcp.address().port,
      localRtpPort: 0,
      localRtcpPort: 0,
    };
    recvRtp.on('message', (msg) => {
      if (!isRtp(msg, 0, msg.length)) return;
      this.#rewriter.rewrite(msg, 0, performance.now());
      fwdRtp.send(msg, target.rtpPort, target.ip);
    });
    recvRtcp.on('message', (msg) => {
      const sr = findSenderReport(msg, 0, msg.length);
      if (!sr || sr.ssrc !== this.#rewriter.inSsrc) return;
      const n = writeSenderReport(this.#sr, { ...sr, ssrc: target.ssrc, rtpTs: this.#rewriter.mapTimestamp(sr.rtpTs) });
      fwdRtcp.send(this.#sr, 0, n, target.rtcpPort, target.ip);
    });
  }

  /** Where FFmpeg should send (its own local ports left to the system). */
  readonly ffmpegTarget: RtpTarget;

  static async open(target: RtpTarget, clockRate: number): Promise<RtpContinuity> {
    const sockets: dgram.Socket[] = [];
    try {
      for (const port of [0, 0, target.localRtpPort, target.localRtcpPort]) sockets.push(await bind(port));
    } catch (err) {
      for (const s of sockets) s.close();
      throw err;
    }
    const [recvRtp, recvRtcp, fwdRtp, fwdRtcp] = sockets as [dgram.Socket, dgram.Socket, dgram.Socket, dgram.Socket];
    return new RtpContinuity(target, clockRate, recvRtp, recvRtcp, fwdRtp, fwdRtcp);
  }

  /** A new FFmpeg starts: its first packet continues the numbering of the last one forwarded. */
  newSession(): void {
    this.#rewriter.newSession();
  }

  close(): void {
    for (const s of this.#sockets) {
      try {
        s.close();
      } catch {}
    }
  }
}
