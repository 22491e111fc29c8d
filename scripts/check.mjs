#!/usr/bin/env node
// Set-up's last step: prove the built parts run. A mediasoup worker starts, a router is created,
// a WebRtcServer closes with a live transport without killing the worker, and FFmpeg runs.
import { execFileSync } from 'node:child_process';
import * as mediasoup from 'mediasoup';

const fail = (step, msg, hint) => {
  process.stderr.write(`[check] FAILED at step "${step}": ${msg}\n  what to do: ${hint}\n`);
  process.exit(1);
};

try {
  execFileSync(process.env.FFMPEG_BIN ?? '/usr/bin/ffmpeg', ['-hide_banner', '-version'], { stdio: 'ignore' });
} catch (err) {
  fail('ffmpeg', String(err.message), 'install Debian ffmpeg (apt-get install ffmpeg)');
}

let worker;
try {
  worker = await mediasoup.createWorker({ logLevel: 'error' });
  await worker.createRouter({ mediaCodecs: [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 }] });
} catch (err) {
  fail('mediasoup worker', String(err.message), 'delete .cache/mediasoup-worker and run scripts/setup.sh again');
}
let died = false;
worker.on('died', () => {
  died = true;
});
const router = await worker.createRouter({ mediaCodecs: [] });
const server = await worker.createWebRtcServer({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1', port: 0 }] });
await router.createWebRtcTransport({ webRtcServer: server });
server.close();
await new Promise((r) => setTimeout(r, 200));
if (died || worker.closed) {
  fail(
    'mediasoup worker',
    'the worker died closing a WebRtcServer with live transports',
    'the WebRtcServer fix in scripts/build-mediasoup-worker.mjs was not applied',
  );
}
worker.close();
