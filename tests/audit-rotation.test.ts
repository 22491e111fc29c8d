// Rotation and retention of the audit trail: by size and at UTC midnight, each rotated file gzipped,
// the chain continuing across files; one query returns records from three rotated files and the live
// one, in order, with paging; a view open across a rotation is still closed after a crash; files past
// retentionDays are deleted and what stays still verifies.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../gateway/src/audit/AuditLog.js';
import { hmacKey } from '../gateway/src/audit/chain.js';
import { trailFiles } from '../gateway/src/audit/files.js';
import { toCsv } from '../gateway/src/audit/query.js';
import { headPath, readHead, verifyTrail } from '../gateway/src/audit/verify.js';

const key = hmacKey(Buffer.from('rotation-test-key-rotation-test-key'));
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function trailIn(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cctv-audit-${name}-`));
  dirs.push(dir);
  return path.join(dir, 'audit.jsonl');
}

const open = (file: string, now: () => number, extra: Partial<Parameters<typeof AuditLog.create>[0]> = {}) =>
  AuditLog.create({
    file,
    checkpointSec: 3600,
    rotate: { daily: true, maxBytes: 4096 },
    retentionDays: 30,
    required: false,
    signer: key,
    now,
    ...extra,
  });

const view = (i: number, t: number) => ({
  kind: 'view' as const,
  id: `v${i}`,
  sub: `staff-${i % 3}`,
  role: 'operator',
  stream: `kel-${i % 2}`,
  variant: 'main',
  start: new Date(t - 1000).toISOString(),
  end: new Date(t).toISOString(),
  durationMs: 1000,
  client: '10.0.0.1',
  userAgent: 'Chrome',
  endReason: 'closed_by_viewer',
});

async function settled(file: string): Promise<void> {
  // Compression runs in the background: wait until no rotated file is left uncompressed.
  for (let i = 0; i < 100 && trailFiles(file).some((f) => f.rotatedAt !== undefined && !f.gz); i++)
    await new Promise((r) => setTimeout(r, 20));
}

describe('audit rotation', () => {
  it('returns records across three rotated files and the live one in one query, in order', async () => {
    const file = trailIn('rotate');
    let t = Date.parse('2026-11-30T10:00:00Z');
    const log = await open(file, () => t);
    let i = 0;
    while (trailFiles(file).filter((f) => f.rotatedAt !== undefined).length < 3) {
      t += 1000;
      log.append(view(i++, t));
    }
    for (let k = 0; k < 3; k++) {
      t += 1000;
      log.append(view(i++, t));
    }
    await settled(file);
    const files = trailFiles(file);
    console.log(`${i} views: ${files.map((f) => `${path.basename(f.path)} ${fs.statSync(f.path).size} B`).join(', ')}`);
    expect(files.filter((f) => f.gz)).toHaveLength(3);
    const all = await log.query({ kind: 'view', limit: 1000, offset: 0 });
    expect(all.total).toBe(i);
    // Newest first, every view once, the order they were written in.
    expect(all.records.map((r) => r['id'])).toEqual(Array.from({ length: i }, (_, k) => `v${i - 1 - k}`));
    // A page that spans the live file and the newest rotated one, and a filter across all of them.
    const page = await log.query({ kind: 'view', limit: 10, offset: 2 });
    expect(page.records.map((r) => r['id'])).toEqual(Array.from({ length: 10 }, (_, k) => `v${i - 3 - k}`));
    const staff1 = await log.query({ kind: 'view', sub: 'staff-1', stream: 'kel-1', limit: 1000, offset: 0 });
    expect(staff1.total).toBe(Math.floor((i - 1 - 1) / 6) + 1); // i ≡ 1 (mod 3) and (mod 2): i ≡ 1 (mod 6)
    const checkpoints = await log.query({ kind: 'checkpoint', limit: 10, offset: 0 });
    expect(checkpoints.records.filter((r) => r['reason'] === 'rotate')).toHaveLength(3);
    const csv = toCsv(page.records);
    expect(csv.split('\r\n')[0]).toMatch(/^seq,at,kind,sub,role,stream/);
    expect(csv.split('\r\n')[1]).toContain(`,view,staff-`);
    await log.close();
    const report = await verifyTrail(trailFiles(file), [key], {
      head: { path: headPath(file), value: readHead(headPath(file)) as NonNullable<ReturnType<typeof readHead>> },
    });
    expect(report).toMatchObject({ ok: true, files: 4, firstSeq: 1, startsMidway: false });
  });

  it('rotates at UTC midnight, carries open views across, closes them after a crash', async () => {
    const file = trailIn('daily');
    let t = Date.parse('2026-11-30T23:59:00Z');
    const log = await open(file, () => t, { rotate: { daily: true, maxBytes: 64 * 1024 * 1024 } });
    log.append({
      kind: 'view-start',
      id: 'across',
      at: new Date(t).toISOString(),
      sub: 'night-shift',
      role: 'operator',
      stream: 'kel-0',
      variant: 'main',
      client: '10.0.0.2',
      userAgent: 'Chrome',
    });
    t = Date.parse('2026-12-01T00:00:30Z');
    log.checkpoint('interval'); // the first record of the new day rotates
    await settled(file);
    expect(trailFiles(file).filter((f) => f.gz)).toHaveLength(1);
    const first = JSON.parse(fs.readFileSync(file, 'utf8').split('\n')[0] as string);
    expect(first).toMatchObject({ kind: 'file', open: [{ id: 'across', sub: 'night-shift' }] });
    // A "crash": the next gateway opens the trail without this one closing it.
    t = Date.parse('2026-12-01T00:01:00Z');
    const next = await open(file, () => t, { rotate: { daily: true, maxBytes: 64 * 1024 * 1024 } });
    const ended = await next.query({ kind: 'view', limit: 10, offset: 0 });
    expect(ended.records).toEqual([
      expect.objectContaining({
        id: 'across',
        endReason: 'gateway crashed',
        start: '2026-11-30T23:59:00.000Z',
        end: '2026-12-01T00:00:30.000Z',
      }),
    ]);
    await next.close();
    const report = await verifyTrail(trailFiles(file), [key]);
    expect(report.ok).toBe(true);
    await log.close();
  });

  it('deletes rotated files past retentionDays; the rest still verifies', async () => {
    const file = trailIn('retention');
    let t = Date.parse('2026-10-01T10:00:00Z');
    const log = await open(file, () => t, { retentionDays: 30 });
    let i = 0;
    for (let day = 0; day < 40; day++) {
      t += 86_400_000;
      log.append(view(i++, t));
    }
    await settled(file);
    const kept = trailFiles(file).filter((f) => f.rotatedAt !== undefined);
    console.log(`40 daily files, 30 days kept: ${kept.length} rotated files remain`);
    expect(kept.length).toBeGreaterThanOrEqual(29);
    expect(kept.length).toBeLessThanOrEqual(31);
    for (const f of kept) expect(f.rotatedAt).toBeGreaterThanOrEqual(t - 30 * 86_400_000);
    await log.close();
    const report = await verifyTrail(trailFiles(file), [key]);
    expect(report).toMatchObject({ ok: true, startsMidway: true });
  });
});
