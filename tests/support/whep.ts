// WHEP test helpers: offers, requests, the test pages (a plain RTCPeerConnection; the whip-whep
// player bundled with esbuild) and the audit trail.
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import type { AuditRecord } from '../../gateway/src/audit/AuditLog.js';

const FIXTURES = path.resolve('tests/fixtures/whep');

/** A real Chromium 156 offer (recvonly video + audio, BUNDLE): H.264 42e01f on 108, its rtx on 109. */
export const CHROMIUM_OFFER = fs.readFileSync(path.join(FIXTURES, 'chromium-156-offer.sdp'), 'utf8');

/** renumber.js, in Node: each dynamic payload type p → (p - 96 + shift) % 32 + 96. */
export function renumberOffer(sdp: string, shift: number): string {
  const map = (p: number) => (p >= 96 && p <= 127 ? ((p - 96 + shift) % 32) + 96 : p);
  return sdp
    .split('\r\n')
    .map((line) => {
      const m = /^m=(\w+) (\d+) (\S+) (.*)$/.exec(line);
      if (m)
        return `m=${m[1]} ${m[2]} ${m[3]} ${(m[4] as string)
          .split(' ')
          .map((p) => map(Number(p)))
          .join(' ')}`;
      const a = /^a=(rtpmap|fmtp|rtcp-fb):(\d+)(.*)$/.exec(line);
      const out = a ? `a=${a[1]}:${map(Number(a[2]))}${a[3]}` : line;
      return out.replace(/apt=(\d+)/, (_, p) => `apt=${map(Number(p))}`);
    })
    .join('\r\n');
}

/**
 * Shift 12: Chromium's H.264 42e01f and rtx (108/109) land on 120/121, numbers the routers do not use
 * (mediasoup 3.12 gives their H.264 100-103); every other dynamic payload type moves too.
 */
export const OFF_ROUTER_NUMBERS = 12;

export interface WhepReply {
  status: number;
  headers: Headers;
  text: string;
  json?: { error?: { code: string; message: string; reason?: string } };
}

export async function whep(
  url: string,
  init: { method?: string; token?: string; body?: string; type?: string; headers?: Record<string, string> } = {},
): Promise<WhepReply> {
  const res = await fetch(url, {
    method: init.method ?? 'POST',
    headers: {
      ...(init.type !== undefined || init.body !== undefined ? { 'content-type': init.type ?? 'application/sdp' } : {}),
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  const text = await res.text();
  let json: WhepReply['json'];
  try {
    json = JSON.parse(text) as WhepReply['json'];
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, ...(json ? { json } : {}) };
}

/** `status code reason` of a reply, e.g. `403 E_FORBIDDEN_STREAM`, for one-line expectations. */
export const outcome = (r: WhepReply) =>
  `${r.status}${r.json?.error ? ` ${r.json.error.code}${r.json.error.reason ? ` ${r.json.error.reason}` : ''}` : ''}`;

/** The plain page (tests/fixtures/whep/plain.html) with renumber.js inlined. */
export function plainPage(): string {
  return fs
    .readFileSync(path.join(FIXTURES, 'plain.html'), 'utf8')
    .replace('/*RENUMBER*/', fs.readFileSync(path.join(FIXTURES, 'renumber.js'), 'utf8'));
}

/** Where whip-whep 1.2.0 is (a devDependency); WHIP_WHEP_DIR overrides. */
export const WHIP_WHEP_DIR = process.env['WHIP_WHEP_DIR'] ?? path.resolve('node_modules/whip-whep');

/** The whip-whep page: the player's own WHEPClient, bundled by esbuild, and a few lines driving it. */
export async function whipWhepPage(): Promise<string> {
  const out = await build({
    stdin: {
      contents: `import { WHEPClient } from ${JSON.stringify(path.join(WHIP_WHEP_DIR, 'whep.js'))}; window.WHEPClient = WHEPClient;`,
      resolveDir: FIXTURES,
      loader: 'js',
    },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'error',
  });
  const js = out.outputFiles[0]?.text ?? '';
  return fs
    .readFileSync(path.join(FIXTURES, 'whip-whep.html'), 'utf8')
    .replace('/*RENUMBER*/', fs.readFileSync(path.join(FIXTURES, 'renumber.js'), 'utf8'))
    .replace('/*WHIP-WHEP*/', () => js.replaceAll('</script', '<\\/script'));
}

/** The ended views in the audit file as they are on disk now (none when it does not exist yet). */
export const auditRecords = (file: string): AuditRecord[] =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AuditRecord)
        .filter((r) => (r.kind ?? 'view') === 'view')
    : [];
