// Receive-side statistics of one video consumer, sampled once a second: codec, resolution, fps,
// bitrate, packet loss and an estimate of the glass-to-glass delay this side can see
// (jitter buffer + decode + half the round trip to the gateway).
import type { types } from 'mediasoup-client';
import { STATS_LABEL as L } from './labels.js';

export interface StatsSnapshot {
  codec: string | null;
  /** H.264 profile-level-id, e.g. 42e01f */
  profile: string | null;
  width: number | null;
  height: number | null;
  fps: number | null;
  bitrateKbps: number | null;
  packetsLost: number;
  /** lost / (received + lost) since the consumer started, in percent */
  lossPercent: number;
  jitterBufferMs: number | null;
  decodeMs: number | null;
  rttMs: number | null;
  /** jitter buffer + decode + RTT/2 */
  delayMs: number | null;
  framesDecoded: number;
}

type Stat = Record<string, unknown> & { type: string; id: string; timestamp: number };

export class StatsSampler {
  #lastBytes = 0;
  #lastAt = 0;
  #consumerId = '';

  async sample(consumer: types.Consumer | undefined): Promise<StatsSnapshot | null> {
    if (!consumer || consumer.closed) return null;
    if (consumer.id !== this.#consumerId) {
      this.#consumerId = consumer.id;
      this.#lastAt = 0;
    }
    const report = await consumer.getStats();
    const all = [...report.values()] as Stat[];
    const inbound = all.find((s) => s.type === 'inbound-rtp' && (s['kind'] ?? s['mediaType']) === 'video');
    if (!inbound) return null;
    const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
    const codec = inbound['codecId'] ? (report.get(inbound['codecId'] as string) as Stat | undefined) : undefined;
    const bytes = num(inbound['bytesReceived']) ?? 0;
    const now = inbound.timestamp;
    const bitrateKbps =
      this.#lastAt && now > this.#lastAt ? ((bytes - this.#lastBytes) * 8) / (now - this.#lastAt) : null;
    this.#lastBytes = bytes;
    this.#lastAt = now;
    const lost = Math.max(0, num(inbound['packetsLost']) ?? 0);
    const received = num(inbound['packetsReceived']) ?? 0;
    const jbDelay = num(inbound['jitterBufferDelay']);
    const jbCount = num(inbound['jitterBufferEmittedCount']);
    const jitterBufferMs = jbDelay !== null && jbCount ? (jbDelay / jbCount) * 1000 : null;
    const decoded = num(inbound['framesDecoded']) ?? 0;
    const decodeTime = num(inbound['totalDecodeTime']);
    const decodeMs = decodeTime !== null && decoded > 0 ? (decodeTime / decoded) * 1000 : null;
    // The selected candidate pair: through the transport stats, else the nominated succeeded one.
    const transport = all.find((s) => s.type === 'transport');
    const pair =
      (transport?.['selectedCandidatePairId']
        ? (report.get(transport['selectedCandidatePairId'] as string) as Stat | undefined)
        : undefined) ?? all.find((s) => s.type === 'candidate-pair' && s['nominated'] && s['state'] === 'succeeded');
    const rtt = num(pair?.['currentRoundTripTime']);
    const rttMs = rtt !== null ? rtt * 1000 : null;
    const delayMs =
      jitterBufferMs !== null ? jitterBufferMs + (decodeMs ?? 0) + (rttMs !== null ? rttMs / 2 : 0) : null;
    const fmtp = (codec?.['sdpFmtpLine'] as string | undefined) ?? '';
    return {
      codec: (codec?.['mimeType'] as string | undefined) ?? null,
      profile: /profile-level-id=([0-9a-f]{6})/i.exec(fmtp)?.[1] ?? null,
      width: num(inbound['frameWidth']),
      height: num(inbound['frameHeight']),
      fps: num(inbound['framesPerSecond']),
      bitrateKbps,
      packetsLost: lost,
      lossPercent: received + lost > 0 ? (lost / (received + lost)) * 100 : 0,
      jitterBufferMs,
      decodeMs,
      rttMs,
      delayMs,
      framesDecoded: decoded,
    };
  }
}

const n0 = new Intl.NumberFormat('id-ID', { maximumFractionDigits: 0 });
const n1 = new Intl.NumberFormat('id-ID', { maximumFractionDigits: 1, minimumFractionDigits: 1 });

/** Rows for the stats overlay: [label, value]. */
export function statsRows(s: StatsSnapshot): [string, string][] {
  const codec = s.codec ? s.codec.replace(/^video\//, '').replace('H264', 'H.264') : '—';
  return [
    [L.codec, s.profile ? `${codec} (${s.profile})` : codec],
    [L.resolution, s.width && s.height ? `${s.width}×${s.height}` : '—'],
    [L.frameRate, s.fps !== null ? `${n0.format(s.fps)} fps` : '—'],
    [L.bitrate, s.bitrateKbps !== null ? `${n0.format(s.bitrateKbps)} kbps` : '—'],
    [L.lost, `${n0.format(s.packetsLost)} (${n1.format(s.lossPercent)} %)`],
    [
      L.delay,
      s.delayMs !== null ? `≈ ${n0.format(s.delayMs)} ms` : s.rttMs !== null ? `RTT ${n0.format(s.rttMs)} ms` : '—',
    ],
  ];
}

/** Explains how the delay is estimated (tooltip). */
export function delayBreakdown(s: StatsSnapshot): string {
  const part = (v: number | null) => (v === null ? '?' : `${n0.format(v)} ms`);
  return `${L.jitterBuffer} ${part(s.jitterBufferMs)} + ${L.decode} ${part(s.decodeMs)} + RTT/2 ${part(s.rttMs === null ? null : s.rttMs / 2)}`;
}
