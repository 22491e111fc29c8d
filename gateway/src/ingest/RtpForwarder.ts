// Where every ingest path hands its RTP to mediasoup: one per track. It owns the two local UDP
// sockets the track sends from, held for the stream's life (a comedia PlainTransport accepts only the
// source address it learned first, so a reconnected camera or a restarted FFmpeg must send from them
// again), rewrites each packet's header (the Producer's SSRC and payload type, sequence numbers and
// timestamps that run on across camera sessions), stamps each video frame's first packet with
// playout-delay, and sends it at once. pointAt() moves it to another PlainTransport (the stream was
// re-homed to another worker) without the camera noticing. mediasoup's keyframe requests come back
// on the RTCP socket; `onKeyframeRequest` passes them on to the ingest source (RTCP to the camera),
// `onKeyframeRequestOutOfBand` to whatever else can ask the camera (ONVIF). `tap` sees every packet as sent.
import type dgram from 'node:dgram';
import type { Logger } from '../log.js';
import { reserveUdpPair } from './ports.js';
import { type SenderReport, wantsKeyframe } from './rtsp/rtcp.js';
import { FrameStartStamp, RtpRewriter, writeRtpHeader } from './rtsp/rtp.js';

export interface ForwarderTarget {
  ip: string;
  rtpPort: number;
  rtcpPort: number;
}

export interface RtpForwarderOptions {
  ssrc: number;
  payloadType: number;
  clockRate: number;
  /** Video frames get the playout-delay stamp. */
  video: boolean;
  logger: Logger;
}

/** Sees each packet as it goes to mediasoup (header rewritten); must not keep `buf` past the call. */
export type RtpTap = (buf: Buffer, off: number, len: number) => void;

const ERROR_LOG_EVERY_MS = 10_000;

export class RtpForwarder {
  readonly rewriter: RtpRewriter;
  /** Called for each keyframe request (PLI/FIR) mediasoup sends toward the source. */
  onKeyframeRequest: (() => void) | undefined;
  /** Also called for each: the variant's other way to ask the camera (ONVIF), whatever the ingest path. */
  onKeyframeRequestOutOfBand: (() => void) | undefined;
  tap: RtpTap | undefined;
  #target: ForwarderTarget | undefined;
  #connected = false;
  #pointing: Promise<void> = Promise.resolve();
  readonly #stamp: FrameStartStamp | undefined;
  readonly #sr = Buffer.alloc(28);
  #closed = false;

  private constructor(
    private readonly opts: RtpForwarderOptions,
    private readonly rtp: dgram.Socket,
    private readonly rtcp: dgram.Socket,
  ) {
    this.rewriter = new RtpRewriter(opts.ssrc, opts.payloadType, opts.clockRate);
    this.#stamp = opts.video ? new FrameStartStamp() : undefined;
    let loggedAt = 0;
    // On a connected socket ICMP errors (e.g. the transport is gone) arrive per packet: log few.
    const onError = (err: NodeJS.ErrnoException) => {
      // Nothing listens there (yet, or any more: FFmpeg starting, a transport just closed): not news.
      if (err.code === 'ECONNREFUSED') return;
      if (Date.now() - loggedAt < ERROR_LOG_EVERY_MS) return;
      loggedAt = Date.now();
      opts.logger.warn({ err: err.message, video: opts.video }, 'forwarding socket error');
    };
    rtp.on('error', onError);
    rtcp.on('error', onError);
    rtcp.on('message', (msg) => {
      if (!wantsKeyframe(msg, 0, msg.length)) return;
      this.onKeyframeRequest?.();
      this.onKeyframeRequestOutOfBand?.();
    });
  }

  /** Binds the two held sockets on loopback. */
  static async open(opts: RtpForwarderOptions): Promise<RtpForwarder> {
    const [rtp, rtcp] = await reserveUdpPair();
    return new RtpForwarder(opts, rtp, rtcp);
  }

  get ssrc(): number {
    return this.opts.ssrc;
  }
  get payloadType(): number {
    return this.opts.payloadType;
  }
  /** The held local ports (the transport learns them from the first packet). */
  get localPorts(): { rtp: number; rtcp: number } {
    return { rtp: this.rtp.address().port, rtcp: this.rtcp.address().port };
  }
  get target(): ForwarderTarget | undefined {
    return this.#target;
  }

  /** Sends to `target` from now on (the first one, or another transport after a re-home). */
  pointAt(target: ForwarderTarget): Promise<void> {
    this.#pointing = this.#pointing.then(async () => {
      if (this.#closed) return;
      this.#connected = false;
      if (this.#target) {
        this.rtp.disconnect();
        this.rtcp.disconnect();
      }
      this.#target = target;
      const connect = (s: dgram.Socket, port: number) =>
        new Promise<void>((resolve) => s.connect(port, target.ip, () => resolve()));
      await Promise.all([connect(this.rtp, target.rtpPort), connect(this.rtcp, target.rtcpPort)]);
      if (this.#target === target && !this.#closed) this.#connected = true;
    });
    return this.#pointing;
  }

  /** A new camera session (or FFmpeg run): its first packet continues the numbering of the last one. */
  newSession(): void {
    this.rewriter.newSession();
  }

  /** True when sends toward mediasoup are queued (EAGAIN) rather than done at once. */
  get busy(): boolean {
    return this.rtp.getSendQueueCount() > 0;
  }

  /** Rewrites and sends one packet of the source. */
  forward(buf: Buffer, off: number, len: number, now: number): void {
    if (!this.#connected) return;
    this.rewriter.rewrite(buf, off, now);
    this.#send(buf, off, len);
  }

  /**
   * Sends `insert` (a prebuilt RTP packet, e.g. STAP-A [SPS, PPS]) before the source's packet, or
   * `fragments` (prebuilt FU-A packets) in its place, numbering all of them in order.
   */
  forwardWith(
    buf: Buffer,
    off: number,
    len: number,
    now: number,
    insert: Buffer | null,
    fragments: Buffer[] | null,
  ): void {
    if (!this.#connected) return;
    const extra = (insert ? 1 : 0) + (fragments ? fragments.length - 1 : 0);
    let seq = this.rewriter.rewrite(buf, off, now, extra);
    const ts = buf.readUInt32BE(off + 4);
    const { payloadType: pt, ssrc } = this.opts;
    if (insert) {
      writeRtpHeader(insert, pt, false, seq, ts, ssrc);
      seq = (seq + 1) & 0xffff;
      this.#send(insert, 0, insert.length);
    }
    if (!fragments) {
      this.#send(buf, off, len);
      return;
    }
    // The last fragment takes the source packet's own (rewritten) number and marker bit.
    const marker = ((buf[off + 1] as number) & 0x80) !== 0;
    const own = buf.readUInt16BE(off + 2);
    for (let i = 0; i < fragments.length; i++) {
      const last = i === fragments.length - 1;
      const pkt = fragments[i] as Buffer;
      writeRtpHeader(pkt, pt, marker && last, last ? own : seq, ts, ssrc);
      seq = (seq + 1) & 0xffff;
      this.#send(pkt, 0, pkt.length);
    }
  }

  #send(buf: Buffer, off: number, len: number): void {
    const stamped = this.#stamp?.apply(buf, off, len);
    if (stamped) this.rtp.send(stamped);
    else this.rtp.send(buf, off, len);
    // After the send: whatever the tap does (the keyframe cache's copy) never delays a packet.
    this.tap?.(stamped ?? buf, stamped ? 0 : off, stamped ? stamped.length : len);
  }

  /** Passes the source's sender report on, in the Producer's SSRC and timestamp space; false when it could not be mapped yet. */
  senderReport(sr: SenderReport): boolean {
    const n = this.#connected ? this.rewriter.senderReport(this.#sr, sr) : 0;
    if (n) this.rtcp.send(this.#sr, 0, n);
    return n > 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#connected = false;
    for (const s of [this.rtp, this.rtcp]) {
      try {
        s.close();
      } catch {}
    }
  }
}
