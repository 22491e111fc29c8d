// The sign-in page (/login?next=<path>): a user name and password when the gateway has local
// accounts, "Masuk dengan <provider>" when it has single sign-on (OIDC), or both. On success the
// session cookie is set (HttpOnly, by the gateway) and the page goes to `next`, which must be a
// path on this site. Works under a strict CSP: no inline script or handler.
import { emblem, h } from './dom.js';
import { CITY, ORG } from './labels.js';
import { safeNext } from './session.js';

interface Methods {
  local: boolean;
  oidc: { label: string } | null;
}

interface SignInError {
  code?: string;
  reason?: string;
  message?: string;
  retryAfterSec?: number;
}

/** "5 menit", "40 detik": how long a locked account waits. */
export function waitText(sec: number): string {
  const s = Math.max(1, Math.ceil(sec));
  return s >= 60 ? `${Math.ceil(s / 60)} menit` : `${s} detik`;
}

/** Why signing in failed, in words (the gateway's reason, also from an OIDC callback's ?error=&reason=). */
export function signInErrorText(e: SignInError): string {
  switch (e.reason) {
    case 'bad_credentials':
      return 'Nama pengguna atau kata sandi salah.';
    case 'disabled':
      return 'Akun ini dinonaktifkan. Hubungi admin Command Center.';
    case 'locked':
      return `Terlalu banyak percobaan gagal. Akun dikunci; coba lagi dalam ${waitText(e.retryAfterSec ?? 60)}.`;
    case 'expired':
      return 'Sesi Anda berakhir: masa sesi habis. Silakan masuk lagi.';
    case 'signed_out':
      return 'Anda sudah keluar. Silakan masuk lagi.';
    case 'revoked':
      return 'Sesi Anda dicabut. Silakan masuk lagi.';
  }
  switch (e.code) {
    case 'E_BAD_REQUEST':
      return 'Isi nama pengguna dan kata sandi.';
    case 'E_LOCKED':
      return `Terlalu banyak percobaan gagal. Akun dikunci; coba lagi dalam ${waitText(e.retryAfterSec ?? 60)}.`;
    case 'E_NETWORK':
      return 'Layanan masuk tidak dapat dihubungi. Periksa jaringan lalu coba lagi.';
  }
  // Unknown codes (e.g. from the identity provider): the code only, never text from the address.
  return `Tidak dapat masuk${e.code ? ` (${e.code}${e.reason ? `: ${e.reason}` : ''})` : ''}. Coba lagi atau hubungi admin Command Center.`;
}

function startLogin(): void {
  const params = new URLSearchParams(location.search);
  const next = safeNext(params.get('next'));
  const root = document.getElementById('login') ?? document.body;

  const error = h('p', { class: 'login-error', role: 'alert', 'data-testid': 'login-error', hidden: true });
  const showError = (text: string) => {
    error.textContent = text;
    error.hidden = !text;
  };
  const body = h('div', { class: 'login-body' }, h('p', { class: 'login-wait' }, 'Memuat cara masuk…'));
  root.replaceChildren(
    h(
      'section',
      { class: 'login-card', 'aria-labelledby': 'login-title' },
      h(
        'div',
        { class: 'brand' },
        emblem(44),
        h('div', { class: 'brand-text' }, h('small', {}, `Pemerintah ${CITY}`), h('b', {}, ORG)),
      ),
      h('h1', { id: 'login-title' }, 'Masuk ke CCTV'),
      h('p', { class: 'login-sub' }, 'Pemantauan CCTV kantor kelurahan & kecamatan.'),
      error,
      body,
    ),
    h('p', { class: 'login-foot' }, `Dinas Komunikasi dan Informatika ${CITY}`),
  );

  // The gateway's OIDC callback comes back here with ?error=<code>&reason=<reason> when it failed.
  const urlError = params.get('error');
  if (urlError) showError(signInErrorText({ code: urlError, reason: params.get('reason') ?? undefined }));

  const form = (): HTMLFormElement => {
    const user = h('input', {
      id: 'login-username',
      name: 'username',
      type: 'text',
      autocomplete: 'username',
      autocapitalize: 'none',
      spellcheck: 'false',
      required: true,
    });
    const pass = h('input', {
      id: 'login-password',
      name: 'password',
      type: 'password',
      autocomplete: 'current-password',
      required: true,
    });
    const submit = h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'login-submit' }, 'Masuk');
    const f = h(
      'form',
      { class: 'login-form', method: 'post', action: '/auth/login', novalidate: true },
      h('label', { for: 'login-username' }, 'Nama pengguna'),
      user,
      h('label', { for: 'login-password' }, 'Kata sandi'),
      pass,
      submit,
    );
    f.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!user.value.trim() || !pass.value) {
        showError(signInErrorText({ code: 'E_BAD_REQUEST' }));
        (user.value.trim() ? pass : user).focus();
        return;
      }
      submit.disabled = true;
      submit.textContent = 'Memeriksa…';
      void signIn(user.value.trim(), pass.value)
        .then((err) => {
          if (!err) {
            // A token kept for this tab would win over the new session: drop it.
            sessionStorage.removeItem('cctv-token');
            location.replace(next);
            return;
          }
          showError(signInErrorText(err));
          pass.value = '';
          pass.focus();
        })
        .finally(() => {
          submit.disabled = false;
          submit.textContent = 'Masuk';
        });
    });
    return f;
  };

  const render = (m: Methods) => {
    const parts: HTMLElement[] = [];
    if (m.local) parts.push(form());
    if (m.oidc) {
      if (m.local) parts.push(h('p', { class: 'login-or' }, h('span', {}, 'atau')));
      parts.push(
        h(
          'a',
          {
            class: 'btn login-oidc',
            'data-testid': 'login-oidc',
            href: `/auth/oidc/start?next=${encodeURIComponent(next)}`,
          },
          `Masuk dengan ${m.oidc.label}`,
        ),
      );
    }
    if (parts.length === 0)
      parts.push(
        h('p', { class: 'login-wait' }, 'Masuk belum diaktifkan di gateway ini. Hubungi admin Command Center.'),
      );
    body.replaceChildren(...parts);
    (body.querySelector('input') as HTMLInputElement | null)?.focus();
  };

  const load = () => {
    fetch('/auth/methods', { credentials: 'same-origin', cache: 'no-store' })
      .then(async (res) => {
        if (!res.ok) throw new Error(String(res.status));
        render((await res.json()) as Methods);
      })
      .catch(() => {
        const again = h('button', { type: 'button', class: 'btn', onclick: () => load() }, 'Coba lagi');
        body.replaceChildren(h('p', { class: 'login-wait' }, 'Layanan masuk tidak dapat dihubungi.'), again);
      });
  };
  load();
}

/** POST /auth/login; null when signed in, else the gateway's error. */
async function signIn(username: string, password: string): Promise<SignInError | null> {
  let res: Response;
  try {
    res = await fetch('/auth/login', {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
  } catch {
    return { code: 'E_NETWORK' };
  }
  if (res.ok) return null;
  const body = (await res.json().catch(() => ({}))) as { error?: SignInError };
  return body.error ?? { code: res.status === 429 ? 'E_LOCKED' : `HTTP ${res.status}` };
}

startLogin();
