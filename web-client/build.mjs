// Builds the web client into web-client/dist (served by the gateway). Fast; run by scripts/setup.sh.
//   app.js          the gateway's own pages: the wall (/) and the single-stream view (/watch.html, /m/<id>)
//   early.js        the single-stream view's first script: its snapshot request and picture, before app.js
//                   arrives; inlined into index.html and watch.html (allowed by hash: inline-scripts.json)
//   embed.js        the iframe embed page (/embed/<stream>?token=...)
//   cctv-player.js  the <cctv-player> web component: ONE self-contained ES module for other origins
//   ops.js          the operators' page (/ops.html)
//   login.js        the sign-in page (/login, served from login.html)
import crypto from 'node:crypto';
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
  // A classic script, inlined below: it runs the moment the parser reaches it (a module script,
  // even inline and async, runs only after the page's other scripts).
  build({ ...common, format: 'iife', sourcemap: false, entryPoints: { early: path.join(here, 'src/early.ts') } }),
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
// early.js goes into the pages that load it, inline: it then runs as the page is parsed, with no
// request of its own and before any other script. The gateway allows exactly these scripts by hash
// (inline-scripts.json, read into its Content-Security-Policy).
const early = fs.readFileSync(path.join(dist, 'early.js'), 'utf8').trimEnd();
if (early.includes('</script')) throw new Error('early.js cannot be inlined: it contains </script');
const tag = '<script src="/early.js"></script>';
for (const f of ['index.html', 'watch.html']) {
  const html = fs.readFileSync(path.join(dist, f), 'utf8');
  if (!html.includes(tag)) throw new Error(`${f}: no ${tag} to inline`);
  fs.writeFileSync(
    path.join(dist, f),
    html.replace(tag, () => `<script>${early}</script>`),
  );
}
const hash = crypto.createHash('sha256').update(early).digest('base64');
fs.writeFileSync(path.join(dist, 'inline-scripts.json'), `${JSON.stringify({ sha256: [hash] })}\n`);
