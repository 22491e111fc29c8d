// npm run audit:verify on a trail the AuditLog wrote: it passes untouched, and for each kind of
// tampering (an edited line, a deleted line, a cut tail, a swapped pair, a forged checkpoint) it
// fails with exit 1 and names the first bad line and why. The real CLI, the real key from the env.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../gateway/src/audit/AuditLog.js';
import { checkpointPayload, hmacKey, sealLine } from '../gateway/src/audit/chain.js';

const run = promisify(execFile);
const KEY = `${'k'.repeat(16)}test-audit-key-0123456789`;
let dir: string;
let trail: string;
let lines: string[];

async function writeTrail(file: string): Promise<void> {
  let t = Date.parse('2026-11-30T08:00:00Z');
  const now = () => t;
  const log = await AuditLog.create({
    file,
    checkpointSec: 3600,
    rotate: { daily: false, maxBytes: 64 * 1024 * 1024 },
    retentionDays: 0,
    required: false,
    signer: hmacKey(Buffer.from(KEY)),
    now,
  });
  const who = { role: 'operator', client: '10.20.0.7', userAgent: 'Chrome' };
  for (let i = 0; i < 4; i++) {
    t += 1000;
    const start = new Date(t).toISOString();
    log.append({
      kind: 'view-start',
      id: `v${i}`,
      at: start,
      sub: `staff-${i}`,
      stream: 'kel-sekip',
      variant: 'main',
      ...who,
    });
    await log.record({
      kind: 'signin',
      at: start,
      sub: `staff-${i}`,
      role: 'operator',
      via: 'local',
      result: 'ok',
      client: who.client,
      userAgent: who.userAgent,
    });
    t += 5000;
    log.append({
      kind: 'view',
      id: `v${i}`,
      sub: `staff-${i}`,
      stream: 'kel-sekip',
      variant: 'main',
      start,
      end: new Date(t).toISOString(),
      durationMs: 5000,
      endReason: 'closed_by_viewer',
      ...who,
    });
    log.checkpoint('interval');
  }
  await log.close();
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cctv-audit-verify-'));
  trail = path.join(dir, 'good', 'audit.jsonl');
  await writeTrail(trail);
  lines = fs.readFileSync(trail, 'utf8').trimEnd().split('\n');
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A copy of the good trail (and its signed head) with its lines changed by `tamper`. */
function copy(name: string, tamper: (l: string[]) => string[]): string {
  const file = path.join(dir, name, 'audit.jsonl');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${tamper([...lines]).join('\n')}\n`);
  fs.copyFileSync(`${trail}.head`, `${file}.head`);
  return file;
}

async function verify(file: string): Promise<{ code: number; out: string }> {
  const config = path.join(path.dirname(file), 'config.yaml');
  fs.writeFileSync(config, `audit: { file: ${file} }\ncameras: []\n`);
  try {
    const { stdout } = await run('npx', ['tsx', 'gateway/src/cli/auditVerify.ts', '--config', config], {
      env: { ...process.env, CCTV_AUDIT_KEY: KEY },
    });
    return { code: 0, out: stdout.trim() };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: `${e.stdout}${e.stderr}`.trim() };
  }
}

const lineOf = (pred: (r: Record<string, unknown>) => boolean, from = 0) =>
  lines.findIndex((l, i) => i >= from && pred(JSON.parse(l))) + 1;

describe('npm run audit:verify', () => {
  it('passes an untouched trail', async () => {
    const r = await verify(trail);
    console.log(`untouched (${lines.length} lines): ${r.out}`);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ok: \d+ records in 1 file\(s\), seq 1–\d+; \d+ signed checkpoints; signed head at seq/);
  });

  it('fails on an edited line and names it', async () => {
    const n = lineOf((r) => r['kind'] === 'view' && r['sub'] === 'staff-1');
    const file = copy('edited', (l) => {
      l[n - 1] = (l[n - 1] as string).replace('"sub":"staff-1"', '"sub":"staff-9"');
      return l;
    });
    const r = await verify(file);
    console.log(`edited line ${n}: ${r.out}`);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${file}:${n} (seq ${n}): its hash (h) does not match its content: the line was edited`);
  });

  it('fails on a deleted line and names where it is missing', async () => {
    const n = lineOf((r) => r['kind'] === 'signin' && r['sub'] === 'staff-2');
    const file = copy('deleted', (l) => l.filter((_, i) => i !== n - 1));
    const r = await verify(file);
    console.log(`deleted line ${n}: ${r.out}`);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `${file}:${n} (seq ${n + 1}): seq ${n + 1} where ${n} was due: 1 record(s) before this line are missing (deleted)`,
    );
  });

  it('fails on a truncated tail (the signed head is past the end)', async () => {
    const file = copy('truncated', (l) => l.slice(0, -3));
    const r = await verify(file);
    console.log(`last 3 of ${lines.length} lines cut: ${r.out}`);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${file}:${lines.length - 2}:`);
    expect(r.out).toMatch(/records after line \d+ were cut \(truncated tail\)/);
  });

  it('fails on a reordered pair and names the first of them', async () => {
    const n = lineOf((r) => r['kind'] === 'view-start' && r['id'] === 'v3');
    const file = copy('reordered', (l) => {
      [l[n - 1], l[n]] = [l[n] as string, l[n - 1] as string];
      return l;
    });
    const r = await verify(file);
    console.log(`lines ${n} and ${n + 1} swapped: ${r.out}`);
    expect(r.code).toBe(1);
    expect(r.out).toContain(
      `${file}:${n} (seq ${n + 1}): seq ${n + 1} where ${n} was due, which follows it: records out of order (reordered)`,
    );
  });

  it('fails on a forged checkpoint, even with every hash after it recomputed', async () => {
    const n = lineOf((r) => r['kind'] === 'checkpoint' && r['reason'] === 'interval', 10);
    const forger = hmacKey(Buffer.from('not-the-gateway-key-but-32-chars-long'));
    const file = copy('forged', (l) => {
      // Whoever has no key: a checkpoint claiming the gateway's key id, then the chain rebuilt after it.
      let prev = (JSON.parse(l[n - 2] as string) as { h: string }).h;
      for (let i = n - 1; i < l.length; i++) {
        const { seq, prev: _p, h: _h, ...r } = JSON.parse(l[i] as string) as Record<string, unknown> & { seq: number };
        if (i === n - 1) {
          r['at'] = '2026-11-30T09:00:00.000Z';
          r['sig'] = forger.sign(checkpointPayload(seq, prev, r['at'] as string));
        }
        const sealed = sealLine(r, seq, prev);
        l[i] = sealed.line;
        prev = sealed.h;
      }
      return l;
    });
    const r = await verify(file);
    console.log(`forged checkpoint at line ${n}: ${r.out}`);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${file}:${n} (seq ${n}): the checkpoint signature does not verify`);
  });
});
