// REST as clients expect it: RFC 6750 bearer tokens (any case of the scheme, WWW-Authenticate on a
// 401), unknown fields refused and named, a form body 415, malformed JSON 400, an oversized body 413,
// each with the shared error body and no stack in the log; the OpenAPI document (valid, every /api
// route of the running app) and its page under the CSP; pages never stored, the player compressed;
// and the token CLI's --help and lifetime bounds.
import { execFile } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.js';
import { type LogRecord, type Stack, startStack } from './support/stack.js';

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
    // WHEP reads the same header: a good token in lowercase gets past it (to the offer, which is no SDP), a bad one does not.
    const whep = (auth: string) =>
      fetch(`${stack.base}/whep/cam-rest`, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp', authorization: auth },
        body: 'not an offer',
      });
    const good = await whep(`bearer ${stack.token()}`);
    expect(good.status).toBe(400);
    expect(((await good.json()) as { error: { code: string } }).error.code).toBe('E_BAD_REQUEST');
    expect((await whep('bearer not.a.jwt')).status).toBe(401);
  });

  it('refuses an unknown field by name, a form body with 415, malformed JSON with 400, an oversized body with 413, and logs no stack', async () => {
    const before = stack.logs.length;
    const refusals: [string, Response, number, string, RegExp][] = [
      [
        'unknown field',
        await post(JSON.stringify({ sub: 'opd', streams: ['kel-*'], ttlSec: 600, scope: 'all' })),
        400,
        'E_BAD_REQUEST',
        /^body: unknown field "scope"$/,
      ],
      [
        'form',
        await post('sub=opd&streams=kel-*', 'application/x-www-form-urlencoded'),
        415,
        'E_BAD_REQUEST',
        /x-www-form-urlencoded.*application\/json/,
      ],
      ['malformed JSON', await post('{"sub": "opd",'), 400, 'E_BAD_REQUEST', /not valid JSON/],
      // bodyLimit is 64 KiB.
      [
        'oversized',
        await post(JSON.stringify({ sub: 'x'.repeat(70_000), streams: ['kel-*'] })),
        413,
        'E_TOO_LARGE',
        /too large/,
      ],
    ];
    for (const [what, r, status, code, message] of refusals) {
      expect(r.status, what).toBe(status);
      expect(r.headers.get('content-type'), what).toMatch(/^application\/json/);
      const body = (await r.json()) as { error: Record<string, unknown> };
      // The shared error body: { error: { code, message, reason? } } and nothing else.
      expect(Object.keys(body), what).toEqual(['error']);
      expect(
        Object.keys(body.error).filter((k) => !['code', 'message', 'reason'].includes(k)),
        what,
      ).toEqual([]);
      expect(body.error['code'], what).toBe(code);
      expect(String(body.error['message']), what).toMatch(message);
    }
    const ok = await post(JSON.stringify({ sub: 'opd', streams: ['kel-*'], ttlSec: 600 }));
    expect(ok.status).toBe(200);
    const lines = stack.logs.slice(before);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    // A client's mistake is no bug: no stack, and never more than one line for one request.
    expect(lines.filter(hasStack)).toEqual([]);
    for (const text of ['unknown field', 'is not accepted', 'not valid JSON', 'too large'])
      expect(lines.filter((l) => JSON.stringify(l).includes(text)).length, text).toBeLessThanOrEqual(1);
  });
});

/** A log record that carries a stack trace anywhere in it. */
const hasStack = (l: LogRecord) => /"stack"|\n\s+at /.test(JSON.stringify(l));

/** The running app's routes as `METHOD /path` (HEAD left out: fastify adds one to every GET), read from fastify's own tree. */
function registeredRoutes(): string[] {
  const tree = stack.gateway.app.printRoutes({ commonPrefix: false });
  const prefixes: string[] = [];
  const out: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = (m[1] ?? '').length / 4;
    prefixes.length = depth;
    const url = `${prefixes.join('')}${m[2]}`;
    prefixes.push(m[2] ?? '');
    for (const method of (m[3] ?? '').split(', ').filter((x) => x && x !== 'HEAD')) out.push(`${method} ${url}`);
  }
  return out;
}

describe('OpenAPI', () => {
  it('is a valid OpenAPI 3.1 document at /api/openapi.json naming every /api and WHEP route, their schemas and the bearer scheme', async () => {
    const r = await fetch(`${stack.base}/api/openapi.json`);
    expect(r.status).toBe(200);
    const doc = (await r.json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { parameters?: { name: string; in: string }[]; requestBody?: unknown; security?: unknown[] }>
      >;
      components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
      security: unknown[];
    };
    // swagger-parser dereferences in place: it gets a copy.
    await SwaggerParser.validate(structuredClone(doc) as never);
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes['bearer']).toEqual(
      expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    );
    expect(doc.security).toEqual([{ bearer: [] }]);

    const routes = registeredRoutes();
    const api = routes.filter((r) => / \/(api|whep)\//.test(r) && !/ \/api\/docs(\/|$)/.test(r));
    // The tree parse itself: routes this file knows are there.
    expect(api).toEqual(
      expect.arrayContaining(['GET /api/streams', 'GET /api/streams/:id', 'POST /api/tokens', 'POST /whep/:stream']),
    );
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    expect(documented.sort()).toEqual(api.sort());
    // Web pages, sign-in, health, metrics and the cluster's calls stay out.
    for (const r of routes.filter((r) => !api.includes(r))) expect(documented, r).not.toContain(r);
    expect(Object.keys(doc.paths).filter((p) => !/^\/(api|whep)\//.test(p))).toEqual([]);

    // The routes' own schemas: the token request's body, the audit query's parameters, the error body.
    const tokens = doc.paths['/api/tokens']?.['post'];
    expect(JSON.stringify(tokens?.requestBody)).toContain('"ttlSec"');
    expect(doc.paths['/api/audit']?.['get']?.parameters?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['from', 'kind', 'format']),
    );
    expect(doc.paths['/api/streams/{id}']?.['get']?.parameters).toEqual([
      expect.objectContaining({ name: 'id', in: 'path' }),
    ]);
    expect(JSON.stringify(doc.components.schemas['Error'])).toContain('"code"');
    expect(JSON.stringify(tokens)).toContain('#/components/schemas/Error');
    expect(doc.paths['/api/openapi.json']?.['get']?.security).toEqual([]);
    expect(doc.paths['/api/embed/origin']?.['get']?.security).toEqual([]); // the embed asks before it has a token
    // The streams list says what it answers, and an answer (serialized by that schema) keeps every field.
    const list = JSON.stringify(doc.paths['/api/streams']?.['get']);
    for (const f of ['"variants"', '"health"', '"lastContactAt"', '"originWorker"']) expect(list).toContain(f);
    const read = async (token: string) =>
      (await (await fetch(`${stack.base}/api/streams`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
        streams: { id: string; name: string; variants: Record<string, unknown>[] }[];
      };
    const asAdmin = (await read(admin())).streams[0];
    expect(asAdmin?.id).toBe('cam-rest');
    expect(Object.keys(asAdmin?.variants[0] ?? {}).sort()).toEqual(
      [
        'egressBitrateBps',
        'ffmpegRestarts',
        'health',
        'ingestBitrateBps',
        'jitterMs',
        'lastError',
        'name',
        'originWorker',
        'packetsLost',
        'state',
        'uptimeSec',
        'viewers',
      ].sort(),
    );
    const asViewer = (await read(stack.token(['cam-rest']))).streams[0];
    expect(Object.keys(asViewer?.variants[0] ?? {}).sort()).toEqual(['health', 'name', 'state', 'viewers']);
  });

  it('is read at /api/docs, a page whose assets come from the gateway and run under its CSP', async () => {
    const r = await fetch(`${stack.base}/api/docs`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await r.text();
    expect(html).not.toMatch(/https?:\/\//); // no CDN
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const violations: string[] = [];
      const outside: string[] = [];
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
      });
      page.on('request', (q) => {
        if (!q.url().startsWith(stack.base)) outside.push(q.url());
      });
      await page.goto(`${stack.base}/api/docs`);
      // Swagger UI rendered the document: the token route's operation is on the page.
      await page.getByText('/api/tokens').first().waitFor({ timeout: 10_000 });
      expect(await page.locator('.opblock').count()).toBeGreaterThanOrEqual(8);
      expect(violations).toEqual([]);
      expect(outside.filter((u) => !u.startsWith('data:'))).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 30_000);
});

/** A GET that sees the bytes as sent (fetch would decompress them). */
function rawGet(path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; bytes: number }>((resolve, reject) => {
    http
      .get(`${stack.base}${path}`, { headers }, (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes }));
      })
      .on('error', reject);
  });
}

describe('caching and compression', () => {
  it('never stores a page, not even on a revalidation; assets keep theirs', async () => {
    const since = { 'if-modified-since': new Date(Date.now() + 60_000).toUTCString() };
    for (const path of ['/embed/cam-rest', '/m/cam-rest', '/login', '/', '/index.html', '/api/docs'])
      for (const headers of [{}, since]) {
        const r = await rawGet(path, headers);
        expect(r.status, `${path} ${JSON.stringify(headers)}`).toBe(200);
        expect(r.headers['cache-control'], path).toBe('no-store');
        expect(r.headers.etag, path).toBeUndefined();
        expect(r.headers['last-modified'], path).toBeUndefined();
      }
    // An asset still revalidates, and the web component keeps its five minutes.
    const app = await rawGet('/app.js');
    expect(app.headers['cache-control']).toBe('public, max-age=0');
    expect((await rawGet('/app.js', { 'if-none-match': String(app.headers.etag) })).status).toBe(304);
    expect((await rawGet('/cctv-player.js')).headers['cache-control']).toBe('public, max-age=300');
  });

  it('sends the player module compressed to a client that accepts it', async () => {
    const plain = await rawGet('/cctv-player.js');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.bytes).toBeGreaterThan(200_000);
    for (const [accept, encoding] of [
      ['br, gzip', 'br'],
      ['gzip', 'gzip'],
    ] as const) {
      for (const path of ['/cctv-player.js', '/embed.js', '/app.js']) {
        const r = await rawGet(path, { 'accept-encoding': accept });
        expect(r.headers['content-encoding'], `${path} ${accept}`).toBe(encoding);
        expect(r.headers.vary, path).toMatch(/accept-encoding/i);
        expect(r.bytes, `${path} ${accept}`).toBeLessThan(plain.bytes / 3);
      }
    }
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
