// Which lower transport a camera's RTSP sessions ask for. `tcp` and `udp` are fixed. `auto` starts
// with TCP (interleaved RTP passes NAT and firewalls and loses nothing), and switches to UDP when the
// camera refuses TCP (`461 Unsupported Transport`, as servers that only do UDP answer) or a session
// over it played but carried no video; and back the same way. What carried video is remembered for
// the camera's next sessions, so the switch happens once, not on every start.
export type RtspTransportSetting = 'auto' | 'tcp' | 'udp';
export type RtspLowerTransport = 'tcp' | 'udp';

export class TransportChoice {
  #current: RtspLowerTransport;
  #learned: RtspLowerTransport | undefined;

  constructor(readonly setting: RtspTransportSetting) {
    this.#current = setting === 'udp' ? 'udp' : 'tcp';
  }

  /** What the next SETUP asks for. */
  get current(): RtspLowerTransport {
    return this.#current;
  }

  /** The transport that last carried video (auto), or the fixed one. */
  get learned(): RtspLowerTransport | undefined {
    return this.setting === 'auto' ? this.#learned : this.setting;
  }

  /**
   * `t` did not work (refused, or played without video): under auto the next try uses the other
   * transport. Returns the one switched to, or undefined when the setting is fixed.
   */
  refused(t: RtspLowerTransport): RtspLowerTransport | undefined {
    if (this.setting !== 'auto' || t !== this.#current) return undefined;
    this.#current = t === 'tcp' ? 'udp' : 'tcp';
    if (this.#learned === t) this.#learned = undefined;
    return this.#current;
  }

  /** Video arrived over `t`: keep it. True the first time it is learned. */
  worked(t: RtspLowerTransport): boolean {
    const first = this.#learned !== t;
    this.#learned = t;
    this.#current = t;
    return first && this.setting === 'auto';
  }
}
