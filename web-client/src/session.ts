// Where a page's access token comes from. A token in the address (?token=, kept for the tab in
// sessionStorage) is used as it is, without renewal: embeds and machines. Otherwise the page uses
// the person's sign-in session (an HttpOnly cookie): GET /auth/session hands a short-lived access
// token, fetched again a minute before it expires (and when a sleeping phone wakes or comes back
// online). When access ends (signed out elsewhere, revoked, disabled, expired) one banner says why
// and links to the sign-in page; an ended session is never shown as a camera failure.
import { h, icon, takeToken } from './dom.js';

/** Who is signed in, as GET /auth/session says. */
export interface SessionIdentity {
  sub: string;
  name: string | null;
  role: 'viewer' | 'integrator' | 'operator' | 'admin';
  streams: string[];
  via: 'local' | 'oidc';
  /** unix seconds: when the current access token expires */
  expiresAt: number;
  /** unix seconds: when the session itself ends */
  sessionExpiresAt: number;
}

interface SessionBody extends SessionIdentity {
  token: string;
}

interface ErrorBody {
  error?: { code?: string; reason?: string; message?: string };
}

/** What a page does with its access while it lives. */
interface AccessControl {
  /** Access ended for good (the banner is up). */
  readonly ended: boolean;
  /**
   * The gateway refused the token (E_AUTH_EXPIRED, E_UNAUTHENTICATED, a 401): a session renews at
   * once (onToken follows) or ends (onEnded); a token from the address ends.
   */
  lost(reason?: string | null): void;
  /** A token handed over by the page's host or a script (cctvSetToken, postMessage): access lives again. */
  useToken(token: string): void;
  /** Stops renewing (idempotent). */
  close(): void;
}

export type Access =
  | (AccessControl & { readonly kind: 'token'; readonly token: string })
  | (AccessControl & { readonly kind: 'session'; readonly token: string; readonly identity: SessionIdentity })
  /** No access: redirecting to sign in ('missing'), the banner says why, or sign-in is not offered ('unavailable'). */
  | (AccessControl & { readonly kind: 'none'; readonly token: ''; readonly reason: string });

export interface AccessOptions {
  /** Address parameters takeToken() keeps when it takes ?token= out of the address bar. */
  keep?: string[];
  /** The token the page was handed (the embed's ?token=); default: takeToken(keep) (address, then the tab). */
  token?: string;
  /** A renewed session token: hand it to every GatewayClient (client.setToken) and REST call. */
  onToken?: (token: string) => void | Promise<void>;
  /** Access ended (called once); the banner is already shown. */
  onEnded?: (reason: string) => void;
  /** Never signed in: go to the sign-in page (default). false (an iframe): show the banner instead. */
  redirect?: boolean;
  /** The banner's sign-in link opens a new tab (an iframe: third-party frames get no cookie). */
  newTab?: boolean;
}

/** Renew this long before the token expires. */
export const RENEW_BEFORE_MS = 60_000;
/** ...but never sooner than this from now. */
export const RENEW_MIN_MS = 10_000;
/** A failed renewal (network, 5xx) is tried again after 2 s, doubling to 30 s. */
const RETRY_FIRST_MS = 2000;
const RETRY_MAX_MS = 30_000;
/** On waking or coming online, renew if the token has less than this left. */
const NEAR_EXPIRY_MS = 90_000;
/** More renewals forced by lost() than this within LOST_WINDOW_MS: the gateway keeps refusing; end. */
const LOST_MAX = 3;
const LOST_WINDOW_MS = 30_000;

/** Reasons a session ends, in words (after "Sesi Anda berakhir: "). */
export const END_REASON: Record<string, string> = {
  signed_out: 'Anda keluar di tab lain',
  expired: 'masa sesi habis',
  disabled: 'akun dinonaktifkan',
  revoked: 'sesi dicabut',
  tampered: 'sesi tidak sah',
  missing: 'Anda belum masuk',
};

/** The pseudo-reason of a token from the address that expired or was refused. */
export const TOKEN_ENDED = 'token';

const BANNER_ID = 'session-banner';
const STORED = 'cctv-token';

/** A `next` that stays on this site: a path starting with one `/` (not `//` or `/\`), else `/`. */
export function safeNext(raw: string | null | undefined): string {
  if (!raw?.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return '/';
  // Control characters (a tab or newline inside "/\t/evil") are dropped by URL parsing: refuse them.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
  if (/[\u0000-\u001f\u007f\\]/.test(raw)) return '/';
  return raw;
}

/** This page's path and query without a token: where to come back after signing in. */
export function currentPath(): string {
  const params = new URLSearchParams(location.search);
  params.delete('token');
  const q = params.toString();
  return location.pathname + (q ? `?${q}` : '');
}

/** /login?next=<this page> */
export function signInUrl(): string {
  return `/login?next=${encodeURIComponent(currentPath())}`;
}

/** Ends the session (here, in every tab and on every WebSocket using it), then goes to the sign-in page. */
export async function signOut(): Promise<void> {
  await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin', cache: 'no-store' });
  sessionStorage.removeItem(STORED);
  location.assign(signInUrl());
}

/** The `exp` of a JWT (unix seconds) without verifying it, or null. */
export function tokenExpiry(token: string): number | null {
  try {
    const part = token.split('.')[1];
    if (!part) return null;
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}

/**
 * A token kept for the tab that has expired is dropped (the tab then uses the session): otherwise
 * "Masuk lagi" would come back to the same dead token.
 */
export function liveToken(token: string): string {
  if (!token || new URLSearchParams(location.search).has('token')) return token;
  const exp = tokenExpiry(token);
  if (exp !== null && exp * 1000 < Date.now()) {
    if (sessionStorage.getItem(STORED) === token) sessionStorage.removeItem(STORED);
    return '';
  }
  return token;
}

/** window.cctvAccess: how the page is authorised ('pending' until known), for tests and the console. */
export interface AccessProbe {
  kind: Access['kind'] | 'pending';
  /** the signed-in subject (kind 'session') */
  sub?: string;
}

export function accessProbe(access: Access): AccessProbe {
  return access.kind === 'session' ? { kind: 'session', sub: access.identity.sub } : { kind: access.kind };
}

/** Who is signed in (`data-testid="signed-in-as"`) and the "Keluar" button (`data-testid="sign-out"`). */
export function signOutControl(identity: SessionIdentity): HTMLElement[] {
  const label = h('span', {}, 'Keluar');
  const button = h(
    'button',
    {
      type: 'button',
      class: 'btn ghost sign-out',
      'data-testid': 'sign-out',
      title: 'Keluar dari CCTV (semua tab)',
      onclick: () => {
        button.disabled = true;
        signOut().catch(() => {
          button.disabled = false;
          label.textContent = 'Gagal keluar — coba lagi';
        });
      },
    },
    icon('logout'),
    label,
  );
  const who = h(
    'span',
    { class: 'who-name', 'data-testid': 'signed-in-as', title: `Masuk sebagai ${identity.sub} (${identity.role})` },
    identity.name || identity.sub,
  );
  return [who, button];
}

/** The banner's sentence for an ended access. */
export function endedText(reason: string): string {
  if (reason === TOKEN_ENDED) return 'Token akses berakhir';
  if (reason === 'missing') return 'Anda belum masuk';
  const why = END_REASON[reason];
  return why ? `Sesi Anda berakhir: ${why}` : 'Sesi Anda berakhir';
}

/**
 * The one banner (fixed at the top) saying access ended and why, with "Masuk lagi". Shown once
 * however many players report it. Styled through the CSSOM, so it needs no stylesheet and no
 * inline-style CSP allowance (the embed and other pages do not load theme.css).
 */
export function sessionBanner(reason: string, opts: { newTab?: boolean } = {}): HTMLElement {
  const existing = document.getElementById(BANNER_ID);
  if (existing) return existing;
  const link = h(
    'a',
    { href: signInUrl(), 'data-testid': 'session-signin', target: opts.newTab ? '_blank' : null, rel: 'noopener' },
    reason === 'missing' ? 'Masuk' : 'Masuk lagi',
  );
  const text = h('strong', {}, `${endedText(reason)}.`);
  const bar = h('div', { id: BANNER_ID, role: 'alert', 'data-testid': BANNER_ID, 'data-reason': reason }, text, link);
  Object.assign(bar.style, {
    position: 'fixed',
    zIndex: '2147483000',
    left: '0',
    right: '0',
    top: '0',
    display: 'flex',
    flexWrap: 'wrap',
    alignItems: 'center',
    justifyContent: 'center',
    gap: '.5rem 1rem',
    padding: '.6rem 1rem',
    background: '#2a1f08',
    color: '#ffe6a8',
    borderBottom: '2px solid #f2c55c',
    boxShadow: '0 6px 20px rgba(0,0,0,.5)',
    font: '600 14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif',
    textAlign: 'center',
  });
  Object.assign(link.style, {
    display: 'inline-flex',
    alignItems: 'center',
    minHeight: '2.2rem',
    padding: '0 .9rem',
    borderRadius: '10px',
    background: '#f2c55c',
    color: '#111',
    fontWeight: '700',
    textDecoration: 'none',
  });
  document.body.prepend(bar);
  // The page's own header moves down rather than hiding under the bar.
  document.body.style.paddingTop = `${bar.offsetHeight}px`;
  return bar;
}

/** Takes the banner down (a fresh token was handed over). */
export function clearSessionBanner(): void {
  const bar = document.getElementById(BANNER_ID);
  if (!bar) return;
  bar.remove();
  document.body.style.paddingTop = '';
}

type Fetched =
  | { ok: true; body: SessionBody; ttlMs: number }
  | { ok: false; status: 401; reason: string }
  | { ok: false; status: 404 }
  | { ok: false; status: 0 };

/** One GET /auth/session; the token's life measured on the gateway's clock (its Date header). */
async function fetchSession(): Promise<Fetched> {
  let res: Response;
  try {
    res = await fetch('/auth/session', { credentials: 'same-origin', cache: 'no-store' });
  } catch {
    return { ok: false, status: 0 };
  }
  if (res.status === 401) {
    const body = (await res.json().catch(() => ({}))) as ErrorBody;
    return { ok: false, status: 401, reason: body.error?.reason ?? 'missing' };
  }
  if (res.status === 404) return { ok: false, status: 404 };
  if (!res.ok) return { ok: false, status: 0 };
  const body = (await res.json().catch(() => null)) as SessionBody | null;
  if (!body || typeof body.token !== 'string' || typeof body.expiresAt !== 'number') return { ok: false, status: 0 };
  const date = Date.parse(res.headers.get('date') ?? '');
  const serverNow = Number.isNaN(date) ? Date.now() : date;
  return { ok: true, body, ttlMs: body.expiresAt * 1000 - serverNow };
}

/**
 * The page's access: the token it was handed, else the sign-in session (renewed until it ends).
 * Never signed in: redirects to /login (unless `redirect: false`) and resolves `kind: 'none'`.
 */
export async function startAccess(opts: AccessOptions): Promise<Access> {
  const given = liveToken(opts.token ?? takeToken(opts.keep));
  const keeper = new AccessKeeper(opts);
  if (given) return keeper.asToken(given);
  for (let delay = RETRY_FIRST_MS; ; delay = Math.min(RETRY_MAX_MS, delay * 2)) {
    const r = await fetchSession();
    if (r.ok) return keeper.asSession(r.body, r.ttlMs);
    if (r.status === 404) return keeper.asNone('unavailable');
    if (r.status === 401) {
      if (r.reason === 'missing' && opts.redirect !== false) {
        location.replace(signInUrl());
        return keeper.asNone('missing');
      }
      keeper.end(r.reason);
      return keeper.asNone(r.reason);
    }
    // The gateway is unreachable: try again (the page says "Menghubungkan…" meanwhile).
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** Renewal and the end of access for one page. */
class AccessKeeper {
  token = '';
  identity: SessionIdentity | null = null;
  ended = false;
  #session = false;
  #closed = false;
  /** When the current token expires, on this machine's clock. */
  #deadline = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #retryMs = RETRY_FIRST_MS;
  #inflight: Promise<void> | undefined;
  #lostAt: number[] = [];
  #onWake = () => {
    if (document.visibilityState === 'visible' && this.#deadline - Date.now() < NEAR_EXPIRY_MS) void this.#renew();
  };

  constructor(private readonly opts: AccessOptions) {}

  asToken(token: string): Access {
    this.token = token;
    return this.#view({ kind: 'token' });
  }

  asSession(body: SessionBody, ttlMs: number): Access {
    this.#session = true;
    this.#accept(body, ttlMs);
    document.addEventListener('visibilitychange', this.#onWake);
    window.addEventListener('online', this.#onWake);
    return this.#view({ kind: 'session' });
  }

  asNone(reason: string): Access {
    return this.#view({ kind: 'none', reason });
  }

  #view(fields: { kind: Access['kind']; reason?: string }): Access {
    const self = this;
    return {
      ...fields,
      get token() {
        return self.token;
      },
      get identity() {
        return self.identity;
      },
      get ended() {
        return self.ended;
      },
      lost: (reason) => this.lost(reason),
      useToken: (token) => this.useToken(token),
      close: () => this.close(),
    } as Access;
  }

  #accept(body: SessionBody, ttlMs: number): void {
    const { token, ...identity } = body;
    this.token = token;
    this.identity = identity;
    this.#deadline = Date.now() + ttlMs;
    this.#retryMs = RETRY_FIRST_MS;
    this.#schedule(Math.max(RENEW_MIN_MS, ttlMs - RENEW_BEFORE_MS));
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    if (this.#closed || this.ended) return;
    this.#timer = setTimeout(() => void this.#renew(), ms);
  }

  /** GET /auth/session again (one at a time): a fresh token, the end, or a retry later. */
  #renew(hint?: string | null): Promise<void> {
    if (!this.#session || this.#closed || this.ended) return Promise.resolve();
    this.#inflight ??= (async () => {
      const r = await fetchSession();
      if (this.#closed || this.ended) return;
      if (r.ok) {
        this.#accept(r.body, r.ttlMs);
        try {
          await this.opts.onToken?.(r.body.token);
        } catch {
          // a connection that could not take it reconnects with it (GatewayClient keeps the token)
        }
      } else if (r.status === 401) this.end(r.reason);
      else if (hint && hint !== 'expired' && END_REASON[hint]) {
        // The gateway already said why on the WebSocket; the check could not be made.
        this.end(hint);
      } else {
        // Network or server trouble is not a sign-out: try again, sooner while the token still lives.
        this.#schedule(this.#retryMs);
        this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
      }
    })().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  lost(reason?: string | null): void {
    if (this.ended || this.#closed) return;
    if (!this.#session) {
      // A token from the address: nothing renews it (the host may hand a new one: useToken).
      if (sessionStorage.getItem(STORED) === this.token) sessionStorage.removeItem(STORED);
      this.end(TOKEN_ENDED);
      return;
    }
    if (this.#inflight) return;
    const now = Date.now();
    this.#lostAt = this.#lostAt.filter((t) => now - t < LOST_WINDOW_MS);
    this.#lostAt.push(now);
    if (this.#lostAt.length > LOST_MAX) {
      this.end(reason && END_REASON[reason] ? reason : 'expired');
      return;
    }
    void this.#renew(reason);
  }

  useToken(token: string): void {
    this.token = token;
    if (!this.ended) return;
    this.ended = false;
    clearSessionBanner();
  }

  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.#timer);
    sessionBanner(reason, { newTab: this.opts.newTab });
    this.opts.onEnded?.(reason);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    document.removeEventListener('visibilitychange', this.#onWake);
    window.removeEventListener('online', this.#onWake);
  }
}
