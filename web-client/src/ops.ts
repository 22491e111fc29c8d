// Operators' page: node capacity, per-worker load and per-stream viewers and bitrate, drawn from
// GET /api/ops (the gateway keeps the last 15 minutes, sampled every 10 s) and refreshed live; and
// the cameras that do not answer, watched or not, with why and since when (GET /api/streams).
// Access: ?token= (kept for the tab) or the sign-in session (renewed; "Keluar" in the header).
import type { HealthStatus } from '../../gateway/src/http/app.js';
import {
  HEALTH_LABEL,
  INGEST_STATE_LABEL,
  reasonText,
  sinceText,
  UI,
  VARIANT_LABEL,
  WORKER_STATE_LABEL,
} from './labels.js';
import { type Access, accessProbe, signOutControl, startAccess } from './session.js';

interface Sample {
  t: number;
  capacityUsed: number;
  egressBps: number;
  workers: { index: number; consumers: number; cpuPercent: number }[];
  streams: Record<string, { viewers: number; ingestBps: number; egressBps: number; state: string }>;
}
interface Ops {
  capacity: { used: number; egressBps: number };
  /** Worker slots now: a dead worker is replaced in its slot (state, how often). */
  workers: { index: number; state: string; restarts: number }[];
  intervalMs: number;
  history: Sample[];
}

interface StreamStatus {
  id: string;
  name: string;
  kecamatan?: string;
  variants: { name: string; health?: HealthStatus }[];
}

const COLORS = ['#4fc3f7', '#ffb74d', '#81c784', '#e57373', '#ba68c8', '#fff176', '#4db6ac', '#f06292'];
const $ = (id: string) => document.getElementById(id) as HTMLElement;
/** The page's access (token or session); its token is renewed in place. */
let access: Access | undefined;
const bearer = () => ({ authorization: `Bearer ${access?.token ?? ''}` });

const mbps = (bps: number) =>
  `${(bps / 1e6).toLocaleString('id-ID', { maximumFractionDigits: bps < 1e7 ? 1 : 0, minimumFractionDigits: bps < 1e7 ? 1 : 0 })} Mbps`;
/** The last stream list (GET /api/streams): names and camera health by id. */
let known = new Map<string, StreamStatus>();
/** "Kantor Kelurahan Sekip Jaya" for "kel-sekip-jaya/main" (the id itself until the list is known). */
const officeName = (key: string) => known.get(key.replace(/\/[^/]+$/, ''))?.name ?? key.replace(/\/[^/]+$/, '');
const variantOf = (key: string) => /\/([^/]+)$/.exec(key)?.[1] ?? 'main';

/** A line chart as SVG: one polyline per series over the sample times. */
function chart(
  svg: SVGSVGElement,
  legend: HTMLElement,
  times: number[],
  series: { name: string; values: number[] }[],
  unit: string,
): void {
  const W = 600;
  const H = 180;
  const pad = { l: 40, r: 8, t: 8, b: 18 };
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const max = Math.max(1e-9, ...series.flatMap((s) => s.values)) * 1.1;
  const t0 = times[0] ?? Date.now();
  const t1 = Math.max(t0 + 1, times[times.length - 1] ?? t0 + 1);
  const x = (t: number) => pad.l + ((t - t0) / (t1 - t0)) * (W - pad.l - pad.r);
  const y = (v: number) => H - pad.b - (v / max) * (H - pad.t - pad.b);
  const parts: string[] = [];
  for (const f of [0, 0.5, 1]) {
    parts.push(`<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(max * f)}" y2="${y(max * f)}" stroke="#24313f"/>`);
    parts.push(`<text x="2" y="${y(max * f) + 4}">${(max * f).toFixed(max < 10 ? 1 : 0)}${unit}</text>`);
  }
  parts.push(
    `<text x="${pad.l}" y="${H - 2}">-${Math.round((t1 - t0) / 60000)} ${UI.opsMinutes}</text><text x="${W - 40}" y="${H - 2}">${UI.opsNow}</text>`,
  );
  series.forEach((s, i) => {
    const pts = s.values.map((v, k) => `${x(times[k] ?? t0).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${pts}"/>`);
  });
  svg.innerHTML = parts.join('');
  legend.replaceChildren(
    ...series.map((s, i) => {
      const el = document.createElement('span');
      el.innerHTML = `<i style="background:${COLORS[i % COLORS.length]}"></i>`;
      el.append(`${s.name}: ${(s.values[s.values.length - 1] ?? 0).toFixed(1)}${unit}`);
      return el;
    }),
  );
}

/** "proses 1", with its slot's state when it is not serving and how often it was replaced. */
function workerLabel(index: number, now: Ops['workers'][number] | undefined): string {
  const notes = [
    now && now.state !== 'serving' ? (WORKER_STATE_LABEL[now.state] ?? now.state) : '',
    now?.restarts ? `${now.restarts}× ${UI.opsReplaced}` : '',
  ];
  const extra = notes.filter(Boolean).join(', ');
  return extra ? `${UI.opsWorker} ${index} (${extra})` : `${UI.opsWorker} ${index}`;
}

function render(ops: Ops): void {
  const h = ops.history;
  const last = h[h.length - 1];
  if (!last) return;
  const times = h.map((s) => s.t);
  const streams = Object.entries(last.streams);
  $('k-cap').textContent = `${Math.round(ops.capacity.used * 100)}%`;
  $('k-egress').textContent = mbps(ops.capacity.egressBps);
  $('k-viewers').textContent = String(streams.reduce((n, [, s]) => n + s.viewers, 0));
  // Cameras and their variants counted apart: a camera with a sub stream is one camera, two streams.
  $('k-live').textContent = `${streams.filter(([, s]) => s.state === 'live').length}/${streams.length}`;
  const cams = new Set(streams.map(([k]) => k.replace(/\/[^/]+$/, '')));
  const liveCams = new Set(streams.filter(([, s]) => s.state === 'live').map(([k]) => k.replace(/\/[^/]+$/, '')));
  $('k-cams').textContent = `${liveCams.size}/${cams.size}`;
  chart(
    $('c-node') as unknown as SVGSVGElement,
    $('l-node'),
    times,
    [
      { name: UI.opsCapacity, values: h.map((s) => s.capacityUsed * 100) },
      { name: UI.opsEgress, values: h.map((s) => s.egressBps / 1e6) },
    ],
    '',
  );
  chart(
    $('c-workers') as unknown as SVGSVGElement,
    $('l-workers'),
    times,
    last.workers.map((w) => ({
      name: workerLabel(
        w.index,
        ops.workers.find((x) => x.index === w.index),
      ),
      values: h.map((s) => s.workers.find((x) => x.index === w.index)?.cpuPercent ?? 0),
    })),
    '%',
  );
  const top = streams.sort((a, b) => b[1].viewers - a[1].viewers).slice(0, 8);
  chart(
    $('c-viewers') as unknown as SVGSVGElement,
    $('l-viewers'),
    times,
    top.map(([id]) => ({
      name:
        variantOf(id) === 'main'
          ? officeName(id)
          : `${officeName(id)} (${VARIANT_LABEL[variantOf(id)] ?? variantOf(id)})`,
      values: h.map((s) => s.streams[id]?.viewers ?? 0),
    })),
    '',
  );
  $('t-streams').replaceChildren(
    ...streams
      .sort((a, b) => officeName(a[0]).localeCompare(officeName(b[0]), 'id') || a[0].localeCompare(b[0]))
      .map(([id, s]) => {
        const tr = document.createElement('tr');
        const v = variantOf(id);
        const health = known.get(id.replace(/\/[^/]+$/, ''))?.variants.find((x) => x.name === v)?.health;
        tr.dataset['stream'] = id;
        tr.dataset['health'] = health?.state ?? 'unknown';
        const cells = [
          officeName(id),
          VARIANT_LABEL[v] ?? v,
          health ? HEALTH_LABEL[health.state] : HEALTH_LABEL.unknown,
          INGEST_STATE_LABEL[s.state] ?? s.state,
          String(s.viewers),
          mbps(s.ingestBps),
          mbps(s.egressBps),
        ];
        for (const v of cells) {
          const td = document.createElement('td');
          td.textContent = v;
          tr.append(td);
        }
        return tr;
      }),
  );
}

/** The section listing cameras that are down, made here (first in the page) so ops.html stays as it is. */
function downSection(): { count: HTMLElement; body: HTMLElement; none: HTMLElement } {
  if (!document.getElementById('s-down')) {
    const sec = document.createElement('section');
    sec.id = 's-down';
    sec.setAttribute('aria-labelledby', 'h-down');
    sec.style.gridColumn = '1 / -1';
    sec.innerHTML =
      '<h2 id="h-down">Kamera terputus <b class="big" id="k-down">–</b></h2>' +
      '<p id="n-down" hidden>Semua kamera menjawab.</p>' +
      '<table><thead><tr><th>Kamera</th><th>Kualitas</th><th>Status</th><th>Sebab</th><th>Sejak</th><th>Kontak terakhir</th></tr></thead>' +
      '<tbody id="t-down"></tbody></table>';
    document.querySelector('main')?.prepend(sec);
  }
  return { count: $('k-down'), body: $('t-down'), none: $('n-down') };
}

function renderDown(streams: StreamStatus[]): void {
  const rows = streams
    .flatMap((s) => s.variants.map((v) => ({ s, v: v.name, h: v.health })))
    .filter(
      (r): r is { s: StreamStatus; v: string; h: HealthStatus } =>
        r.h?.state === 'down' || r.h?.state === 'unauthorized',
    )
    // The longest dead first.
    .sort((a, b) => a.h.since.localeCompare(b.h.since) || a.s.id.localeCompare(b.s.id));
  const { count, body, none } = downSection();
  count.textContent = String(new Set(rows.map((r) => r.s.id)).size);
  none.hidden = rows.length > 0;
  body.replaceChildren(
    ...rows.map(({ s, v, h }) => {
      const tr = document.createElement('tr');
      tr.dataset['stream'] = s.id;
      tr.dataset['state'] = h.state;
      // The gateway's own words for operators who read logs (not shown: the table speaks Indonesian).
      if (h.reason) tr.dataset['reason'] = h.reason;
      const cells = [
        s.name,
        VARIANT_LABEL[v] ?? v,
        HEALTH_LABEL[h.state],
        reasonText(h.reason) ?? '',
        sinceText(h.since),
        h.lastContactAt ? sinceText(h.lastContactAt).replace(/^sejak /, '') : UI.opsNoContact,
      ];
      for (const text of cells) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }),
  );
}

async function refreshDown(): Promise<void> {
  const res = await fetch('/api/streams', { headers: bearer() });
  if (!res.ok) return; // /api/ops says why in the error line
  const list = ((await res.json()) as { streams: StreamStatus[] }).streams;
  known = new Map(list.map((s) => [s.id, s]));
  renderDown(list);
}

async function refresh(): Promise<void> {
  if (!access || access.ended) return;
  // The stream list first, so the tables name offices, not ids.
  await refreshDown().catch(() => {});
  const res = await fetch('/api/ops', { headers: bearer() });
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) {
    // The token expired or the session ended: renew (the next refresh uses it) or the banner says why.
    $('error').textContent = '';
    access.lost(body.error?.reason);
    return;
  }
  if (!res.ok) {
    $('error').textContent = `${body.error?.message ?? res.statusText} (${body.error?.code ?? res.status})`;
    return;
  }
  $('error').textContent = '';
  render(body as Ops);
}

/** "Masuk sebagai …" and "Keluar" at the end of the header (ops.html stays as it is). */
function showIdentity(a: Access): void {
  if (a.kind !== 'session') return;
  const who = document.createElement('div');
  who.className = 'who';
  who.style.marginLeft = 'auto';
  who.style.display = 'flex';
  who.style.gap = '.6rem';
  who.style.alignItems = 'center';
  who.append(...signOutControl(a.identity));
  document.querySelector('header')?.append(who);
}

void startAccess({ keep: [], onToken: () => void refresh() }).then((a) => {
  access = a;
  (window as unknown as { cctvAccess: unknown }).cctvAccess = accessProbe(a);
  if (a.kind === 'none') {
    if (a.reason === 'unavailable')
      $('error').textContent = 'Tidak ada token akses: buka …/ops.html?token=… (E_UNAUTHENTICATED)';
    return;
  }
  showIdentity(a);
  void refresh();
  setInterval(() => void refresh(), 10_000);
});
