// A full disk is an alarm, not a silent loss: the trail on a 64 KiB tmpfs, filled until its appends
// fail; then the metrics and /readyz say so, one log line says why, and with audit.required a new
// view (WHEP) and a token mint are refused with E_UNAVAILABLE `audit_unavailable`. Space freed, the
// records that waited are written, viewing works again and the trail verifies.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trailFiles } from '../gateway/src/audit/files.js';
import { auditKeyFor } from '../gateway/src/audit/key.js';
import { headPath, readHead, verifyTrail } from '../gateway/src/audit/verify.js';
import { type Stack, sleep, startStack } from './support/stack.js';
import { CHROMIUM_OFFER, outcome, whep } from './support/whep.js';

const KEY = 'audit-disk-test-key-0123456789abcdefgh';
let dir: string;
let mounted = false;
let stack: Stack;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cctv-audit-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
  mounted = true;
  stack = await startStack({
    cameras: [{ id: 'cam-a', profile: 'baseline' }],
    config: { audit: { file: path.join(dir, 'audit.jsonl'), required: true, checkpointSec: 0.2, key: KEY } },
  });
});

afterAll(async () => {
  await stack?.close();
  if (mounted) execFileSync('umount', [dir]);
  fs.rmSync(dir, { recursive: true, force: true });
});

const admin = () => stack.token(['*'], 600, 'admin', 'kominfo-admin');
const readyz = async () => {
  const res = await fetch(`${stack.base}/readyz`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; audit: Record<string, unknown> } };
};
const metric = async (name: string) => {
  const text = await (await fetch(`${stack.base}/metrics`, { headers: { authorization: `Bearer ${admin()}` } })).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .join('\n');
};
const view = (sub: string) =>
  whep(`${stack.base}/whep/cam-a`, { token: stack.token(['cam-a'], 600, 'viewer', sub), body: CHROMIUM_OFFER });

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

describe('the audit trail on a full disk', () => {
  it('says so (metric, /readyz, one log line), refuses new views with audit.required, and recovers', async () => {
    expect((await readyz()).body.audit).toMatchObject({ state: 'ok', required: true });
    const before = await view('before-the-disk-filled');
    expect(before.status).toBe(201);
    expect(
      (
        await whep(new URL(before.headers.get('location') ?? '', stack.base).href, {
          method: 'DELETE',
          token: stack.token(['cam-a'], 600, 'viewer', 'before-the-disk-filled'),
        })
      ).status,
    ).toBe(200);

    // Fill what is left of the 64 KiB.
    const filler = path.join(dir, 'filler');
    const fd = fs.openSync(filler, 'w');
    try {
      for (;;) fs.writeSync(fd, Buffer.alloc(4096, 120));
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    fs.closeSync(fd);
    // Checkpoints every 200 ms soon need a page the disk no longer has.
    const down = await waitFor('/readyz to say the trail is degraded', async () => {
      const r = await readyz();
      return r.body.audit['state'] === 'degraded' ? r : undefined;
    });
    console.log(`/readyz on a full disk: ${down.status} ${JSON.stringify(down.body.audit)}`);
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ ready: false, audit: { state: 'degraded', required: true } });
    expect(String(down.body.audit['error'])).toMatch(/ENOSPC/);
    expect(await metric('cctv_audit_degraded ')).toBe('cctv_audit_degraded 1');
    expect(await metric('cctv_audit_write_failures_total{code="ENOSPC"}')).toMatch(/ [1-9]\d*$/);

    const refused = await view('while-the-disk-is-full');
    console.log(`a new view on a full disk: ${outcome(refused)}: ${refused.json?.error?.message}`);
    expect(outcome(refused)).toBe('503 E_UNAVAILABLE audit_unavailable');
    const mint = await fetch(`${stack.base}/api/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'opd-app', streams: ['cam-a'], ttlSec: 600 }),
    });
    const mintBody = (await mint.json()) as { token?: string; error?: { code: string; reason: string } };
    expect(mint.status).toBe(503);
    expect(mintBody.token).toBeUndefined();
    expect(mintBody.error).toMatchObject({ code: 'E_UNAVAILABLE', reason: 'audit_unavailable' });
    await sleep(1500); // more failed retries and checkpoints: still one log line
    const alarms = stack.logs.filter((l) => l.msg === 'audit trail cannot be written');
    expect(alarms).toHaveLength(1);
    expect(alarms[0]?.level).toBe(50);

    fs.unlinkSync(filler);
    const up = await waitFor('/readyz ready again', async () => {
      const r = await readyz();
      return r.status === 200 ? r : undefined;
    });
    expect(up.body.audit).toMatchObject({ state: 'ok', pending: 0 });
    expect(await metric('cctv_audit_degraded ')).toBe('cctv_audit_degraded 0');
    expect(stack.logs.filter((l) => l.msg === 'audit trail is written again')).toHaveLength(1);
    expect((await view('after-space-came-back')).status).toBe(201);

    const records = fs
      .readFileSync(stack.config.audit.file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // The refused view and the refused mint left no record of having happened.
    expect(records.filter((r) => r['sub'] === 'while-the-disk-is-full' && r['kind'] === 'view-start')).toHaveLength(0);
    expect(records.filter((r) => r['kind'] === 'mint')).toHaveLength(0);
    expect(records.filter((r) => r['kind'] === 'view-start').map((r) => r['sub'])).toEqual([
      'before-the-disk-filled',
      'after-space-came-back',
    ]);
    const file = stack.config.audit.file;
    const report = await verifyTrail(trailFiles(file), [auditKeyFor({ key: KEY }).key], {
      head: { path: headPath(file), value: readHead(headPath(file)) as NonNullable<ReturnType<typeof readHead>> },
    });
    console.log(
      `after the disk filled and emptied: ${records.length} records; verify ${report.ok ? 'ok' : JSON.stringify(report.problem)}`,
    );
    expect(report.ok).toBe(true);
  }, 90_000);
});
