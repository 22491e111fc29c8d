// Edits the local sign-in accounts file: npm run users -- add walikota --role admin --streams 'kel-*'
// Passwords come from --password-stdin or a no-echo prompt, never from arguments (shell history, ps).
import path from 'node:path';
import readline from 'node:readline/promises';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  type Account,
  addAccount,
  normalizeUsername,
  PASSWORD_LIMITS,
  readAccounts,
  removeAccount,
  resetPassword,
  setDisabled,
  streamsProblem,
  usernameProblem,
} from '../auth/accounts.js';
import { ROLES, type Role } from '../auth/tokens.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const usage = `usage: npm run users -- <command> [options]
  add <username> --role ${ROLES.join('|')} [--streams 'kel-*,kec-*'] [--name "Full Name"]
  reset <username>      set a new password; the account's older sessions end
  disable <username>    refuse sign-in and end the account's sessions
  enable <username>
  remove <username>
  list                  username, name, role, streams, disabled, changedAt (never the hash)
options:
  --file FILE           the accounts file (default: $CCTV_USERS_FILE, else var/users.json in the repo)
  --password-stdin      read the password from stdin (add, reset); else prompt twice when on a terminal
Passwords are ${PASSWORD_LIMITS.minLength} to ${PASSWORD_LIMITS.maxLength} characters. The gateway re-reads the file when it changes: no restart needed.`;

function die(msg: string): never {
  process.stderr.write(`users: ${msg}\n`);
  process.exit(1);
}

const { values: args, positionals } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        role: { type: 'string' },
        streams: { type: 'string' },
        name: { type: 'string' },
        file: { type: 'string' },
        'password-stdin': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return die(`${(err as Error).message} (npm run users -- --help)`);
  }
})();
if (args.help) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}

const [command, username, ...extra] = positionals;
const file = path.resolve(args.file ?? process.env['CCTV_USERS_FILE'] ?? path.join(root, 'var', 'users.json'));
const commands = ['add', 'reset', 'disable', 'enable', 'remove', 'list'];
if (!command) die('a command is required: add, reset, disable, enable, remove or list (npm run users -- --help)');
if (!commands.includes(command)) die(`unknown command "${command}"; one of ${commands.join(', ')}`);
if (command === 'list' ? username !== undefined : username === undefined || extra.length > 0)
  die(command === 'list' ? 'list takes no username' : `usage: npm run users -- ${command} <username> ...`);
if (command !== 'add') {
  for (const opt of ['role', 'streams', 'name'] as const)
    if (args[opt] !== undefined) die(`--${opt} is for add only (to change it, remove and add the account again)`);
}
if (args['password-stdin'] && command !== 'add' && command !== 'reset') die('--password-stdin is for add and reset');

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

async function prompt(question: string): Promise<string> {
  // readline echoes what is typed to its output; give it one that drops everything.
  const muted = new Writable({ write: (_chunk, _enc, done) => done() });
  const rl = readline.createInterface({ input: process.stdin, output: muted, terminal: true });
  rl.on('SIGINT', () => {
    process.stderr.write('\n');
    process.exit(130);
  });
  process.stderr.write(question);
  try {
    return await rl.question('');
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

async function password(): Promise<string> {
  if (args['password-stdin']) return readStdin();
  if (!process.stdin.isTTY) return die('stdin is not a terminal; pipe the password in with --password-stdin');
  const first = await prompt('password: ');
  const again = await prompt('password again: ');
  if (first !== again) die('the two passwords differ; nothing changed');
  return first;
}

const describe = (a: Account) => `${a.username} (${a.role}, streams ${a.streams.join(',')})`;

function list(): void {
  const accounts = readAccounts(file);
  if (accounts.length === 0) {
    process.stdout.write(`no accounts in ${file}\n`);
    return;
  }
  const rows = [
    ['USERNAME', 'NAME', 'ROLE', 'STREAMS', 'DISABLED', 'CHANGED'],
    ...accounts.map((a) => [a.username, a.name ?? '-', a.role, a.streams.join(','), String(a.disabled), a.changedAt]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  for (const r of rows) {
    const line = r.map((c, i) => c.padEnd(widths[i] as number)).join('  ');
    process.stdout.write(`${line.trimEnd()}\n`);
  }
}

async function run(): Promise<string | undefined> {
  const user =
    command === 'list'
      ? ''
      : (normalizeUsername(username as string) ?? die(usernameProblem(username as string) as string));
  const exists = () => readAccounts(file).some((a) => a.username === user);
  switch (command) {
    case 'add': {
      if (!args.role) return die(`--role is required: one of ${ROLES.join(', ')}`);
      if (!ROLES.includes(args.role as Role)) return die(`--role must be one of ${ROLES.join(', ')}`);
      const streams = (args.streams ?? '*')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      // Refuse what can be refused before asking for a password that would then be typed for nothing.
      const problem = streamsProblem(streams);
      if (problem) return die(problem);
      if (exists()) return die(`an account "${user}" already exists in ${file}`);
      const a = await addAccount(file, {
        username: user,
        role: args.role as Role,
        streams,
        password: await password(),
        ...(args.name !== undefined ? { name: args.name } : {}),
      });
      return `added ${describe(a)}`;
    }
    case 'reset': {
      if (!exists()) return die(`no account "${user}" in ${file}`);
      const a = await resetPassword(file, user, await password());
      return `reset the password of ${a.username}; their older sessions end`;
    }
    case 'disable':
      return `disabled ${setDisabled(file, user, true).username}; their sessions end`;
    case 'enable':
      return `enabled ${setDisabled(file, user, false).username}`;
    case 'remove':
      removeAccount(file, user);
      return `removed ${user}`;
    default:
      list();
      return undefined;
  }
}

try {
  const line = await run();
  if (line) process.stdout.write(`${line}\n`);
} catch (err) {
  die((err as Error).message);
}
