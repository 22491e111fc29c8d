#!/usr/bin/env node
// Builds mediasoup's C++ worker offline against Debian's libraries (no meson subproject downloads),
// with the project's own fixes applied. Idempotent: the binary is cached under
// .cache/mediasoup-worker/<mediasoup version>-<hash of this file>/ and reused when present.
// Prints the binary's absolute path on stdout; progress goes to stderr.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const msDir = path.join(root, 'node_modules', 'mediasoup');
const log = (msg) => process.stderr.write(`[mediasoup-worker] ${msg}\n`);
const fail = (step, msg, hint) => {
  process.stderr.write(`[mediasoup-worker] FAILED at step "${step}": ${msg}\n  what to do: ${hint}\n`);
  process.exit(1);
};

if (!fs.existsSync(path.join(msDir, 'package.json'))) {
  fail('locate', `${msDir} is missing`, 'run `npm ci --ignore-scripts` first (scripts/setup.sh does).');
}
const version = JSON.parse(fs.readFileSync(path.join(msDir, 'package.json'), 'utf8')).version;
const selfHash = createHash('sha256')
  .update(fs.readFileSync(fileURLToPath(import.meta.url)))
  .digest('hex')
  .slice(0, 12);
const outDir = path.join(root, '.cache', 'mediasoup-worker', `${version}-${selfHash}`);
const bin = path.join(outDir, 'mediasoup-worker');

if (fs.existsSync(bin)) {
  process.stdout.write(`${bin}\n`);
  process.exit(0);
}

// Each rewrite must match exactly once, so a changed upstream file fails loudly instead of silently.
function replaceOnce(text, from, to, file) {
  const n =
    typeof from === 'string'
      ? text.split(from).length - 1
      : (text.match(new RegExp(from.source, `${from.flags.replace('g', '')}g`)) ?? []).length;
  if (n !== 1)
    fail(
      'patch',
      `${file}: expected one match of ${String(from)}, found ${n}`,
      `this patch was written for mediasoup 3.12.16; found ${version}.`,
    );
  return text.replace(from, to);
}

// meson dependency() expressions standing in for each subproject variable.
const deps = {
  absl_container_dep: "[dependency('absl_flat_hash_map'), dependency('absl_flat_hash_set')]",
  openssl_dep: "dependency('openssl')",
  nlohmann_json_dep: "dependency('nlohmann_json')",
  libuv_dep: "dependency('libuv')",
  libsrtp2_dep: 'srtp2_dep',
  usrsctp_dep: "dependency('usrsctp')",
  absl_strings_dep: "dependency('absl_strings')",
  absl_types_dep: "[dependency('absl_optional'), dependency('absl_variant')]",
  catch2_dep: "dependency('catch2-with-main', required: false)",
  wingetopt_dep: '[]', // Windows only
};

function patchMeson(text, file, isTop) {
  // Drop every `x_proj = subproject(...)` block (the closing paren sits alone on its line).
  let out = text.replace(/^[ \t]*\w+_proj = subproject\([\s\S]*?\n[ \t]*\)\n/gm, '');
  // Static libraries of subprojects were linked whole; system libraries come in through dependency().
  out = out.replace(/^[ \t]*\w+_proj\.get_variable\('\w+_lib'\),\n/gm, '');
  out = out.replace(/^[ \t]*\w+_proj\.get_variable\('(libuv|libsrtp2|usrsctp)'\),\n/gm, '');
  out = out.replace(/\w+_proj\.get_variable\('(\w+)'\)/g, (m, name) => {
    if (!deps[name])
      fail(
        'patch',
        `${file}: no system dependency known for ${m}`,
        'extend the map in scripts/build-mediasoup-worker.mjs.',
      );
    return deps[name];
  });
  if (/subproject\(|get_variable\(/.test(out))
    fail('patch', `${file}: a subproject reference is left`, 'extend the rewrite rules.');
  if (isTop) {
    out = replaceOnce(out, "meson_version: '>= 1.1.0'", "meson_version: '>= 1.0.0'", file);
    // libsrtp2's headers are included as <srtp.h>, which Debian installs under <includedir>/srtp2.
    const srtpInc = execFileSync('pkg-config', ['--variable=includedir', 'libsrtp2'], { encoding: 'utf8' }).trim();
    out = replaceOnce(
      out,
      "cpp = meson.get_compiler('cpp')\n",
      `cpp = meson.get_compiler('cpp')\nsrtp2_dep = declare_dependency(dependencies: dependency('libsrtp2'), compile_args: ['-I${srtpInc}/srtp2'])\n`,
      file,
    );
  }
  return out;
}

// The project's worker fix: WebRtcServer's destructor walked its transport set while each
// ListenServerClosed() erased from that same set (undefined behaviour; SIGILL under Debian's
// hardened abseil). Walk a copy instead, as upstream did after 3.12 (mediasoup PR #1390).
function patchWebRtcServer(text, file) {
  return replaceOnce(
    text,
    '\t\tfor (auto* webRtcTransport : this->webRtcTransports)\n\t\t{\n\t\t\twebRtcTransport->ListenServerClosed();\n\t\t}',
    '\t\t// Walk a copy: each ListenServerClosed() ends up erasing from this->webRtcTransports.\n' +
      '\t\tconst auto webRtcTransports = this->webRtcTransports;\n\n' +
      '\t\tfor (auto* webRtcTransport : webRtcTransports)\n\t\t{\n\t\t\twebRtcTransport->ListenServerClosed();\n\t\t}',
    file,
  );
}

// The project's feature backport: proxy the playout-delay RTP header extension from a Producer to
// its Consumers, as upstream does since mediasoup PR #1412 (3.14). The ingest stamps it and a
// viewer that asks for low latency negotiates it; others ignore it. Mapped id 14, as upstream.
const PLAYOUT_DELAY_URI = 'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay';
const playoutDelayPatches = {
  'include/RTC/RtpDictionaries.hpp': (t, f) =>
    replaceOnce(
      t,
      '\t\t\tABS_CAPTURE_TIME       = 13,\n',
      '\t\t\tABS_CAPTURE_TIME       = 13,\n\t\t\tPLAYOUT_DELAY          = 14,\n',
      f,
    ),
  'src/RTC/RtpDictionaries/RtpHeaderExtensionUri.cpp': (t, f) =>
    replaceOnce(
      t,
      'RtpHeaderExtensionUri::Type::ABS_CAPTURE_TIME       },\n',
      `RtpHeaderExtensionUri::Type::ABS_CAPTURE_TIME       },\n\t\t{ "${PLAYOUT_DELAY_URI}", RtpHeaderExtensionUri::Type::PLAYOUT_DELAY },\n`,
      f,
    ),
  'include/RTC/RtpHeaderExtensionIds.hpp': (t, f) =>
    replaceOnce(
      t,
      '\t\tuint8_t absCaptureTime{ 0u };\n',
      '\t\tuint8_t absCaptureTime{ 0u };\n\t\tuint8_t playoutDelay{ 0u };\n',
      f,
    ),
  'src/RTC/Producer.cpp': (t, f) => {
    const idOf =
      '\t\t\tif (this->rtpHeaderExtensionIds.absCaptureTime == 0u && exten.type == RTC::RtpHeaderExtensionUri::Type::ABS_CAPTURE_TIME)\n\t\t\t{\n\t\t\t\tthis->rtpHeaderExtensionIds.absCaptureTime = exten.id;\n\t\t\t}\n';
    let out = replaceOnce(
      t,
      idOf,
      `${idOf}\n\t\t\tif (this->rtpHeaderExtensionIds.playoutDelay == 0u && exten.type == RTC::RtpHeaderExtensionUri::Type::PLAYOUT_DELAY)\n\t\t\t{\n\t\t\t\tthis->rtpHeaderExtensionIds.playoutDelay = exten.id;\n\t\t\t}\n`,
      f,
    );
    // In MangleRtpPacket, before the last (toffset) proxy of video packets.
    out = replaceOnce(
      out,
      '\t\t\t\t// Proxy urn:ietf:params:rtp-hdrext:toffset.\n',
      '\t\t\t\t// Proxy http://www.webrtc.org/experiments/rtp-hdrext/playout-delay.\n' +
        '\t\t\t\textenValue = packet->GetExtension(this->rtpHeaderExtensionIds.playoutDelay, extenLen);\n\n' +
        '\t\t\t\tif (extenValue)\n\t\t\t\t{\n' +
        '\t\t\t\t\tstd::memcpy(bufferPtr, extenValue, extenLen);\n\n' +
        '\t\t\t\t\textensions.emplace_back(\n' +
        '\t\t\t\t\t  static_cast<uint8_t>(RTC::RtpHeaderExtensionUri::Type::PLAYOUT_DELAY), extenLen, bufferPtr);\n\n' +
        '\t\t\t\t\tbufferPtr += extenLen;\n\t\t\t\t}\n\n' +
        '\t\t\t\t// Proxy urn:ietf:params:rtp-hdrext:toffset.\n',
      f,
    );
    return out;
  },
};

function run(step, cmd, args, opts, hint) {
  log(`${step}: ${cmd} ${args.join(' ')}`);
  try {
    // Child output goes to stderr: stdout carries only the binary's path.
    execFileSync(cmd, args, { stdio: ['ignore', 2, 2], ...opts });
  } catch (err) {
    fail(step, `${cmd} exited with ${err.status ?? err.signal}`, hint);
  }
}

for (const tool of ['meson', 'ninja', 'pkg-config']) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    fail('tools', `${tool} not found`, 'install meson ninja-build pkg-config (scripts/setup.sh does).');
  }
}

const work = path.join(root, '.cache', 'mediasoup-worker', `build-${version}-${selfHash}`);
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
log(`copying worker sources of mediasoup ${version} to ${work}`);
fs.cpSync(path.join(msDir, 'worker'), path.join(work, 'src'), {
  recursive: true,
  filter: (p) => !p.includes(`${path.sep}subprojects${path.sep}`) && !p.endsWith(`${path.sep}out`),
});
const src = path.join(work, 'src');
const edit = (rel, fn) => {
  const f = path.join(src, rel);
  fs.writeFileSync(f, fn(fs.readFileSync(f, 'utf8'), rel));
};
edit('meson.build', (t, f) => patchMeson(t, f, true));
edit('deps/libwebrtc/meson.build', (t, f) => patchMeson(t, f, false));
edit('src/RTC/WebRtcServer.cpp', patchWebRtcServer);
for (const [rel, fn] of Object.entries(playoutDelayPatches)) edit(rel, fn);

const hint =
  'install the -dev libraries: libssl-dev libuv1-dev libsrtp2-dev libusrsctp-dev libabsl-dev nlohmann-json3-dev (scripts/setup.sh does), then run again.';
run(
  'meson setup',
  'meson',
  ['setup', '--buildtype=release', '-Db_pie=true', '-Db_staticpic=true', path.join(work, 'build'), src],
  {},
  hint,
);
run(
  'ninja',
  'ninja',
  ['-C', path.join(work, 'build'), 'mediasoup-worker'],
  {},
  'read the compiler error above; the patch may not fit this mediasoup version.',
);

fs.mkdirSync(outDir, { recursive: true });
fs.copyFileSync(path.join(work, 'build', 'mediasoup-worker'), `${bin}.tmp`);
fs.chmodSync(`${bin}.tmp`, 0o755);
fs.renameSync(`${bin}.tmp`, bin);
fs.rmSync(work, { recursive: true, force: true });
log(`built ${bin}`);
process.stdout.write(`${bin}\n`);
