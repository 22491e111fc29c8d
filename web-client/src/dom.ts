// Tiny DOM helpers (no UI framework) and the inline icons the pages share.

type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;
type Child = Node | string | null | undefined | false;

/** h('button', { class: 'x', onclick: fn, 'aria-label': 'Tutup' }, 'text', otherNode) */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** An inline SVG icon (decorative: hidden from assistive technology). */
export function icon(name: keyof typeof ICONS, size = 18): SVGSVGElement {
  const tpl = document.createElement('template');
  tpl.innerHTML = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="${size}" height="${size}" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">${ICONS[name]}</svg>`;
  return tpl.content.firstElementChild as SVGSVGElement;
}

export const ICONS = {
  prev: '<path d="M15 18l-6-6 6-6"/>',
  next: '<path d="M9 18l6-6-6-6"/>',
  close: '<path d="M18 6L6 18M6 6l12 12"/>',
  stats: '<path d="M4 20V10M10 20V4M16 20v-7M22 20H2"/>',
  sound: '<path d="M11 5L6 9H2v6h4l5 4V5z"/><path d="M15.5 8.5a5 5 0 010 7M19 5a10 10 0 010 14"/>',
  mute: '<path d="M11 5L6 9H2v6h4l5 4V5z"/><path d="M23 9l-6 6M17 9l6 6"/>',
  expand: '<path d="M8 3H5a2 2 0 00-2 2v3M21 8V5a2 2 0 00-2-2h-3M3 16v3a2 2 0 002 2h3M16 21h3a2 2 0 002-2v-3"/>',
  grid: '<rect x="3" y="3" width="7" height="7" rx="1"/><rect x="14" y="3" width="7" height="7" rx="1"/><rect x="3" y="14" width="7" height="7" rx="1"/><rect x="14" y="14" width="7" height="7" rx="1"/>',
  search: '<circle cx="11" cy="11" r="7"/><path d="M21 21l-4.3-4.3"/>',
  phone: '<rect x="6" y="2" width="12" height="20" rx="2"/><path d="M11 18h2"/>',
  leaf: '<path d="M2 20h20M6 16V9M18 16V9M12 16V6M4 9l8-5 8 5"/>',
  offline:
    '<path d="M1 1l22 22M16.7 11.1A5 5 0 0119 15M5 12.6a10.9 10.9 0 015.2-2.5M10.7 5.1A16 16 0 0122.6 9M1.4 9a16 16 0 014.3-2.7M8.5 16.1a5 5 0 016.9 0M12 20h.01"/>',
  lock: '<rect x="4" y="11" width="16" height="10" rx="2"/><path d="M8 11V7a4 4 0 018 0v4"/>',
  alert: '<circle cx="12" cy="12" r="9"/><path d="M12 8v5M12 16h.01"/>',
  logout: '<path d="M9 21H5a2 2 0 01-2-2V5a2 2 0 012-2h4M16 17l5-5-5-5M21 12H9"/>',
  saver: '<path d="M3.5 17a9 9 0 1117 0"/><path d="M12 14l4.5-4.5"/><circle cx="12" cy="14" r="1.2"/>',
  image: '<rect x="3" y="4" width="18" height="16" rx="2"/><circle cx="9" cy="10" r="2"/><path d="M21 16l-5-5-9 9"/>',
};

/** The emblem: a stylised Ampera bridge over the Musi under a lens (brand mark, decorative). */
export function emblem(size = 34): SVGSVGElement {
  const tpl = document.createElement('template');
  tpl.innerHTML = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40" width="${size}" height="${size}" aria-hidden="true" focusable="false"><defs><linearGradient id="cg" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#f2c55c"/><stop offset="1" stop-color="#c8891e"/></linearGradient></defs><rect x="1" y="1" width="38" height="38" rx="10" fill="#101b28" stroke="url(#cg)" stroke-width="2"/><path d="M8 27h24" stroke="#f2c55c" stroke-width="2" stroke-linecap="round"/><path d="M13 27V13M27 27V13" stroke="#f2c55c" stroke-width="2.4" stroke-linecap="round"/><path d="M13 16c3 6 11 6 14 0" stroke="#f2c55c" stroke-width="1.6" fill="none"/><path d="M8 31c3-1.5 5-1.5 8 0s5 1.5 8 0 5-1.5 8 0" stroke="#5fb7ff" stroke-width="1.6" fill="none" stroke-linecap="round"/><circle cx="20" cy="11" r="3.2" fill="#5fb7ff"/><circle cx="20" cy="11" r="1.3" fill="#101b28"/></svg>`;
  return tpl.content.firstElementChild as SVGSVGElement;
}

/** Reads ?token= once, keeps it for this tab, and takes it out of the address bar. */
export function takeToken(keep: string[] = ['stream']): string {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get('token');
  if (fromUrl) {
    sessionStorage.setItem('cctv-token', fromUrl);
    const rest = new URLSearchParams();
    for (const k of keep) {
      const v = params.get(k);
      if (v !== null) rest.set(k, v);
    }
    const q = rest.toString();
    history.replaceState(null, '', location.pathname + (q ? `?${q}` : '') + location.hash);
  }
  return fromUrl ?? sessionStorage.getItem('cctv-token') ?? '';
}

export function normalise(s: string): string {
  return s
    .toLowerCase()
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '');
}
