// Local UDP ports the FFmpeg path sends to mediasoup from (RtpContinuity binds them). They stay fixed
// for a stream's life: a comedia PlainTransport accepts only the source address it learned from the
// first packet, so what a restarted FFmpeg sends must come from them again. The kernel picks free
// ports (bound, then released, then bound by RtpContinuity); the pool remembers what it handed out
// so two streams never get the same port.
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

export class SourcePorts {
  readonly #held = new Set<number>();

  async pair(ip = '127.0.0.1'): Promise<[number, number]> {
    const take = async (): Promise<number> => {
      for (let i = 0; i < 50; i++) {
        const port = await freeUdpPort(ip);
        if (!this.#held.has(port)) {
          this.#held.add(port);
          return port;
        }
      }
      throw new Error('no free local UDP port for ingest');
    };
    return [await take(), await take()];
  }

  release(ports: readonly number[]): void {
    for (const p of ports) this.#held.delete(p);
  }
}
