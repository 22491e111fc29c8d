// Camera passwords full of URL-special characters, end to end: the real simulator (Basic and
// Digest), cameras configured through parseConfig with the password percent-encoded in the URL and
// as `${NAME}` holding the plain password, on the packet path and through FFmpeg. All of them must
// play to a viewer (werift, no browser); the same password pasted raw must be refused with its
// field; and no form of any password may appear in the gateway's logs, its API answers, /metrics,
// the audit file or any process's command line (FFmpeg's included).
import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CameraProblem, parseConfig } from '../config/load.js';
import { urlSecrets } from '../gateway/src/ingest/secrets.js';
import { CameraSimulator } from '../gateway/src/sim/CameraSimulator.js';
import { WeriftViewer } from '../load-tests/lib/WeriftViewer.js';
import { ffmpegProcesses, gatewayOnSim, type Stack, waitFor } from './support/stack.js';

/** What the brief names, and more: every URL-special character, non-ASCII, quotes and a backslash. */
const BASIC = { user: 'admin', password: "p@ss:w/rd#1%Zq é?[x]!$&'()*+,;=" };
/** gst keys digest credentials by user name alone: a user of its own (with an '@' in it, too). */
const DIGEST = { user: 'op@rator', password: 'D1g@st/#%?[]é "\\<>{}|^`~:Kw' };
/** A camera given a wrong password: its failures are logged and reported, and must not show it either. */
const WRONG = { user: 'admin', password: 'Wr0ng@/#%?Qx é' };

let sim: CameraSimulator;
let stack: Stack;
let problems: CameraProblem[];
const viewers: WeriftViewer[] = [];
const STREAMS: string[] = [];
const enc = encodeURIComponent;

beforeAll(async () => {
  sim = await CameraSimulator.start({
    cameras: [
      { id: 'cam-basic', auth: { method: 'basic' as const, ...BASIC } },
      { id: 'cam-digest', auth: { method: 'digest' as const, ...DIGEST } },
    ].map((c) => ({ ...c, profile: 'baseline' as const, width: 320, height: 180, fps: 15, gop: 15, label: 'creds' })),
  });
  const where = (id: string) => `127.0.0.1:${sim.port}/${id}`;
  const cameras: Record<string, unknown>[] = [];
  for (const [tag, mount, creds, envUser, envPass] of [
    ['b', 'cam-basic', BASIC, 'admin', '${CAM_PASS}'],
    ['d', 'cam-digest', DIGEST, '${CAM_USER_D}', '${CAM_PASS_D}'],
  ] as const) {
    for (const ingest of ['packet', 'ffmpeg'] as const) {
      const urls = {
        enc: `rtsp://${enc(creds.user)}:${enc(creds.password)}@${where(mount)}`,
        env: `rtsp://${envUser}:${envPass}@${where(mount)}`,
      };
      for (const [form, url] of Object.entries(urls)) {
        const id = `${tag}-${form}-${ingest === 'packet' ? 'pkt' : 'ff'}`;
        STREAMS.push(id);
        cameras.push({ id, name: `Kantor ${id}`, main: { url }, alwaysOn: true, ingest });
      }
    }
  }
  // Pasted raw, as the user measured: refused at load, never started.
  cameras.push({
    id: 'raw',
    name: 'Kantor raw',
    main: { url: `rtsp://admin:${BASIC.password}@${where('cam-basic')}` },
  });
  cameras.push({
    id: 'wrong',
    name: 'Kantor wrong',
    main: { url: `rtsp://${WRONG.user}:${enc(WRONG.password)}@${where('cam-basic')}` },
    alwaysOn: true,
    ingest: 'packet',
  });
  const env = { CAM_PASS: BASIC.password, CAM_USER_D: DIGEST.user, CAM_PASS_D: DIGEST.password };
  const loaded = parseConfig({ cameras }, 'test', env);
  problems = loaded.cameraProblems;
  // The cameras as the loader filled them in, into the tests' gateway (which loads them once more).
  stack = await gatewayOnSim(sim, loaded.cameras as unknown as Record<string, unknown>[], { log: { level: 'debug' } });
  await waitFor(
    'every configured camera live',
    () => STREAMS.every((id) => stack.gateway.streams.get(id, 'main').state === 'live'),
    30_000,
  );
}, 60_000);

afterAll(async () => {
  for (const v of viewers) await v.close();
  if (stack) await stack.close();
  else await sim?.stop();
});

/** Every form a password can take (urlSecrets of the URL, encoded or pasted raw) and every 4-character piece of it. */
function formsOf(c: { user: string; password: string }): string[] {
  const pieces = [...c.password];
  const out = new Set([
    ...urlSecrets(`rtsp://${enc(c.user)}:${enc(c.password)}@h/`),
    ...urlSecrets(`rtsp://${c.user}:${c.password}@h/`),
  ]);
  for (let i = 0; i + 4 <= pieces.length; i++) out.add(pieces.slice(i, i + 4).join(''));
  return [...out];
}
const FORMS = [BASIC, DIGEST, WRONG].flatMap(formsOf);

function leaks(where: string, text: string): string[] {
  return FORMS.filter((f) => text.includes(f)).map((f) => `${where}: ${JSON.stringify(f)}`);
}

/** The strings of a parsed JSON value, unescaped, one a line (a JSON text escapes '"' and '\'). */
function strings(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(strings).join('\n');
  if (v && typeof v === 'object')
    return Object.entries(v)
      .map(([k, x]) => `${k}\n${strings(x)}`)
      .join('\n');
  return String(v);
}

describe('camera credentials', () => {
  it('refuses the password pasted raw, with its field, showing no part of it', () => {
    expect(problems.map((p) => [p.id, p.field])).toEqual([['raw', `/cameras/${STREAMS.length}/main/url`]]);
    expect(problems[0]?.reason).toMatch(/must be written %40/);
    expect(leaks('reason', problems[0]?.reason ?? '')).toEqual([]);
    expect(stack.gateway.streams.list().map((s) => s.id)).not.toContain('raw');
  });

  it('plays every camera: Basic and Digest, encoded and ${NAME}, packet path and FFmpeg', async () => {
    const ws = `${stack.base.replace('http', 'ws')}/ws`;
    viewers.push(...(await Promise.all(STREAMS.map((id) => WeriftViewer.gateway(ws, stack.token(), id)))));
    await waitFor('video at every viewer', () => viewers.every((v) => v.counters.packets >= 30), 20_000);
    const got = Object.fromEntries(STREAMS.map((id, i) => [id, viewers[i]?.counters.packets]));
    console.log(`RTP packets per viewer: ${JSON.stringify(got)}`);
    for (const id of STREAMS.filter((s) => s.endsWith('-ff')))
      expect(await ffmpegProcesses(`${id}/main`), id).toHaveLength(1);
    await waitFor(
      'the wrong password refused',
      () => ['error', 'unauthorized'].includes(stack.gateway.streams.get('wrong', 'main').state),
      15_000,
    );
  });

  it('shows no form of any password in logs, API answers, /metrics, the audit file or a command line', async () => {
    for (const v of viewers.splice(0)) await v.close();
    const admin = { authorization: `Bearer ${stack.token(['*'], 600, 'admin', 'kominfo-admin')}` };
    await waitFor(
      'the views in the audit trail',
      async () => {
        const r = await fetch(`${stack.base}/api/audit?limit=1000`, { headers: admin });
        const body = (await r.json()) as { records?: unknown[] };
        return (body.records?.length ?? 0) >= STREAMS.length;
      },
      10_000,
    );
    const found: string[] = [];
    const texts: [string, string][] = [];
    const api = [
      '/api/streams',
      ...[...STREAMS, 'wrong'].map((id) => `/api/streams/${id}`),
      '/api/ops',
      '/api/audit?limit=1000',
    ];
    for (const path of api) {
      const r = await fetch(`${stack.base}${path}`, { headers: admin });
      expect(r.status, path).toBe(200);
      const text = await r.text();
      texts.push([path, text], [`${path} (strings)`, strings(JSON.parse(text))]);
    }
    const wrong = JSON.parse(texts.find(([p]) => p === '/api/streams/wrong')?.[1] ?? '{}') as {
      variants: { state: string; lastError: string | null }[];
    };
    console.log(`the wrong-password camera: ${JSON.stringify(wrong.variants[0])}`);
    const metrics = await (await fetch(`${stack.base}/metrics`)).text();
    expect(metrics).toContain('cctv_');
    texts.push(['/metrics', metrics]);
    const audit = await fs.readFile(stack.config.audit.file, 'utf8');
    expect(audit.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(STREAMS.length);
    texts.push(['audit file', audit]);
    texts.push(['logs', JSON.stringify(stack.logs)], ['logs (strings)', strings(stack.logs)]);
    let processes = 0;
    let ffmpegs = 0;
    for (const d of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      const argv = (await fs.readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
      if (!argv) continue;
      processes++;
      if (/ffmpeg/.test(argv.split(' ')[0] ?? '')) ffmpegs++;
      texts.push([`/proc/${d}/cmdline`, argv]);
    }
    expect(ffmpegs).toBeGreaterThanOrEqual(STREAMS.filter((s) => s.endsWith('-ff')).length);
    for (const [where, text] of texts) found.push(...leaks(where, text));
    // The check itself sees each password in the forms a leak would take.
    for (const c of [BASIC, DIGEST, WRONG]) {
      const basic = `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;
      for (const sample of [`rtsp://${enc(c.user)}:${enc(c.password)}@h/`, basic, JSON.stringify({ p: c.password })])
        expect(leaks('self-check', sample), sample).not.toEqual([]);
    }
    console.log(
      `${FORMS.length} forms of 3 passwords looked for in ${texts.length} texts ` +
        `(${stack.logs.length} log records, ${api.length} API answers, /metrics, the audit file, ${processes} command lines, ${ffmpegs} FFmpeg)`,
    );
    expect(found).toEqual([]);
  });
});
