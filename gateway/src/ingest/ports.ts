// Local UDP sockets on loopback: the ones an RtpForwarder sends to mediasoup from (bound once and
// held for the stream's life: a comedia PlainTransport accepts only the source address it learned
// from the first packet, and holding them means nothing else can be handed the ports), and the ones
// FFmpeg sends to.
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

/** Two held UDP sockets (RTP and RTCP) on ports the kernel picks; none is left open when one fails. */
export async function reserveUdpPair(ip = '127.0.0.1'): Promise<[dgram.Socket, dgram.Socket]> {
  const rtp = await bindUdp(0, ip);
  try {
    return [rtp, await bindUdp(0, ip)];
  } catch (err) {
    rtp.close();
    throw err;
  }
}

/**
 * A free even port P with P + 1 free too (RTP and RTCP), for a process that binds them itself
 * (FFmpeg reading relayed RTP). Bound and released here: another process could take them between.
 */
export async function freeUdpPortPair(ip = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const rtp = await bindUdp(0, ip);
    const port = rtp.address().port;
    const rtcp = port % 2 === 0 && port < 65535 ? await bindUdp(port + 1, ip).catch(() => undefined) : undefined;
    rtp.close();
    rtcp?.close();
    if (rtcp) return port;
  }
  throw new Error('no free pair of UDP ports on loopback');
}
