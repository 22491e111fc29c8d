// Words shown to people (Bahasa Indonesia) for player states and the gateway's error codes.
import type { PlayerState } from './LivePlayer.js';

export const STATE_LABEL: Record<PlayerState, string> = {
  idle: 'Siaga',
  connecting: 'Menghubungkan…',
  starting: 'Memulai kamera…',
  live: 'Langsung',
  stalled: 'Sinyal tersendat',
  offline: 'Kamera terputus',
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
  down: 'Kamera terputus',
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

/** The browser a user agent string names (for saying what to do), or null when it is not known. */
export function browserOf(ua: string): string | null {
  const known: [RegExp, string][] = [
    [/\bEdg(e|A|iOS)?\//, 'Microsoft Edge'],
    [/\bOPR\/|\bOpera\b/, 'Opera'],
    [/\bSamsungBrowser\//, 'Samsung Internet'],
    [/\bFirefox\/|\bFxiOS\//, 'Firefox'],
    [/\bChromium\//, 'Chromium'],
    [/\bHeadlessChrome\//, 'Chromium (headless)'],
    [/\bChrome\/|\bCriOS\//, 'Google Chrome'],
    [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
  ];
  return known.find(([re]) => re.test(ua))?.[1] ?? null;
}

/** E_UNSUPPORTED in words: which browser cannot decode H.264 here, and what to do about it. */
export function unsupportedText(ua: string): string {
  const browser = browserOf(ua);
  const others = 'Chrome, Edge, Chromium atau Safari';
  if (browser === 'Firefox')
    return `Firefox ini tidak dapat memutar video kamera (H.264). Buka about:addons → Plugin, aktifkan "OpenH264 Video Codec" (Selalu Aktifkan), lalu muat ulang halaman; atau buka di ${others}.`;
  const name = browser ? `Peramban ini (${browser})` : 'Peramban ini';
  return `${name} tidak dapat memutar video kamera (H.264). Perbarui peramban, atau buka di ${others} versi terbaru.`;
}

const ERRORS: Record<string, string> = {
  E_FORBIDDEN_STREAM: 'Token akses ini tidak diizinkan menonton kamera ini. Minta akses kepada admin Command Center.',
  E_AUTH_EXPIRED: 'Sesi berakhir: akses sudah kedaluwarsa. Masuk lagi untuk melanjutkan.',
  E_UNAUTHENTICATED: 'Akses tidak ada atau tidak sah. Masuk untuk menonton.',
  E_FORBIDDEN: 'Token ini tidak memiliki izin yang diperlukan.',
  E_STREAM_OFFLINE: 'Kamera tidak dapat dijangkau. Dicoba lagi otomatis.',
  E_NOT_FOUND: 'Kamera ini tidak terdaftar di gateway.',
  E_UNSUPPORTED: unsupportedText(typeof navigator === 'undefined' ? '' : navigator.userAgent),
  E_FORBIDDEN_ORIGIN:
    'Situs ini tidak diizinkan memutar kamera dari gateway ini. Admin Command Center perlu menambahkan alamat (origin) situs ini ke signaling.allowedOrigins di konfigurasi gateway.',
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

/** A camera's failure (the gateway's free-text reason, operators only) as a short cause in words; null: no reason given. */
export function reasonText(reason: string | null | undefined): string | null {
  if (!reason) return null;
  const r = reason.toLowerCase();
  if (/password|unauthori[sz]ed|\b40[13]\b/.test(r)) return 'kata sandi ditolak';
  if (/refused|econnrefused/.test(r)) return 'sambungan ditolak';
  if (/timed? ?out|timeout|etimedout|no answer/.test(r)) return 'tidak menjawab';
  if (/enotfound|eai_again|getaddrinfo/.test(r)) return 'alamat tidak dikenal';
  if (/unreach|ehostdown|enetdown/.test(r)) return 'jaringan tidak terjangkau';
  if (/reset|econnreset|epipe|closed|ended|eof/.test(r)) return 'sambungan terputus';
  if (/\b404\b|not found/.test(r)) return 'alamat video salah';
  return 'tidak mengirim gambar';
}

/** Words of the wall, the phone view and the ops page (one language: Bahasa Indonesia). */
export const UI = {
  badgeOffline: 'Terputus',
  badgeIdle: 'Siaga',
  badgeStarting: 'Memulai…',
  countLive: 'langsung',
  countOffline: 'terputus',
  countCameras: 'kamera',
  countStills: 'cuplikan',
  fullQuality: 'Kualitas penuh',
  gridLabel: 'Ukuran kisi',
  gridAuto: 'Kisi otomatis',
  gridTitle: 'Berapa kamera per layar (diingat di perangkat ini)',
  sortLabel: 'Urutan',
  sortKecamatan: 'Per kecamatan',
  sortName: 'Menurut nama',
  sortOfflineFirst: 'Terputus dulu',
  groupOffline: 'Kamera terputus',
  groupAll: 'Semua kamera',
  otherGroup: 'Lainnya',
  noReason: 'tidak menjawab',
  cannotPlay: 'Tidak dapat memutar',
  notListed: 'Kamera ini tidak ada dalam daftar akses Anda.',
  opsNow: 'kini',
  opsMinutes: 'menit',
  opsCapacity: 'kapasitas',
  opsEgress: 'keluar Mbps',
  opsWorker: 'proses',
  opsReplaced: 'diganti',
  opsNoContact: 'belum sejak gateway mulai',
  openSingle: 'Buka di tampilan tunggal (ponsel)',
  officeKel: 'Kantor kelurahan',
  officeKec: 'Kantor kecamatan',
  searchOffice: 'Cari kantor',
  searchOfficePlaceholder: 'Cari kantor…',
  snapshotModeTitle: 'Semua kantor sebagai cuplikan yang diperbarui tiap 5 detik; klik kamera untuk menonton langsung',
  snapshotMode: 'Mode cuplikan',
  prevCamera: 'Kamera sebelumnya',
  nextCamera: 'Kamera berikutnya',
  close: 'Tutup',
  phoneView: 'Tampilan ponsel',
  phoneViewTitle: 'Satu kamera per layar, untuk ponsel',
  singleView: 'Tampilan tunggal',
  skipToCameras: 'Lompat ke kamera',
  filterCameras: 'Saring kamera',
  filterByKecamatan: 'Saring menurut kecamatan',
  noMatchWall: 'Tidak ada kamera yang cocok dengan pencarian.',
  all: 'Semua',
  wallSubtitle: 'CCTV kantor kelurahan & kecamatan — pemantauan langsung',
  reconnecting: 'Menyambung ulang…',
  noToken: 'Tidak ada token akses: buka tautan yang diberikan gateway (…/?token=…).',
  wallNotLoaded: 'Dinding kamera tidak dapat dimuat',
  code: 'Kode',
  prevOffice: 'Kantor sebelumnya',
  nextOffice: 'Kantor berikutnya',
  prev: 'Sebelumnya',
  next: 'Berikutnya',
  saver: 'Hemat data',
  stats: 'Statistik',
  searchOfficeOrKec: 'Cari kantor atau kecamatan',
  searchOfficeOrKecPlaceholder: 'Cari kantor atau kecamatan…',
  skipToVideo: 'Lompat ke video',
  allCameras: 'Semua kamera',
  officeList: 'Daftar kantor',
  offices: 'Kantor',
  saverOnSub: 'Hemat data aktif: memutar versi resolusi rendah (SD).',
  saverOnNoSub: 'Hemat data aktif, tetapi kamera ini hanya memiliki satu kualitas.',
  fullWithSub: 'Kualitas penuh (HD). Aktifkan Hemat data untuk versi SD.',
  fullOnly: 'Kualitas penuh.',
  noMatchOffice: 'Tidak ada kantor yang cocok.',
  noCameraAllowed: 'Token ini tidak mengizinkan kamera mana pun.',
  toSignIn: 'Mengalihkan ke halaman masuk…',
  connecting: 'Menghubungkan…',
} as const;

/** The stats overlay's rows and the delay estimate's parts. */
export const STATS_LABEL = {
  codec: 'Kodek',
  resolution: 'Resolusi',
  frameRate: 'Laju gambar',
  bitrate: 'Laju data',
  lost: 'Paket hilang',
  delay: 'Perkiraan tunda',
  jitterBuffer: 'penyangga',
  decode: 'pengodean',
} as const;

/** A variant's name in words: main is the full picture, sub the camera's small one. */
export const VARIANT_LABEL: Record<string, string> = { main: 'utama', sub: 'ringan' };

/** What the gateway does with a variant now (ops page). */
export const INGEST_STATE_LABEL: Record<string, string> = {
  idle: 'tidak ditonton',
  starting: 'memulai',
  live: 'tayang',
  stalled: 'tersendat',
  error: 'gagal',
  unauthorized: 'sandi ditolak',
};

/** A media worker slot's state (ops page): serving is the normal one and not shown. */
export const WORKER_STATE_LABEL: Record<string, string> = {
  starting: 'memulai',
  serving: 'melayani',
  backoff: 'menunggu mulai ulang',
  closed: 'ditutup',
};
