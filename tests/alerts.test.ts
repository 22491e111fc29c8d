// The Prometheus alert rules (config/prometheus/alerts.yml) are valid for Prometheus's own checker,
// fire as their promtool unit tests say (alerts.test.yml: a camera dead since last night, a flapping
// one, a rejected password, an outage of many, checks that never run), and ask only for metrics the
// gateway registers. promtool comes with Debian's `prometheus` package.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const RULES = 'config/prometheus/alerts.yml';
const RULE_TESTS = 'config/prometheus/alerts.test.yml';

/** PROMTOOL, else promtool on the PATH, else /usr/bin/promtool; undefined when none exists. */
function promtool(): string | undefined {
  const dirs = (process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean);
  const candidates = [process.env['PROMTOOL'], ...dirs.map((d) => path.join(d, 'promtool')), '/usr/bin/promtool'];
  return candidates.find((c): c is string => !!c && fs.existsSync(c));
}

const tool = promtool();
const missing = "promtool not found: install Debian's prometheus package (apt-get install prometheus), or set PROMTOOL";

describe('Prometheus alert rules', () => {
  it('pass promtool check rules', async () => {
    expect(tool, missing).toBeDefined();
    const { stdout } = await run(tool as string, ['check', 'rules', RULES], { cwd: root });
    console.log(stdout.trim());
    expect(stdout).toMatch(/SUCCESS: 5 rules found/);
  });

  it('fire as their unit tests say (promtool test rules)', async () => {
    expect(tool, missing).toBeDefined();
    const out = await run(tool as string, ['test', 'rules', RULE_TESTS], { cwd: root }).catch(
      (err: { stdout?: string; stderr?: string; message: string }) => ({
        stdout: `${err.stdout ?? ''}${err.stderr ?? ''}` || err.message,
        failed: true,
      }),
    );
    expect('failed' in out ? out.stdout : '').toBe('');
    expect(out.stdout).toMatch(/SUCCESS/);
  });

  it('ask only for metrics the gateway registers', () => {
    const rules = fs.readFileSync(path.join(root, RULES), 'utf8').replace(/^\s*#.*$/gm, '');
    const used = new Set([...rules.matchAll(/\bcctv_[a-z_]+/g)].map((m) => m[0]));
    const source = fs.readFileSync(path.join(root, 'gateway/src/http/metrics.ts'), 'utf8');
    const registered = new Set([...source.matchAll(/'(cctv_[a-z_]+)'/g)].map((m) => m[1]));
    expect(used.size).toBeGreaterThanOrEqual(2);
    for (const name of used) expect(registered, name).toContain(name);
  });
});
