// A load-generator process: hosts many WeriftViewers and answers its parent over IPC. The fan-out
// benchmark forks several, so the viewers' SRTP and RTP work spreads over the cores and is accounted
// apart from the gateway's.
//   parent → child  { cmd: 'add', id, target, streams: string[] }   one viewer per entry of `streams`
//                   { cmd: 'reset', id } | { cmd: 'stats', id } | { cmd: 'closeAll', id }
//   child → parent  { id, ok: true, data } | { id, ok: false, error }
import { WeriftViewer } from './WeriftViewer.js';

export type ViewerTarget = { kind: 'gateway'; wsUrl: string; token: string } | { kind: 'janus'; base: string };

export type ViewerCommand =
  | { cmd: 'add'; id: number; target: ViewerTarget; streams: string[]; concurrency?: number }
  | { cmd: 'reset'; id: number }
  | { cmd: 'stats'; id: number }
  | { cmd: 'closeAll'; id: number };

export interface ProcessStats {
  viewers: number;
  connected: number;
  packets: number;
  bytes: number;
  lost: number;
  expected: number;
  /** Viewers that received nothing since the last reset. */
  silent: number;
  firstRtpMs: number[];
}

const viewers: WeriftViewer[] = [];

async function add(
  target: ViewerTarget,
  streams: string[],
  concurrency: number,
): Promise<{ added: number; errors: string[] }> {
  const errors: string[] = [];
  let next = 0;
  let added = 0;
  const worker = async () => {
    while (next < streams.length) {
      const stream = streams[next++] as string;
      try {
        const v =
          target.kind === 'gateway'
            ? await WeriftViewer.gateway(target.wsUrl, target.token, stream)
            : await WeriftViewer.janus(target.base, Number(stream));
        viewers.push(v);
        added++;
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return { added, errors: errors.slice(0, 5) };
}

function stats(): ProcessStats {
  const s: ProcessStats = {
    viewers: viewers.length,
    connected: 0,
    packets: 0,
    bytes: 0,
    lost: 0,
    expected: 0,
    silent: 0,
    firstRtpMs: [],
  };
  for (const v of viewers) {
    const c = v.counters;
    if (c.connected) s.connected++;
    s.packets += c.packets;
    s.bytes += c.bytes;
    s.lost += c.lost;
    s.expected += c.expected;
    if (c.packets === 0) s.silent++;
    if (c.firstRtpMs !== null) s.firstRtpMs.push(c.firstRtpMs);
  }
  return s;
}

async function handle(m: ViewerCommand): Promise<unknown> {
  switch (m.cmd) {
    case 'add':
      return add(m.target, m.streams, m.concurrency ?? 4);
    case 'reset':
      for (const v of viewers) v.resetCounters();
      return {};
    case 'stats':
      return stats();
    case 'closeAll':
      await Promise.all(viewers.splice(0).map((v) => v.close()));
      return {};
  }
}

process.on('message', (m: ViewerCommand) => {
  handle(m).then(
    (data) => process.send?.({ id: m.id, ok: true, data }),
    (err: Error) => process.send?.({ id: m.id, ok: false, error: err.message }),
  );
});
// A parent that dies must not leave viewers behind.
process.on('disconnect', () => process.exit(0));
process.on('unhandledRejection', (err) => process.stderr.write(`[viewer process] ${String(err)}\n`));
