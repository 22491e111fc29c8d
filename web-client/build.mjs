// Builds the web client into web-client/dist (served by the gateway). Fast; run by scripts/setup.sh.
//   app.js          the gateway's own pages: the wall (/) and the single-stream view (/watch.html, /m/<id>)
//   embed.js        the iframe embed page (/embed/<stream>?token=...)
//   cctv-player.js  the <cctv-player> web component: ONE self-contained ES module for other origins
//   ops.js          the operators' page (/ops.html)
//   login.js        the sign-in page (/login, served from login.html)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, 'dist');
fs.rmSync(dist, { recursive: true, force: true });
fs.mkdirSync(dist, { recursive: true });
const common = {
  bundle: true,
  format: 'esm',
  target: ['chrome100', 'safari15', 'firefox100'],
  minify: true,
  sourcemap: true,
  outdir: dist,
  logLevel: 'warning',
  legalComments: 'linked',
};
await Promise.all([
  build({
    ...common,
    entryPoints: {
      app: path.join(here, 'src/app.ts'),
      embed: path.join(here, 'src/embed.ts'),
      ops: path.join(here, 'src/ops.ts'),
      login: path.join(here, 'src/login.ts'),
    },
  }),
  // No sourcemap link in the component: other origins load it, and one file is the contract.
  build({
    ...common,
    entryPoints: { 'cctv-player': path.join(here, 'src/element.ts') },
    sourcemap: false,
    legalComments: 'eof',
  }),
]);
for (const f of ['index.html', 'watch.html', 'embed.html', 'ops.html', 'login.html', 'theme.css', 'favicon.svg']) {
  fs.copyFileSync(path.join(here, f), path.join(dist, f));
}
