// The config watcher on a real file: a change is applied, a file that no longer loads is said once
// and nothing is applied, and SIGHUP-style reloads go through the same path.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/load.js';
import type { CameraConfig } from '../../config/schema.js';
import { type ConfigWatch, watchConfig } from './configWatch.js';
import { createLogger } from './log.js';

const cam = (id: string, password: string) => ({
  id,
  name: `Kantor ${id}`,
  main: { url: `rtsp://admin:${password}@127.0.0.1:8554/${id}` },
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let watch: ConfigWatch | undefined;
afterEach(() => watch?.close());

describe('watchConfig', () => {
  it('applies a changed file, says once that a broken one is not applied, and reloads on demand', async () => {
    const file = path.join(os.tmpdir(), `cctv-watch-${process.pid}.json`);
    fs.writeFileSync(file, JSON.stringify({ cameras: [cam('a', 'old')] }));
    const lines: { level: number; msg: string }[] = [];
    const logger = createLogger(
      'info',
      new Writable({
        write(chunk, _e, cb) {
          for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
          cb();
        },
      }),
    );
    const applied: CameraConfig[][] = [];
    watch = watchConfig({
      file,
      config: parseConfig({}, 'x').config,
      intervalMs: 50,
      apply: async (c) => {
        applied.push(c);
      },
      logger,
    });
    // Written before the watcher's first look: still a change.
    fs.writeFileSync(file, JSON.stringify({ cameras: [cam('a', 'new'), cam('b', 'x')] }));
    for (let i = 0; i < 40 && applied.length === 0; i++) await sleep(25);
    expect(applied.at(-1)?.map((c) => c.id)).toEqual(['a', 'b']);
    expect(applied.at(-1)?.[0]?.main.url).toContain('admin:new@');

    for (const text of ['{ not json', '{ not json']) {
      fs.writeFileSync(file, text);
      await sleep(200);
    }
    const refused = lines.filter((l) => l.msg === 'config not applied: it does not load');
    expect(refused).toHaveLength(1);
    expect(refused[0]?.level).toBe(50);
    expect(applied).toHaveLength(1);

    fs.writeFileSync(file, JSON.stringify({ cameras: [cam('a', 'new')] }));
    await watch.reload('SIGHUP');
    expect(applied.at(-1)?.map((c) => c.id)).toEqual(['a']);
    fs.rmSync(file, { force: true });
  });
});
