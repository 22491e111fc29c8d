// Between FFmpeg and mediasoup: FFmpeg sends its RTP and RTCP here, and each packet goes on to the
// Producer's PlainTransport at once with its sequence number and timestamp rewritten so that they
// run on across FFmpeg restarts. Without it, every restarted FFmpeg starts a new random timestamp
// base (FFmpeg 5.1 has no option to set it), which mediasoup 3.12's SimpleConsumer passes on, and
// Chromium can hold the resumed video for seconds. The same RtpRewriter the packet relay uses.
//
// Sends from the track's held local sockets (a comedia PlainTransport accepts only the source it
// learned first; see ports.ts); FFmpeg sends from any port. close() closes all four sockets.
import type dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import type { RtpTarget } from './ffmpegArgs.js';
import { bindUdp } from './ports.js';
import { findSenderReport } from './rtsp/rtcp.js';
import { FrameStartStamp, isRtp, RtpRewriter } from './rtsp/rtp.js';

export class RtpContinuity {
  readonly #rewriter: RtpRewriter;
  readonly #sr = Buffer.alloc(28);
  readonly #sockets: dgram.Socket[];

  private constructor(
    readonly target: RtpTarget,
    clockRate: number,
    video: boolean,
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
    const stamp = video ? new FrameStartStamp() : undefined;
    recvRtp.on('message', (msg) => {
      if (!isRtp(msg, 0, msg.length)) return;
      this.#rewriter.rewrite(msg, 0, performance.now());
      fwdRtp.send(stamp?.apply(msg, 0, msg.length) ?? msg, target.rtpPort, target.ip);
    });
    recvRtcp.on('message', (msg) => {
      const sr = findSenderReport(msg, 0, msg.length);
      const n = sr ? this.#rewriter.senderReport(this.#sr, sr) : 0;
      if (n) fwdRtcp.send(this.#sr, 0, n, target.rtcpPort, target.ip);
    });
  }

  /** Where FFmpeg should send (its own local ports left to the system). */
  readonly ffmpegTarget: RtpTarget;

  /** `forward`: the held sockets bound to target.localRtpPort and localRtcpPort. Video frames are stamped (FrameStartStamp). */
  static async open(
    target: RtpTarget,
    clockRate: number,
    video: boolean,
    forward: [dgram.Socket, dgram.Socket],
  ): Promise<RtpContinuity> {
    const recvRtp = await bindUdp(0);
    const recvRtcp = await bindUdp(0).catch((err: Error) => {
      recvRtp.close();
      throw err;
    });
    return new RtpContinuity(target, clockRate, video, recvRtp, recvRtcp, ...forward);
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
