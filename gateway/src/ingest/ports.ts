// Local UDP ports FFmpeg sends from. They stay fixed for a stream's life: a comedia PlainTransport
// accepts only the source address it learned from the first packet, so a restarted FFmpeg must
// reuse them. Ephemeral ports picked by the kernel (bound, then released) keep parallel gateways
// from colliding; the pair is held for the stream's lifetime.
import dgram from 'node:dgram';

function freeUdpPort(ip: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, ip, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function allocatePortPair(ip = '127.0.0.1'): Promise<[number, number]> {
  return [await freeUdpPort(ip), await freeUdpPort(ip)];
}
