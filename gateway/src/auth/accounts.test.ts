// Local accounts against real files and real scrypt (each hash or verify ~100 ms, so counts stay small).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AccountStore,
  addAccount,
  hashPassword,
  type LockoutPolicy,
  readAccounts,
  removeAccount,
  resetPassword,
  type SignInResult,
  sessionStillValid,
  setDisabled,
  verifyPassword,
} from './accounts.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const PW = 'correct horse battery';
const PW2 = 'another good passphrase';
const policy: LockoutPolicy = { maxFailures: 5, lockoutSec: 60, lockoutMaxSec: 300 };
const T0 = Date.parse('2026-12-01T08:00:00Z');
const sec = (s: number) => T0 + s * 1000;

let dir: string;
let file: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'accounts-'));
  file = path.join(dir, 'var', 'users.json');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const outcome = (r: SignInResult) => (r.ok ? 'ok' : r.reason);
const viewer = (username = 'lurah', password = PW) =>
  addAccount(file, { username, role: 'viewer', streams: ['kel-*'], password });

describe('password hashes', () => {
  it('verify the password they were made from and no other', async () => {
    const hash = await hashPassword(PW);
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await verifyPassword(PW, hash)).toBe(true);
    expect(await verifyPassword(`${PW} `, hash)).toBe(false);
  });

  it('verify false, never throw, on a malformed hash', async () => {
    const good = 'scrypt$32768$8$1$WcceK-fZHjVu5fRxIDAiYA$Hk7iGnmZG1MCT93C6dGdrCBDkpN-krY2wVyQo94jG3o';
    for (const bad of [
      '',
      'scrypt',
      'bcrypt$32768$8$1$WcceK-fZHjVu5fRxIDAiYA$Hk7iGnmZG1MCT93C6dGdrCBDkpN-krY2wVyQo94jG3o',
      good.replace('$32768$', '$30000$'), // N not a power of two
      good.replace('$32768$', '$1073741824$'), // N beyond the bound
      good.replace('$8$1$', '$0$1$'),
      good.replace('WcceK-fZHjVu5fRxIDAiYA', 'not base64!'),
      `${good.slice(0, good.lastIndexOf('$'))}$c2hvcnQ`, // 5-byte key
      `${good}$extra`,
    ]) {
      expect(await verifyPassword(PW, bad), bad).toBe(false);
    }
    expect(await verifyPassword(undefined as unknown as string, good)).toBe(false);
  });

  it('refuse a password too short or too long, naming the rule', async () => {
    await expect(hashPassword('short')).rejects.toThrow(/at least 10 characters/);
    await expect(hashPassword('x'.repeat(1025))).rejects.toThrow(/at most 1024 characters/);
  });
});

describe('account file edits', () => {
  it('add, refuse a duplicate, reset, disable, enable, remove', async () => {
    expect(readAccounts(file)).toEqual([]); // no file yet: no accounts
    const added = await addAccount(file, {
      username: 'WaliKota',
      name: 'Bu Wali',
      role: 'admin',
      streams: ['*'],
      password: PW,
    });
    expect(added).toMatchObject({
      username: 'walikota',
      name: 'Bu Wali',
      role: 'admin',
      streams: ['*'],
      disabled: false,
    });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['users.json']); // no temp file left behind
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toMatchObject({
      version: 1,
      accounts: [{ username: 'walikota' }],
    });
    await expect(
      addAccount(file, { username: 'walikota', role: 'viewer', streams: ['*'], password: PW }),
    ).rejects.toThrow(/already exists/);

    await new Promise((r) => setTimeout(r, 5));
    const reset = await resetPassword(file, 'walikota', PW2);
    expect(reset.hash).not.toBe(added.hash);
    expect(Date.parse(reset.changedAt)).toBeGreaterThan(Date.parse(added.changedAt));
    expect(readAccounts(file)[0]?.hash).toBe(reset.hash);

    expect(setDisabled(file, 'walikota', true).disabled).toBe(true);
    expect(readAccounts(file)[0]?.disabled).toBe(true);
    expect(setDisabled(file, 'walikota', false).disabled).toBe(false);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);

    removeAccount(file, 'walikota');
    expect(readAccounts(file)).toEqual([]);
    expect(() => removeAccount(file, 'walikota')).toThrow(/no account "walikota"/);
    await expect(resetPassword(file, 'nobody', PW)).rejects.toThrow(/no account "nobody"/);
    expect(() => setDisabled(file, 'nobody', true)).toThrow(/no account/);
  });

  it('refuse a bad username, role, streams or password before writing anything', async () => {
    const base = { username: 'camat', role: 'viewer' as const, streams: ['kec-*'], password: PW };
    await expect(addAccount(file, { ...base, username: '-camat' })).rejects.toThrow(/starts with a letter or digit/);
    await expect(addAccount(file, { ...base, username: 'a'.repeat(65) })).rejects.toThrow(/at most 64/);
    await expect(addAccount(file, { ...base, role: 'root' as 'admin' })).rejects.toThrow(/role must be one of/);
    await expect(addAccount(file, { ...base, streams: [] })).rejects.toThrow(/at least one glob/);
    await expect(addAccount(file, { ...base, streams: ['Kel-*'] })).rejects.toThrow(/streams\/0/);
    await expect(addAccount(file, { ...base, streams: ['*-*-*-*-*-*-*-*-*'] })).rejects.toThrow(/9 wildcards/);
    await expect(addAccount(file, { ...base, password: 'nine char' })).rejects.toThrow(/at least 10 characters/);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('refuse to edit a file that does not parse, without quoting it', async () => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '{"version":1,"accounts":[{"hash":"scrypt$secret-ish"');
    expect(() => readAccounts(file)).toThrow(/is not valid JSON/);
    expect(() => readAccounts(file)).not.toThrow(/secret-ish/);
    expect(() => setDisabled(file, 'x', true)).toThrow(/is not valid JSON/);
  });
});

describe('AccountStore.signIn', () => {
  it('signs in with the right password, refuses a wrong one, reveals disabled only to the right one', async () => {
    await viewer();
    const store = new AccountStore(file, policy);
    const ok = await store.signIn('Lurah', PW);
    expect(ok).toMatchObject({ ok: true, account: { username: 'lurah', role: 'viewer', streams: ['kel-*'] } });
    expect(await store.signIn('lurah', PW2)).toEqual({ ok: false, reason: 'bad_credentials' });
    expect(await store.signIn('nobody', PW)).toEqual({ ok: false, reason: 'bad_credentials' });
    setDisabled(file, 'lurah', true);
    expect(await store.signIn('lurah', PW)).toEqual({ ok: false, reason: 'disabled' });
    expect(await store.signIn('lurah', PW2)).toEqual({ ok: false, reason: 'bad_credentials' });
  });

  it('locks a name after maxFailures, without extending the lock, and a success resets the count', async () => {
    await viewer();
    const store = new AccountStore(file, policy);
    for (let i = 0; i < 5; i++) expect(outcome(await store.signIn('lurah', PW2, sec(i)))).toBe('bad_credentials');
    expect(await store.signIn('lurah', PW, sec(4))).toEqual({ ok: false, reason: 'locked', retryAfterSec: 60 });
    expect(await store.signIn('lurah', PW, sec(33.5))).toEqual({ ok: false, reason: 'locked', retryAfterSec: 31 });
    const t = performance.now();
    await store.signIn('lurah', PW2, sec(50));
    expect(performance.now() - t).toBeLessThan(40); // refused at once: no scrypt while locked
    expect((await store.signIn('lurah', PW, sec(64))).ok).toBe(true);
    // The success reset the count: four more failures do not lock.
    for (let i = 0; i < 4; i++) await store.signIn('lurah', PW2, sec(70 + i));
    expect((await store.signIn('lurah', PW, sec(75))).ok).toBe(true);
  });

  it('doubles each further lock up to lockoutMaxSec, until a success', async () => {
    await viewer();
    const store = new AccountStore(file, { maxFailures: 2, lockoutSec: 60, lockoutMaxSec: 200 });
    const lockAt = async (s: number) => {
      await store.signIn('lurah', PW2, sec(s));
      await store.signIn('lurah', PW2, sec(s));
      return store.signIn('lurah', PW, sec(s));
    };
    expect(await lockAt(0)).toMatchObject({ reason: 'locked', retryAfterSec: 60 });
    expect(await lockAt(61)).toMatchObject({ reason: 'locked', retryAfterSec: 120 });
    expect(await lockAt(182)).toMatchObject({ reason: 'locked', retryAfterSec: 200 });
    expect((await store.signIn('lurah', PW, sec(383))).ok).toBe(true);
    expect(await lockAt(384)).toMatchObject({ reason: 'locked', retryAfterSec: 60 });
  });

  it('locks an unknown name the same way, so a lock does not tell that the name exists', async () => {
    const store = new AccountStore(file, { ...policy, maxFailures: 3 });
    for (let i = 0; i < 3; i++)
      expect(await store.signIn('ghost', PW, sec(i))).toEqual({ ok: false, reason: 'bad_credentials' });
    expect(await store.signIn('ghost', PW, sec(3))).toEqual({ ok: false, reason: 'locked', retryAfterSec: 59 });
  });

  it('counts parallel guesses one by one, so they cannot all start before the lock', async () => {
    await viewer();
    const store = new AccountStore(file, { ...policy, maxFailures: 3 });
    const results = await Promise.all(Array.from({ length: 8 }, () => store.signIn('lurah', PW2, sec(0))));
    expect(results.filter((r) => outcome(r) === 'bad_credentials')).toHaveLength(3);
    expect(results.filter((r) => outcome(r) === 'locked')).toHaveLength(5);
  });

  it('picks up edits to the file without a new instance, and keeps the last good copy of a broken file', async () => {
    const store = new AccountStore(file, policy);
    expect(store.get('lurah')).toBeUndefined();
    expect(store.problem).toBeUndefined();
    await viewer();
    expect(store.get('LURAH')?.role).toBe('viewer');
    await resetPassword(file, 'lurah', PW2);
    expect((await store.signIn('lurah', PW)).ok).toBe(false);
    expect((await store.signIn('lurah', PW2)).ok).toBe(true);

    const good = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, good.replace('"version": 1', '"version": 1,,'));
    expect(store.get('lurah')?.username).toBe('lurah');
    expect(store.problem).toMatch(/is not valid JSON/);
    expect(store.problem).not.toMatch(/scrypt/);
    fs.writeFileSync(file, good.replace('"viewer"', '"emperor"'));
    expect(store.problem).toMatch(/accounts\/0 role must be one of/);
    fs.writeFileSync(file, good);
    expect(store.problem).toBeUndefined();

    removeAccount(file, 'lurah');
    expect(store.get('lurah')).toBeUndefined();
    fs.rmSync(file);
    expect(store.get('lurah')).toBeUndefined();
    expect(store.problem).toBeUndefined();
  });
});

describe('sessionStillValid', () => {
  it('ends sessions older than a reset or disable, and those of a removed account', async () => {
    const store = new AccountStore(file, policy);
    await viewer();
    const before = Date.now();
    expect(sessionStillValid(store, 'lurah', before)).toBe(true);
    await new Promise((r) => setTimeout(r, 5));
    await resetPassword(file, 'lurah', PW2);
    expect(sessionStillValid(store, 'lurah', before)).toBe(false);
    const afterReset = Date.now();
    expect(sessionStillValid(store, 'lurah', afterReset)).toBe(true);
    await new Promise((r) => setTimeout(r, 5));
    setDisabled(file, 'lurah', true);
    expect(sessionStillValid(store, 'lurah', afterReset)).toBe(false);
    expect(sessionStillValid(store, 'lurah', Date.now())).toBe(false);
    setDisabled(file, 'lurah', false);
    expect(sessionStillValid(store, 'lurah', afterReset)).toBe(false); // enabling does not revive old sessions
    expect(sessionStillValid(store, 'lurah', Date.now())).toBe(true);
    removeAccount(file, 'lurah');
    expect(sessionStillValid(store, 'lurah', Date.now())).toBe(false);
  });
});

describe('npm run users', () => {
  const cli = (args: string[], input = '') =>
    spawnSync(process.execPath, ['--import', 'tsx', 'gateway/src/cli/users.ts', ...args, '--file', file], {
      cwd: root,
      input,
      encoding: 'utf8',
    });

  it('adds an account the gateway can sign in with, and lists it without the hash', async () => {
    const add = cli(['add', 'Walikota', '--role', 'admin', '--name', 'Bu Wali', '--password-stdin'], `${PW}\n`);
    expect(add.stderr).toBe('');
    expect(add.stdout).toBe('added walikota (admin, streams *)\n');
    expect(add.status).toBe(0);
    const signIn = await new AccountStore(file, policy).signIn('walikota', PW);
    expect(signIn).toMatchObject({ ok: true, account: { role: 'admin', name: 'Bu Wali', streams: ['*'] } });

    const list = cli(['list']);
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/walikota\s+Bu Wali\s+admin\s+\*\s+false\s+\d{4}-\d\d-\d\dT/);
    expect(list.stdout).not.toMatch(/scrypt/);
  });

  it('refuses a short password, naming the rule, and writes nothing', () => {
    const add = cli(['add', 'lurah', '--role', 'viewer', '--password-stdin'], 'short\n');
    expect(add.status).toBe(1);
    expect(add.stderr).toMatch(/^users: the password must be at least 10 characters long\n$/);
    expect(add.stdout).toBe('');
    expect(fs.existsSync(file)).toBe(false);
  });
});
