// REST as clients expect it: RFC 6750 bearer tokens (any case of the scheme, WWW-Authenticate on a
// 401), unknown fields refused and named, a form body 415, malformed JSON 400 with no stack in the
// log; and the token CLI's --help and lifetime bounds.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from './support/stack.js';

const run = promisify(execFile);
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ cameras: [{ id: 'cam-rest', profile: 'baseline', gop: 25 }] });
}, 60_000);
afterAll(() => stack?.close());

const admin = () => stack.token(['*'], 600, 'admin', 'kominfo-admin');
const post = (body: string, type = 'application/json', auth = `Bearer ${admin()}`) =>
  fetch(`${stack.base}/api/tokens`, { method: 'POST', headers: { 'content-type': type, authorization: auth }, body });

describe('REST conventions', () => {
  it('takes the Bearer scheme in any case and says WWW-Authenticate on a 401', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const r = await fetch(`${stack.base}/api/streams`, { headers: { authorization: `${scheme} ${stack.token()}` } });
      expect(r.status, scheme).toBe(200);
    }
    const none = await fetch(`${stack.base}/api/streams`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="cctv-gateway"');
    const bad = await fetch(`${stack.base}/api/streams`, { headers: { authorization: 'Bearer not.a.jwt' } });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('refuses an unknown field by name, a form body with 415, malformed JSON with 400, and logs no stack', async () => {
    const before = stack.logs.length;
    const unknown = await post(JSON.stringify({ sub: 'opd', streams: ['kel-*'], ttlSec: 600, scope: 'all' }));
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({
      error: { code: 'E_BAD_REQUEST', message: 'body: unknown field "scope"' },
    });
    const form = await post('sub=opd&streams=kel-*', 'application/x-www-form-urlencoded');
    expect(form.status).toBe(415);
    expect(((await form.json()) as { error: { code: string } }).error.code).toBe('E_BAD_REQUEST');
    const broken = await post('{"sub": "opd",');
    expect(broken.status).toBe(400);
    const ok = await post(JSON.stringify({ sub: 'opd', streams: ['kel-*'], ttlSec: 600 }));
    expect(ok.status).toBe(200);
    expect(stack.logs.slice(before).filter((l) => l.level >= 50)).toEqual([]);
  });
});

describe('npm run token', () => {
  const token = (...args: string[]) =>
    run('node', ['--import', 'tsx', 'gateway/src/cli/token.ts', ...args]).then(
      (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout, err: e.stderr }),
    );

  it('--help prints the usage and exits 0; a lifetime of 0 or over a year exits non-zero and says why', async () => {
    const help = await token('--help');
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/--streams .*default: \* = every stream/);
    const zero = await token('--sub', 'x', '--ttl', '0');
    expect(zero.code).not.toBe(0);
    expect(zero.err).toMatch(/already have expired|already expired/);
    const long = await token('--sub', 'x', '--ttl', '99999d');
    expect(long.code).not.toBe(0);
    expect(long.err).toMatch(/longer than 365 days/);
    expect((await token('--sub', 'x', '--ttl', '8h')).code).toBe(0);
  }, 30_000);
});
