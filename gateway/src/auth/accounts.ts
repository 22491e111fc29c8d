// Local sign-in accounts for a deployment without an identity provider: a JSON file of scrypt-hashed
// passwords that the gateway re-reads when it changes, per-name lockout kept in memory, and the
// atomic file edits `npm run users` makes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { globsProblem, ROLES, type Role } from './tokens.js';

export interface Account {
  username: string;
  name?: string;
  role: Role;
  streams: string[];
  hash: string;
  disabled: boolean;
  /** ISO time the password or state last changed; sessions issued before it end. */
  changedAt: string;
}

export interface LockoutPolicy {
  maxFailures: number;
  lockoutSec: number;
  lockoutMaxSec: number;
}

export type SignInResult =
  | { ok: true; account: Account }
  | { ok: false; reason: 'bad_credentials' | 'disabled' | 'locked'; retryAfterSec?: number };

/** A request the account rules refuse (bad name, role, streams, password; unknown or existing user). */
export class AccountError extends Error {
  readonly code = 'E_ACCOUNT';
}

export const PASSWORD_LIMITS = { minLength: 10, maxLength: 1024 } as const;
const USERNAME = /^[a-z0-9][a-z0-9._@-]*$/;
const USERNAME_MAX = 64;
const STREAM_GLOB = /^[a-z0-9*][a-z0-9._*-]*$/;
const NAME_MAX = 200;

const scrypt = promisify(crypto.scrypt) as (
  password: crypto.BinaryLike,
  salt: crypto.BinaryLike,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, saltBytes: 16, keyBytes: 32 } as const;
// scrypt needs 128·N·r bytes (32 MiB here); Node's default cap is 32 MiB exactly, which refuses it.
const maxmemFor = (N: number, r: number) => 2 * 128 * N * r;

export async function hashPassword(password: string): Promise<string> {
  const problem = passwordProblem(password);
  if (problem) throw new AccountError(problem);
  const { N, r, p, saltBytes, keyBytes } = SCRYPT;
  const salt = crypto.randomBytes(saltBytes);
  const key = await scrypt(password, salt, keyBytes, { N, r, p, maxmem: maxmemFor(N, r) });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (typeof password !== 'string' || typeof hash !== 'string') return false;
  const parts = hash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map((s) => (/^\d{1,8}$/.test(s) ? Number(s) : 0)) as [number, number, number];
  const [saltText, keyText] = parts.slice(4) as [string, string];
  // Bounds so that a hand-edited file cannot make one sign-in take gigabytes or minutes.
  if (N < 2 || N > 2 ** 20 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  if (!B64URL.test(saltText) || !B64URL.test(keyText)) return false;
  const salt = Buffer.from(saltText, 'base64url');
  const expected = Buffer.from(keyText, 'base64url');
  if (salt.length < 8 || expected.length < 16 || expected.length > 64) return false;
  try {
    const key = await scrypt(password, salt, expected.length, { N, r, p, maxmem: maxmemFor(N, r) });
    return crypto.timingSafeEqual(key, expected);
  } catch {
    return false;
  }
}

/** Which password rule `password` breaks, or undefined. */
export function passwordProblem(password: string): string | undefined {
  if (typeof password !== 'string') return 'the password must be text';
  const length = [...password].length;
  if (length < PASSWORD_LIMITS.minLength)
    return `the password must be at least ${PASSWORD_LIMITS.minLength} characters long`;
  if (length > PASSWORD_LIMITS.maxLength)
    return `the password must be at most ${PASSWORD_LIMITS.maxLength} characters long`;
  return undefined;
}

/** The lower-cased username, or undefined when it breaks the rules (usernameProblem says which). */
export function normalizeUsername(username: string): string | undefined {
  if (typeof username !== 'string') return undefined;
  const u = username.trim().toLowerCase();
  return u.length <= USERNAME_MAX && USERNAME.test(u) ? u : undefined;
}

export function usernameProblem(username: string): string | undefined {
  if (normalizeUsername(username) !== undefined) return undefined;
  if (typeof username !== 'string' || username.trim() === '') return 'a username is required';
  if (username.trim().length > USERNAME_MAX) return `a username is at most ${USERNAME_MAX} characters`;
  return 'a username starts with a letter or digit and has only letters, digits and . _ @ -';
}

export function streamsProblem(streams: readonly string[]): string | undefined {
  if (!Array.isArray(streams) || streams.length === 0) return 'streams needs at least one glob (e.g. * or kel-*)';
  for (const [i, glob] of streams.entries()) {
    if (typeof glob !== 'string' || !STREAM_GLOB.test(glob))
      return `streams/${i} must be lower-case letters, digits, . _ - and * (starting with a letter, digit or *)`;
  }
  return globsProblem(streams);
}

function roleProblem(role: string): string | undefined {
  return ROLES.includes(role as Role) ? undefined : `the role must be one of ${ROLES.join(', ')}`;
}

// ---------------------------------------------------------------------------------------------------
// The file

interface AccountsFile {
  version: 1;
  accounts: Account[];
}

/** Parses and checks the file's text; the messages name fields, never their values (no hashes leak). */
function parseAccounts(text: string): Account[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    // V8's message quotes the text around the error, which may be a hash: keep only the position.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new AccountError(`is not valid JSON${at ? ` (at position ${at})` : ''}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new AccountError('is not a JSON object');
  const { version, accounts } = doc as Record<string, unknown>;
  if (version !== 1) throw new AccountError('has no "version": 1 (the only version this gateway reads)');
  if (!Array.isArray(accounts)) throw new AccountError('has no "accounts" list');
  const seen = new Set<string>();
  return accounts.map((raw, i): Account => {
    const bad = (why: string) => new AccountError(`accounts/${i} ${why}`);
    if (typeof raw !== 'object' || raw === null) throw bad('is not an object');
    const a = raw as Record<string, unknown>;
    if (typeof a['username'] !== 'string' || normalizeUsername(a['username']) !== a['username'])
      throw bad('has a missing or invalid username');
    if (seen.has(a['username'])) throw bad('repeats an earlier username');
    seen.add(a['username']);
    if (a['name'] !== undefined && typeof a['name'] !== 'string') throw bad('has a name that is not text');
    if (typeof a['role'] !== 'string' || roleProblem(a['role'])) throw bad(`role must be one of ${ROLES.join(', ')}`);
    const streams = a['streams'];
    if (!Array.isArray(streams)) throw bad('has no streams list');
    const sp = streamsProblem(streams);
    if (sp) throw bad(sp);
    if (typeof a['hash'] !== 'string' || !a['hash'].startsWith('scrypt$')) throw bad('has no scrypt hash');
    if (typeof a['disabled'] !== 'boolean') throw bad('needs "disabled": true or false');
    if (typeof a['changedAt'] !== 'string' || Number.isNaN(Date.parse(a['changedAt'])))
      throw bad('needs changedAt as an ISO time');
    return {
      username: a['username'],
      ...(a['name'] !== undefined ? { name: a['name'] as string } : {}),
      role: a['role'] as Role,
      streams: streams as string[],
      hash: a['hash'],
      disabled: a['disabled'],
      changedAt: a['changedAt'],
    };
  });
}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/** The accounts in `file`; none when it does not exist. Throws AccountError when it cannot be read. */
export function readAccounts(file: string): Account[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (isMissing(err)) return [];
    throw new AccountError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    return parseAccounts(text);
  } catch (err) {
    throw new AccountError(`${file} ${(err as Error).message}`);
  }
}

/** Temp file beside the target, fsync, rename: a reader (the gateway) sees the old file or the new. */
function writeAccounts(file: string, accounts: Account[]): void {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const doc: AccountsFile = { version: 1, accounts };
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeFileSync(fd, `${JSON.stringify(doc, null, 2)}\n`);
    fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  // So the rename itself survives a power cut; not every platform can fsync a directory.
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {}
}

function mustName(username: string): string {
  const u = normalizeUsername(username);
  if (u === undefined) throw new AccountError(usernameProblem(username) ?? 'invalid username');
  return u;
}

function find(accounts: Account[], username: string, file: string): Account {
  const u = mustName(username);
  const a = accounts.find((x) => x.username === u);
  if (!a) throw new AccountError(`no account "${u}" in ${file}`);
  return a;
}

export async function addAccount(
  file: string,
  a: { username: string; name?: string; role: Role; streams: string[]; password: string },
): Promise<Account> {
  const username = mustName(a.username);
  const name = a.name?.trim();
  if (name !== undefined && name.length > NAME_MAX)
    throw new AccountError(`the name is at most ${NAME_MAX} characters`);
  const problem = roleProblem(a.role) ?? streamsProblem(a.streams) ?? passwordProblem(a.password);
  if (problem) throw new AccountError(problem);
  const exists = (list: Account[]) => list.some((x) => x.username === username);
  if (exists(readAccounts(file))) throw new AccountError(`an account "${username}" already exists in ${file}`);
  const hash = await hashPassword(a.password);
  // Re-read after the slow hash so an edit made meanwhile is kept, not overwritten.
  const accounts = readAccounts(file);
  if (exists(accounts)) throw new AccountError(`an account "${username}" already exists in ${file}`);
  const account: Account = {
    username,
    ...(name ? { name } : {}),
    role: a.role,
    streams: [...a.streams],
    hash,
    disabled: false,
    changedAt: new Date().toISOString(),
  };
  writeAccounts(file, [...accounts, account]);
  return account;
}

export async function resetPassword(file: string, username: string, password: string): Promise<Account> {
  find(readAccounts(file), username, file);
  const hash = await hashPassword(password);
  const accounts = readAccounts(file);
  const a = find(accounts, username, file);
  a.hash = hash;
  a.changedAt = new Date().toISOString();
  writeAccounts(file, accounts);
  return a;
}

/** Disabling ends the account's sessions (sessionStillValid); a no-op when already in that state. */
export function setDisabled(file: string, username: string, disabled: boolean): Account {
  const accounts = readAccounts(file);
  const a = find(accounts, username, file);
  if (a.disabled === disabled) return a;
  a.disabled = disabled;
  a.changedAt = new Date().toISOString();
  writeAccounts(file, accounts);
  return a;
}

export function removeAccount(file: string, username: string): void {
  const accounts = readAccounts(file);
  const a = find(accounts, username, file);
  writeAccounts(
    file,
    accounts.filter((x) => x !== a),
  );
}

// ---------------------------------------------------------------------------------------------------
// Sign-in

// Unknown names are checked against this so they cost one scrypt like real ones (no user enumeration).
const DUMMY_HASH = 'scrypt$32768$8$1$WcceK-fZHjVu5fRxIDAiYA$Hk7iGnmZG1MCT93C6dGdrCBDkpN-krY2wVyQo94jG3o';
const MAX_TRACKED_NAMES = 10_000;
// Names no account can have share one lockout entry, so junk names cannot fill the map with big keys.
const INVALID_NAME_KEY = '\0invalid';

interface Failures {
  /** Consecutive failures since the last lock (or success). */
  count: number;
  /** Locks so far without a success between; the next lock lasts lockoutSec · 2^level. */
  level: number;
  lockedUntil: number;
}

interface FileStamp {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

export class AccountStore {
  private accounts = new Map<string, Account>();
  private stamp: FileStamp | null | undefined; // undefined: not read yet; null: the file does not exist
  private readProblem: string | undefined;
  private readonly failures = new Map<string, Failures>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly file: string,
    private readonly policy: LockoutPolicy,
  ) {}

  /** Why the file is unreadable (the last good copy is in use meanwhile), or undefined. */
  get problem(): string | undefined {
    this.refresh();
    return this.readProblem;
  }

  /** The account as the file says now (re-read when the file's mtime/size changed), or undefined. */
  get(username: string): Account | undefined {
    this.refresh();
    const u = normalizeUsername(username);
    const a = u === undefined ? undefined : this.accounts.get(u);
    return a && { ...a, streams: [...a.streams] };
  }

  async signIn(username: string, password: string, now: number = Date.now()): Promise<SignInResult> {
    const key = normalizeUsername(username) ?? INVALID_NAME_KEY;
    const locked = this.lockedResult(key, now);
    if (locked) return locked;
    // One attempt per name at a time, so parallel guesses cannot all start before the lock falls.
    const run = (this.queues.get(key) ?? Promise.resolve()).then(() => this.attempt(key, password, now));
    const tail = run.then(
      () => {},
      () => {},
    );
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return run;
  }

  private async attempt(key: string, password: string, now: number): Promise<SignInResult> {
    const locked = this.lockedResult(key, now);
    if (locked) return locked;
    const account = key === INVALID_NAME_KEY ? undefined : this.get(key);
    // Too long a password still costs one scrypt (of nothing), not one over megabytes of input.
    const usable = typeof password === 'string' && password.length <= PASSWORD_LIMITS.maxLength * 2;
    const right = await verifyPassword(usable ? password : '', account?.hash ?? DUMMY_HASH);
    if (!account || !right || !usable) {
      this.fail(key, now);
      return { ok: false, reason: 'bad_credentials' };
    }
    if (account.disabled) return { ok: false, reason: 'disabled' };
    this.failures.delete(key);
    return { ok: true, account };
  }

  private lockedResult(key: string, now: number): SignInResult | undefined {
    const f = this.failures.get(key);
    if (!f || f.lockedUntil <= now) return undefined;
    return { ok: false, reason: 'locked', retryAfterSec: Math.ceil((f.lockedUntil - now) / 1000) };
  }

  private fail(key: string, now: number): void {
    const f = this.failures.get(key) ?? { count: 0, level: 0, lockedUntil: 0 };
    this.failures.delete(key); // re-inserted below, so the map's order is least recently failed first
    f.count++;
    if (f.count >= this.policy.maxFailures) {
      const sec = Math.min(this.policy.lockoutSec * 2 ** f.level, this.policy.lockoutMaxSec);
      f.lockedUntil = now + sec * 1000;
      f.level++;
      f.count = 0;
    }
    if (this.failures.size >= MAX_TRACKED_NAMES) this.evict(now);
    this.failures.set(key, f);
  }

  /** Drops the oldest entry not locked now (a flood of names must not free a locked one), else the oldest. */
  private evict(now: number): void {
    for (const [k, f] of this.failures) {
      if (f.lockedUntil <= now) {
        this.failures.delete(k);
        return;
      }
    }
    const oldest = this.failures.keys().next();
    if (!oldest.done) this.failures.delete(oldest.value);
  }

  private refresh(): void {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
    } catch (err) {
      if (isMissing(err)) {
        if (this.stamp !== null) this.accounts = new Map();
        this.stamp = null;
        this.readProblem = undefined;
      } else {
        this.readProblem = `cannot read ${this.file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`;
      }
      return;
    }
    // The inode is in the stamp because each edit renames a new file in, even within one mtime tick.
    const stamp = { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
    const s = this.stamp;
    if (s && s.ino === stamp.ino && s.size === stamp.size && s.mtimeMs === stamp.mtimeMs && s.ctimeMs === stamp.ctimeMs)
      return;
    this.stamp = stamp;
    try {
      this.accounts = new Map(readAccounts(this.file).map((a) => [a.username, a]));
      this.readProblem = undefined;
    } catch (err) {
      this.readProblem = (err as Error).message;
    }
  }
}

/** False once the account is gone, disabled, or its password or state changed after the session began. */
export function sessionStillValid(store: AccountStore, username: string, issuedAtMs: number): boolean {
  const a = store.get(username);
  return !!a && !a.disabled && Date.parse(a.changedAt) <= issuedAtMs;
}
