// Builds the web client into web-client/dist (served by the gateway). Fast; run by scripts/setup.sh.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');
fs.mkdirSync(dist, { recursive: true });
await build({
  entryPoints: { player: path.join(here, 'src/player.ts') },
  bundle: true,
  format: 'esm',
  target: ['chrome100', 'safari15'],
  minify: true,
  sourcemap: true,
  outdir: dist,
  logLevel: 'warning',
});
for (const f of ['index.html', 'player.css']) fs.copyFileSync(path.join(here, f), path.join(dist, f));
