// Words shown to people (Bahasa Indonesia) for player states and the gateway's error codes.
import type { PlayerState } from './LivePlayer.js';

export const STATE_LABEL: Record<PlayerState, string> = {
  idle: 'Siaga',
  connecting: 'Menghubungkan…',
  starting: 'Memulai kamera…',
  live: 'Langsung',
  stalled: 'Sinyal tersendat',
  offline: 'Kamera offline',
  busy: 'Kapasitas penuh',
  reconnecting: 'Menyambung ulang…',
  forbidden: 'Akses ditolak',
  error: 'Gangguan',
  stopped: 'Dihentikan',
};

/** A camera's health as the gateway knows it (with or without viewers), in words. */
export const HEALTH_LABEL: Record<'unknown' | 'up' | 'down' | 'unauthorized', string> = {
  unknown: 'Belum diperiksa',
  up: 'Kamera aktif',
  down: 'Kamera offline',
  unauthorized: 'Kata sandi kamera ditolak',
};

/** Codes that mean access ended (session or token), not that a camera failed: shown neutral, never counted offline. */
export const AUTH_ENDED_CODES: ReadonlySet<string> = new Set(['E_AUTH_EXPIRED', 'E_UNAUTHENTICATED']);

export function isAuthEnded(code: string | null | undefined): boolean {
  return !!code && AUTH_ENDED_CODES.has(code);
}

/** The neutral words for a player stopped because access ended. */
export const AUTH_ENDED_LABEL = 'Sesi berakhir';

/** The badge class a state belongs to: live, starting, offline, or neutral. */
export function stateTone(s: PlayerState): 'live' | 'starting' | 'offline' | 'neutral' {
  switch (s) {
    case 'live':
      return 'live';
    case 'connecting':
    case 'starting':
    case 'reconnecting':
    case 'stalled':
      return 'starting';
    case 'offline':
    case 'busy':
    case 'forbidden':
    case 'error':
      return 'offline';
    default:
      return 'neutral';
  }
}

const ERRORS: Record<string, string> = {
  E_FORBIDDEN_STREAM: 'Token akses ini tidak diizinkan menonton kamera ini. Minta akses kepada admin Command Center.',
  E_AUTH_EXPIRED: 'Sesi berakhir: akses sudah kedaluwarsa. Masuk lagi untuk melanjutkan.',
  E_UNAUTHENTICATED: 'Akses tidak ada atau tidak sah. Masuk untuk menonton.',
  E_FORBIDDEN: 'Token ini tidak memiliki izin yang diperlukan.',
  E_STREAM_OFFLINE: 'Kamera tidak dapat dijangkau. Dicoba lagi otomatis.',
  E_NOT_FOUND: 'Kamera ini tidak terdaftar di gateway.',
  E_UNSUPPORTED: 'Peramban ini tidak dapat memutar video kamera ini (perlu H.264).',
  E_LIMIT: 'Terlalu banyak tayangan pada satu koneksi.',
  E_CAPACITY: 'Gateway sedang mencapai batas penonton. Dicoba lagi otomatis.',
  E_NETWORK: 'Gateway tidak terjangkau. Mencoba lagi…',
  E_TIMEOUT: 'Gateway tidak menjawab. Mencoba lagi…',
  E_RATE_LIMITED: 'Terlalu banyak permintaan. Mencoba lagi…',
  E_NO_STREAM: 'Tidak ada kamera yang dipilih.',
  E_ICE_FAILED:
    'Server video tidak terjangkau dari jaringan ini (UDP/TCP diblokir dan relay TURN menolak atau tidak terjangkau). Dicoba lagi otomatis.',
};

const REASONS: Record<string, string> = {
  unauthorized:
    'Kata sandi kamera ditolak: kamera menolak kata sandi gateway. Admin Command Center perlu memperbaiki kredensial kamera.',
  camera: 'Kamera tidak mengirim gambar. Dicoba lagi otomatis.',
  turn_refused: 'Server video tidak terjangkau: relay TURN menolak kredensial (401). Dicoba lagi otomatis.',
  turn_unreachable: 'Server video tidak terjangkau: relay TURN tidak dapat dihubungi. Dicoba lagi otomatis.',
};

/** A sentence for an error code (and the gateway's finer reason), in words; unknown codes fall back to the gateway's message. */
export function errorText(code: string, fallback?: string, reason?: string | null): string {
  return (reason ? REASONS[reason] : undefined) ?? ERRORS[code] ?? fallback ?? 'Terjadi gangguan pada layanan video.';
}

export const CITY = 'Kota Palembang';
export const ORG = 'Command Center Kominfo';

/**
 * Since when, in words and Command Center time (WIB, as the wall's clock): "sejak 08.14" today,
 * "sejak kemarin 22.10", "sejak 3 Des 22.10" before that.
 */
export function sinceText(at: string | number | Date, now: Date = new Date()): string {
  const t = new Date(at);
  if (Number.isNaN(t.getTime())) return '';
  const timeZone = 'Asia/Jakarta';
  const day = (d: Date) => d.toLocaleDateString('en-CA', { timeZone });
  const time = t.toLocaleTimeString('id-ID', { hour: '2-digit', minute: '2-digit', timeZone });
  if (day(t) === day(now)) return `sejak ${time}`;
  // WIB has no daylight saving: a day is 24 hours.
  if (day(t) === day(new Date(now.getTime() - 86_400_000))) return `sejak kemarin ${time}`;
  return `sejak ${t.toLocaleDateString('id-ID', { day: 'numeric', month: 'short', timeZone })} ${time}`;
}

/** A tile showing a still picture (a snapshot) instead of live video. */
export const SNAPSHOT_LABEL = 'Cuplikan';

/** "pukul 08.14.05" in Command Center time (WIB): when a snapshot was taken. */
export function clockText(at: number): string {
  if (!at) return '';
  return `pukul ${new Date(at).toLocaleTimeString('id-ID', { hour: '2-digit', minute: '2-digit', second: '2-digit', timeZone: 'Asia/Jakarta' })}`;
}
