// Local UDP sockets that an ingest sends to mediasoup from. They are bound once and held for the
// stream's life: a comedia PlainTransport accepts only the source address it learned from the first
// packet, so whatever a restarted FFmpeg or a reconnected relay sends must come from them again, and
// holding them (rather than "bind port 0, then release") means nothing else can be handed the ports.
import dgram from 'node:dgram';

/** A UDP socket bound to `port` (0: one the kernel picks) that does not keep the process alive. */
export function bindUdp(port: number, ip = '127.0.0.1'): Promise<dgram.Socket> {
  return new Promise<dgram.Socket>((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(port, ip, () => {
      s.off('error', reject);
      s.on('error', () => {}); // the owner adds its own handler; loopback sends have nothing to report
      s.unref();
      resolve(s);
    });
  });
}

/** Two held UDP sockets (RTP and RTCP) on ports the kernel picks. */
export async function reserveUdpPair(ip = '127.0.0.1'): Promise<[dgram.Socket, dgram.Socket]> {
  return [await bindUdp(0, ip), await bindUdp(0, ip)];
}
