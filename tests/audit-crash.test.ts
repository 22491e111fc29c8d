// A gateway SIGKILLed with three views open (three WHEP players: werift, a WebRTC stack in Node,
// receiving video) leaves their starts in the trail; the next start closes them as `gateway
// crashed` at the last time the gateway was known alive, within one checkpoint interval of the kill.
// The real entry point (gateway/src/main.ts) as a process; the trail then still verifies.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RTCPeerConnection, RTCRtpCodecParameters } from 'werift';
import { loadConfig } from '../config/load.js';
import type { AuditRecord, ViewStartRecord } from '../gateway/src/audit/AuditLog.js';
import { TokenVerifier } from '../gateway/src/auth/tokens.js';
import { CameraSimulator } from '../gateway/src/sim/CameraSimulator.js';
import { sleep } from './support/stack.js';

const root = path.resolve(import.meta.dirname, '..');
const CHECKPOINT_SEC = 1;
const env = {
  ...process.env,
  CCTV_JWT_SECRET: 'audit-crash-test-secret-0123456789abcdef',
  CCTV_AUDIT_KEY: 'audit-crash-test-audit-key-0123456789ab',
};
let dir: string;
let sim: CameraSimulator;
let configFile: string;
let auditFile: string;
const children: ChildProcess[] = [];

interface Running {
  child: ChildProcess;
  base: string;
  out: () => string;
  exited: Promise<number | null>;
}

async function startGateway(): Promise<Running> {
  const child = spawn(
    'bash',
    ['scripts/env.sh', 'node', '--import', 'tsx', 'gateway/src/main.ts', '--config', configFile],
    {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let out = '';
  for (const s of [child.stdout, child.stderr]) s?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  const until = Date.now() + 45_000;
  for (;;) {
    const m = /"port":(\d+)[^\n]*"gateway listening"/.exec(out);
    if (m) return { child, base: `http://127.0.0.1:${m[1]}`, out: () => out, exited };
    if (Date.now() > until || child.exitCode !== null)
      throw new Error(`the gateway did not start:\n${out.slice(-3000)}`);
    await sleep(100);
  }
}

const trail = () =>
  fs
    .readFileSync(auditFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** A WHEP player: werift offers to receive video, POSTs it, applies the answer. */
async function player(base: string, token: string): Promise<{ pc: RTCPeerConnection; frames: () => number }> {
  const pc = new RTCPeerConnection({
    codecs: {
      video: [
        new RTCRtpCodecParameters({
          mimeType: 'video/H264',
          clockRate: 90000,
          rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
          parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
        }),
      ],
    },
  });
  let packets = 0;
  pc.addTransceiver('video', { direction: 'recvonly' }).onTrack.subscribe((track) =>
    track.onReceiveRtp.subscribe(() => {
      packets++;
    }),
  );
  await pc.setLocalDescription(await pc.createOffer());
  // Every host candidate in the offer (werift gathers before it resolves setLocalDescription).
  const res = await fetch(`${base}/whep/cam-a`, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp', authorization: `Bearer ${token}` },
    body: pc.localDescription?.sdp ?? '',
  });
  const answer = await res.text();
  expect(res.status, answer).toBe(201);
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  return { pc, frames: () => packets };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cctv-audit-crash-'));
  sim = await CameraSimulator.start({ cameras: [{ id: 'cam-a', profile: 'baseline' }] });
  auditFile = path.join(dir, 'audit.jsonl');
  configFile = path.join(dir, 'gateway.yaml');
  fs.writeFileSync(
    configFile,
    [
      'server: { host: 127.0.0.1, port: 0, maxConnectionsPerAddress: 0 }',
      'media: { workers: 1, listenIp: 127.0.0.1, rtcPort: 0 }',
      'log: { level: info }',
      `audit: { file: ${auditFile}, checkpointSec: ${CHECKPOINT_SEC} }`,
      `auth: { accounts: { file: ${path.join(dir, 'users.json')} }, sessions: { revokedFile: ${path.join(dir, 'revoked.jsonl')} } }`,
      'cameras:',
      `  - { id: cam-a, name: Kantor A, main: { url: "${sim.url('cam-a')}" } }`,
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await sim?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a gateway killed with views open', () => {
  it('closes the three views as gateway crashed on the next start, within one checkpoint of the kill', async () => {
    const { config } = loadConfig(configFile, env);
    const verifier = TokenVerifier.fromConfig(config.auth);
    const first = await startGateway();
    const players = [];
    for (const sub of ['staff-ana', 'staff-budi', 'staff-citra'])
      players.push(await player(first.base, verifier.sign({ sub, role: 'viewer', streams: ['cam-a'] }, 600)));
    const starts = trail().filter((r) => r['kind'] === 'view-start') as unknown as ViewStartRecord[];
    expect(starts.map((s) => s.sub)).toEqual(['staff-ana', 'staff-budi', 'staff-citra']);
    // Watching for a few checkpoints; the players receive video meanwhile.
    await sleep(3500);
    console.log(`packets received by the three players before the kill: ${players.map((p) => p.frames()).join(', ')}`);
    const killedAt = Date.now();
    first.child.kill('SIGKILL');
    await first.exited;
    for (const p of players) await p.pc.close();
    expect(trail().filter((r) => r['kind'] === 'view')).toHaveLength(0); // nothing ended them: killed

    const second = await startGateway();
    const ended = trail().filter((r) => r['kind'] === 'view') as unknown as AuditRecord[];
    expect(ended.map((r) => [r.id, r.sub, r.endReason])).toEqual(starts.map((s) => [s.id, s.sub, 'gateway crashed']));
    for (const r of ended) {
      const lag = killedAt - Date.parse(r.end);
      console.log(`${r.sub}: started ${r.start}, ended ${r.end} (${lag} ms before the kill), ${r.durationMs} ms`);
      expect(lag).toBeGreaterThanOrEqual(0);
      // One interval, plus what a busy 2-core machine may delay a timer by.
      expect(lag).toBeLessThanOrEqual(CHECKPOINT_SEC * 1000 + 250);
      expect(r.durationMs).toBe(Date.parse(r.end) - Date.parse(r.start));
      expect(Date.parse(r.end)).toBeGreaterThan(Date.parse(r.start));
    }
    const start = trail().findLast((r) => r['kind'] === 'gateway');
    expect(start).toMatchObject({ event: 'start', crashed: true, recovered: 3 });
    // The REST API shows them too, and the trail (across the crash) still verifies.
    const admin = verifier.sign({ sub: 'auditor', role: 'admin', streams: ['*'] }, 600);
    const res = await fetch(`${second.base}/api/audit?kind=view`, { headers: { authorization: `Bearer ${admin}` } });
    const page = (await res.json()) as { total: number; records: AuditRecord[] };
    expect(page.total).toBe(3);
    expect(page.records.every((r) => r.endReason === 'gateway crashed')).toBe(true);
    const { stdout } = await promisify(execFile)(
      'npx',
      ['tsx', 'gateway/src/cli/auditVerify.ts', '--config', configFile],
      {
        cwd: root,
        env,
      },
    );
    console.log(`audit:verify after the crash: ${stdout.trim()}`);
    expect(stdout).toMatch(/^ok: /);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(trail().at(-1)).toMatchObject({ kind: 'checkpoint', reason: 'stop' });
  }, 120_000);
});
