/**
 * Multi-camera RTSP simulator for the demo, tests and benchmarks.
 *
 * Node side of `camsim.py` (GStreamer gst-rtsp-server): encodes each distinct
 * test clip once with FFmpeg into a cache, writes the JSON spec, runs the Python
 * server and talks to it over JSON lines (events on stdout, commands on stdin).
 * Each camera also answers ONVIF Media SOAP requests (GetProfiles, SetSynchronizationPoint) on
 * its own HTTP port (see onvifUrl and SimCameraSpec.onvif).
 */
import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { tiedExecFile, tiedSpawn } from '../core/tiedSpawn.js';

export type SimVideoCodec = 'h264' | 'h265';
export type SimVideoProfile = 'baseline' | 'main' | 'high';
export type SimAudioCodec = 'pcmu' | 'pcma';
/** RTSP lower transport: RTP/AVP/TCP (interleaved) or RTP/AVP (UDP). */
export type SimTransport = 'tcp' | 'udp';

export interface SimCameraAuth {
  method: 'basic' | 'digest';
  user: string;
  password: string;
}

/** One simulated camera; everything but `id` has a default. */
export interface SimCameraSpec {
  /** Mount path segment: the camera is served at rtsp://host:port/<id>. */
  id: string;
  /** Default 'h264'. */
  codec?: SimVideoCodec;
  /** Default 'main'; H.265 supports only 'main'; 'baseline' has no B-frames (see `bframes`). */
  profile?: SimVideoProfile;
  /** Default 640x360 (even numbers). */
  width?: number;
  height?: number;
  /** Default 25. */
  fps?: number;
  /** Keyframe interval in frames; default = fps (one IDR per second). */
  gop?: number;
  /** Default 1000. */
  bitrateKbps?: number;
  /** G.711 audio track (440 Hz tone); default false. */
  audio?: false | SimAudioCodec;
  /**
   * RTSP authentication for this mount; default null (open). Every login attempt is logged (see
   * CameraSimulator.authLog): each DESCRIBE or SETUP to the mount that carries an Authorization
   * header, the requests gst-rtsp-server authenticates (PLAY, GET_PARAMETER, TEARDOWN and OPTIONS
   * are not, with or without the header).
   */
  auth?: SimCameraAuth | null;
  /** Pre-encoded Annex-B clip to serve instead of a generated one. */
  clip?: string;
  /**
   * Text burnt into the generated clip; default the camera id. Cameras with the
   * same encoding settings and label share one clip (give many cameras one
   * label to encode once, e.g. for load tests).
   */
  label?: string;
  /**
   * A live clock camera instead of a clip: every frame shows the wall-clock time it was drawn at
   * (see camsim.py's ClockFeeder for the layout), encoded live by x264 (zerolatency, ultrafast,
   * no B-frames, one IDR per `gop`). H.264 only, no audio; profile defaults to 'baseline'.
   * Cameras with the same size, fps, gop, bitrate, profile and keyframeOnRequest share one encoder.
   * An RTCP PLI/FIR from a viewer makes that encoder send an IDR at the next frame, at most once per
   * 500 ms, for every camera sharing it (see CameraSimulator.keyframeRequests).
   */
  clock?: boolean;
  /**
   * Clock cameras only; default true: a keyframe request (RTCP PLI/FIR) forces an IDR, as above.
   * false: the request is still counted (keyframeRequests, a 'keyframe-request' event with forced
   * false) but not honoured, like a camera that ignores PLI: IDRs come only every `gop` frames.
   */
  keyframeOnRequest?: boolean;
  /**
   * false: SPS/PPS only in the SDP (sprop-parameter-sets), never in the RTP stream, as some cameras
   * do. H.264 clip cameras only; default true (SPS/PPS before every IDR).
   */
  inbandParameterSets?: boolean;
  /**
   * Largest RTP packet the camera's RTSP payloader sends, bytes (GStreamer's default 1400). Some
   * cameras send far larger packets over RTSP/TCP, which a WebRTC path must fragment again.
   */
  rtpMtu?: number;
  /**
   * Lower transports the camera accepts in SETUP; default both. A SETUP asking for another one is
   * answered 461 Unsupported Transport, as by a camera that only streams over UDP (['udp']) or only
   * interleaved in the RTSP connection (['tcp']).
   */
  transports?: SimTransport[];
  /**
   * B-frames between reference frames of the generated clip, 0..4; default 0. H.264 clip cameras
   * with profile 'main' or 'high' only (no `clip`, no clock). The clip is encoded with a fixed
   * pattern of that many B-frames (x264 b-adapt=0, no B-pyramid; still closed GOPs, IDR-only
   * keyframes, SPS/PPS before every IDR) and sent in decode order with presentation-order PTS, so
   * the camera's RTP timestamps go backwards after each P-frame, as a real camera's with B-frames do.
   * x264 then signals max_num_reorder_frames = 1 in the SPS VUI.
   */
  bframes?: number;
  /**
   * ONVIF Media service at CameraSimulator.onvifUrl(id); default true. SOAP 1.2 over HTTP:
   * GetProfiles (profile 'main', and 'sub' with onvifSub) and SetSynchronizationPoint, ver10 media
   * (/onvif/<id>/media_service) and ver20 media2 (/onvif/<id>/media2_service, either path answers
   * both). SetSynchronizationPoint makes a clock camera's encoder send an IDR at the next frame even
   * with keyframeOnRequest false (that flag models ignoring RTCP PLI, what ONVIF works around), at
   * most one per 500 ms shared with PLIs; a clip camera answers success without effect (forced false),
   * as cameras with a fixed GOP do. With `auth`, every request needs a WS-Security UsernameToken
   * with PasswordDigest of those credentials (Created within 15 min of now), else HTTP 400 with the
   * SOAP fault ter:NotAuthorized. false: no ONVIF, its path answers 404 as a camera without it.
   * While stopCamera() holds it down, its requests get no answer (the connection closes).
   * Every request reaching the camera's path is counted (onvifLog, onvifRequests, syncPoints).
   */
  onvif?: boolean;
  /**
   * Another camera of this simulator that serves this one's ONVIF profile 'sub' (its
   * SetSynchronizationPoint forces that camera's encoder); default `<id>--sub` when such a camera
   * exists (the demo's sub streams, see fromConfig.ts).
   */
  onvifSub?: string;
}

/** One SOAP request that reached a camera's ONVIF path (see CameraSimulator.onvifLog). */
export interface SimOnvifRequest {
  /** The request's operation (e.g. 'GetProfiles', 'SetSynchronizationPoint'); null when unread. */
  op: string | null;
  /** HTTP 200 answer. */
  ok: boolean;
  /** The HTTP status answered: 200, 400 (SOAP fault), 404 (no ONVIF); 0: dropped (camera stopped). */
  status: number;
  /** SetSynchronizationPoint only: an IDR was forced (false for clip cameras and within 500 ms). */
  forced: boolean;
  /** The user name of the WS-Security token as sent (cameras with auth); never the password. */
  user?: string;
  /** Why authentication failed: 'no-token', 'not-digest', 'malformed', 'stale-created', 'wrong-credentials'. */
  reason?: string;
  /** SetSynchronizationPoint's ProfileToken. */
  profile?: string;
  /** Date.now() when the simulator reported it. */
  at: number;
}

/** One login attempt seen by a camera (see CameraSimulator.authLog). */
export interface SimAuthAttempt {
  /** The credentials were this mount's. */
  ok: boolean;
  /** The user name as the client sent it. */
  user: string;
  /** 'basic' or 'digest' (the Authorization scheme, lower-cased). */
  method: string;
  /** Date.now() when the simulator reported it. */
  at: number;
}

/** Where a clock camera's frames go as plain RTP (see CameraSimulator.startRtpPush). */
export interface SimRtpTarget {
  host: string;
  port: number;
  ssrc: number;
  payloadType: number;
}

/** A camera with every default applied, as written to the spec file. */
export interface ResolvedSimCamera {
  id: string;
  codec: SimVideoCodec;
  profile: SimVideoProfile;
  width: number;
  height: number;
  fps: number;
  gop: number;
  bitrateKbps: number;
  audio: false | SimAudioCodec;
  auth: SimCameraAuth | null;
  clip: string;
  label: string;
  /** A live clock camera (no clip); absent or false for clip cameras. */
  clock?: boolean;
  /** false: a clock camera that ignores keyframe requests; absent means it honours them. */
  keyframeOnRequest?: false;
  /** false: SPS/PPS only in the SDP; absent means in-band before every IDR. */
  inbandParameterSets?: boolean;
  /** The RTSP payloader's MTU; absent means GStreamer's default. */
  rtpMtu?: number;
  /** Lower transports SETUP accepts; absent means both. */
  transports?: SimTransport[];
  /** B-frames of the generated clip; absent means none. */
  bframes?: number;
  /** false: no ONVIF; absent means ONVIF Media. */
  onvif?: false;
  /** The camera serving ONVIF profile 'sub'; absent means main only. */
  onvifSub?: string;
}

/** The JSON document camsim.py reads (`--spec FILE`). */
export interface SimSpecFile {
  address: string;
  port: number;
  onvifPort: number;
  cameras: ResolvedSimCamera[];
}

/**
 * One JSON line printed by camsim.py: ready, clip-loaded, media-up, media-down,
 * camera-stopped, camera-started, command-error, error, stopped; plus 'exit'
 * {code, signal}, added on the Node side when the process ends. What clients do shows as:
 * - 'auth' {id, ok, method: 'basic' | 'digest', user}: one login attempt on a protected mount (a
 *   DESCRIBE or SETUP carrying Authorization); `user` as sent, never the password. ok is false for
 *   wrong credentials and for another mount's valid ones.
 * - 'auth-challenge' {id}: a 401 answered to a request without Authorization.
 * - 'keyframe-request' {id, forced}: an RTCP PLI or FIR for the mount's video SSRC reached the
 *   camera (see CameraSimulator.keyframeRequests); forced: a clock camera's encoder was made to send
 *   an IDR now (false for clip cameras, for clock cameras with keyframeOnRequest false and for
 *   requests within 500 ms of the last forced one).
 * - 'onvif' {id, op, ok, status, forced?, user?, reason?, profile?}: a SOAP request to the camera's
 *   ONVIF path (see CameraSimulator.onvifLog).
 */
export interface SimEvent {
  event: string;
  id?: string;
  [key: string]: unknown;
}

export interface CameraSimulatorOptions {
  cameras: SimCameraSpec[];
  /** Listening port; 0 (default) lets the server pick a free one. */
  port?: number;
  /** Listening address; default 127.0.0.1. */
  address?: string;
  /** ONVIF (HTTP) port on the same address; 0 (default) lets the server pick a free one. */
  onvifPort?: number;
  /** Where generated clips are cached; default <repo>/.cache/sim. */
  cacheDir?: string;
  /** Approximate generated clip length, rounded to whole GOPs; default 4. */
  clipSeconds?: number;
  /** Default 15000. */
  readyTimeoutMs?: number;
  /** Default /usr/bin/python3 (needs python3-gi and gst-rtsp-server). */
  pythonPath?: string;
  /** Default /usr/bin/ffmpeg. */
  ffmpegPath?: string;
  /** Called for every event line of the server. */
  onEvent?: (event: SimEvent) => void;
}

/** Encoding parameters of one generated clip (also its cache key). */
export interface SimClipParams {
  codec: SimVideoCodec;
  profile: SimVideoProfile;
  width: number;
  height: number;
  fps: number;
  gop: number;
  bitrateKbps: number;
  label: string;
  seconds: number;
  /** B-frames (see SimCameraSpec.bframes); absent or 0: none, as in clips made before the option. */
  bframes?: number;
}

const DEFAULT_PYTHON = '/usr/bin/python3';
const DEFAULT_FFMPEG = '/usr/bin/ffmpeg';
const CAMSIM_SCRIPT = fileURLToPath(new URL('./camsim.py', import.meta.url));
const DEFAULT_CACHE_DIR = fileURLToPath(new URL('../../../.cache/sim/', import.meta.url));
const FONT_FILE = '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf';
// Bump when clip encoding changes so stale cache entries are not reused.
const CLIP_FORMAT_VERSION = 1;
const ID_PATTERN = /^[A-Za-z0-9._-]+$/;
const STOP_GRACE_MS = 3000;
const STDERR_TAIL_LINES = 30;

/** A running (or restartable) camsim.py server. */
export class CameraSimulator {
  #child: ChildProcess | null = null;
  #port: number;
  #onvifPort: number;
  #specDir: string | null = null;
  #stopping: Promise<void> | null = null;
  #stderrTail: string[] = [];
  readonly #listeners = new Set<(event: SimEvent) => void>();
  readonly #authLogs = new Map<string, SimAuthAttempt[]>();
  readonly #keyframeRequests = new Map<string, number>();
  readonly #onvifLogs = new Map<string, SimOnvifRequest[]>();

  private constructor(
    readonly cameras: readonly ResolvedSimCamera[],
    readonly address: string,
    port: number,
    onvifPort: number,
    private readonly pythonPath: string,
    private readonly readyTimeoutMs: number,
  ) {
    this.#port = port;
    this.#onvifPort = onvifPort;
  }

  /** Generates missing clips, spawns the server and resolves once it listens. */
  static async start(options: CameraSimulatorOptions): Promise<CameraSimulator> {
    const cameras = await resolveCameras(options);
    const sim = new CameraSimulator(
      cameras,
      options.address ?? '127.0.0.1',
      options.port ?? 0,
      options.onvifPort ?? 0,
      options.pythonPath ?? DEFAULT_PYTHON,
      options.readyTimeoutMs ?? 15_000,
    );
    if (options.onEvent) sim.onEvent(options.onEvent);
    try {
      await sim.#spawn();
    } catch (err) {
      await sim.stop(); // no half-started process or spec dir left behind
      throw err;
    }
    return sim;
  }

  /** Port the server listens on (the picked one when started with port 0). */
  get port(): number {
    return this.#port;
  }

  /** Port of the ONVIF (HTTP) service, on the same address (the picked one when started with 0). */
  get onvifPort(): number {
    return this.#onvifPort;
  }

  /** Server process id, for CPU/RSS sampling; undefined while stopped. */
  get pid(): number | undefined {
    return this.running ? this.#child?.pid : undefined;
  }

  get running(): boolean {
    const child = this.#child;
    return child !== null && child.exitCode === null && child.signalCode === null;
  }

  /** rtsp://host:port/<id>, without credentials. */
  url(id: string): string {
    this.#camera(id);
    return `rtsp://${this.#urlHost()}:${this.#port}/${id}`;
  }

  /** Like url(), with the camera's user:password embedded when it has auth. */
  urlWithCredentials(id: string): string {
    const auth = this.#camera(id).auth;
    if (!auth) return this.url(id);
    const userinfo = `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.password)}`;
    return `rtsp://${userinfo}@${this.#urlHost()}:${this.#port}/${id}`;
  }

  /**
   * http://host:onvifPort/onvif/<id>/media_service: the camera's ONVIF Media (ver10) service; with
   * 'media2' its /media2_service. Also for a camera with onvif false (that path answers 404).
   */
  onvifUrl(id: string, service: 'media' | 'media2' = 'media'): string {
    this.#camera(id);
    return `http://${this.#urlHost()}:${this.#onvifPort}/onvif/${id}/${service}_service`;
  }

  /** The SOAP requests that reached camera `id`'s ONVIF path since start() (restarts included), oldest first. */
  onvifLog(id: string): SimOnvifRequest[] {
    this.#camera(id);
    return [...(this.#onvifLogs.get(id) ?? [])];
  }

  /** How many SOAP requests reached camera `id`'s ONVIF path (any answer: 200, fault, 404, dropped). */
  onvifRequests(id: string): number {
    return this.onvifLog(id).length;
  }

  /** SetSynchronizationPoint requests camera `id` answered with success (forced or not, see onvifLog). */
  syncPoints(id: string): number {
    return this.onvifLog(id).filter((r) => r.op === 'SetSynchronizationPoint' && r.ok).length;
  }

  /** Subscribes to server events; returns the unsubscribe function. */
  onEvent(listener: (event: SimEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The login attempts on camera `id` since start() (restarts included), oldest first: one per
   * DESCRIBE or SETUP to the mount that carried an Authorization header. RtspConnection with a
   * wrong password makes one failed attempt per request (it gives up after the second 401).
   */
  authLog(id: string): SimAuthAttempt[] {
    this.#camera(id);
    return [...(this.#authLogs.get(id) ?? [])];
  }

  /**
   * RTCP keyframe requests (PLI, FIR) for camera `id`'s video since start() (restarts included).
   * A PLI counts when its media SSRC is the camera's video SSRC (the ssrc= of the SETUP answer),
   * over TCP interleaved (the RTCP channel) or UDP (the server's RTCP port, from any address);
   * gst-rtsp-server needs no receiver report before a PLI. A FIR counts only when its sender SSRC is
   * known: send a receiver report from that SSRC first or in the same compound packet. Once a
   * viewer's receiver reports give gst a round-trip time, it drops that viewer's repeats within two
   * RTTs. A clock camera answers with an IDR at the next frame (at most one per 500 ms) unless it
   * has keyframeOnRequest false; a clip camera only counts.
   */
  keyframeRequests(id: string): number {
    this.#camera(id);
    return this.#keyframeRequests.get(id) ?? 0;
  }

  /** Resolves with the first event matching `predicate` from now on. */
  waitForEvent(predicate: (event: SimEvent) => boolean, timeoutMs = 10_000): Promise<SimEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`camsim: no matching event within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onEvent((event) => {
        if (event.event === 'exit') {
          clearTimeout(timer);
          off();
          reject(new Error('camsim exited while waiting for an event'));
        } else if (predicate(event)) {
          clearTimeout(timer);
          off();
          resolve(event);
        }
      });
    });
  }

  /**
   * Takes one camera offline like a reboot: its mount disappears (404) and its
   * connected clients are disconnected. The other cameras keep streaming.
   */
  async stopCamera(id: string): Promise<void> {
    await this.#command('stop-camera', id, 'camera-stopped');
  }

  /** Brings a camera stopped by stopCamera() back. */
  async startCamera(id: string): Promise<void> {
    await this.#command('start-camera', id, 'camera-started');
  }

  /**
   * Also sends a clock camera's encoded frames as RTP (H.264, SPS/PPS before every IDR, packets of
   * at most 1200 bytes) to `target`, with no RTSP in between: the reference path of the delay
   * benchmark. Replaces an earlier push of the same camera.
   */
  async startRtpPush(id: string, target: SimRtpTarget): Promise<void> {
    if (!this.#camera(id).clock) throw new Error(`camsim: ${id} is not a clock camera`);
    const { host, port, ssrc, payloadType } = target;
    await this.#command('rtp-push', id, 'rtp-push-started', { host, port, ssrc, pt: payloadType });
  }

  /** Ends a push started by startRtpPush(). */
  async stopRtpPush(id: string): Promise<void> {
    await this.#command('rtp-stop', id, 'rtp-push-stopped');
  }

  /**
   * Stops the server (all clients see the connection drop, new connects are
   * refused) and starts it again on the same port; also restarts a stopped one.
   */
  async restart(): Promise<void> {
    await this.#terminate();
    await this.#spawn();
  }

  /** SIGTERM, then SIGKILL after 3 s; resolves once the process has exited. Idempotent. */
  async stop(): Promise<void> {
    await this.#terminate();
    if (this.#specDir) {
      await rm(this.#specDir, { recursive: true, force: true });
      this.#specDir = null;
    }
  }

  #camera(id: string): ResolvedSimCamera {
    const camera = this.cameras.find((c) => c.id === id);
    if (!camera) throw new Error(`camsim: unknown camera '${id}'`);
    return camera;
  }

  #urlHost(): string {
    if (this.address === '0.0.0.0' || this.address === '') return '127.0.0.1';
    if (this.address === '::') return '[::1]';
    return this.address.includes(':') ? `[${this.address}]` : this.address;
  }

  #dispatch(event: SimEvent): void {
    for (const listener of [...this.#listeners]) listener(event);
  }

  /** Keeps what authLog(), keyframeRequests() and onvifLog() report. */
  #record(event: SimEvent): void {
    const id = event.id;
    if (typeof id !== 'string') return;
    if (event.event === 'auth') {
      const log = this.#authLogs.get(id) ?? [];
      log.push({
        ok: event.ok === true,
        user: String(event.user ?? ''),
        method: String(event.method ?? ''),
        at: Date.now(),
      });
      this.#authLogs.set(id, log);
    } else if (event.event === 'keyframe-request') {
      this.#keyframeRequests.set(id, (this.#keyframeRequests.get(id) ?? 0) + 1);
    } else if (event.event === 'onvif') {
      const log = this.#onvifLogs.get(id) ?? [];
      log.push({
        op: typeof event.op === 'string' ? event.op : null,
        ok: event.ok === true,
        status: Number(event.status ?? 0),
        forced: event.forced === true,
        ...(typeof event.user === 'string' ? { user: event.user } : {}),
        ...(typeof event.reason === 'string' ? { reason: event.reason } : {}),
        ...(typeof event.profile === 'string' ? { profile: event.profile } : {}),
        at: Date.now(),
      });
      this.#onvifLogs.set(id, log);
    }
  }

  async #command(cmd: string, id: string, ack: string, extra: Record<string, unknown> = {}): Promise<void> {
    this.#camera(id);
    const child = this.#child;
    if (!this.running || !child?.stdin) throw new Error('camsim is not running');
    const done = this.waitForEvent((e) => (e.event === ack && e.id === id) || e.event === 'command-error', 5000);
    child.stdin.write(`${JSON.stringify({ ...extra, cmd, id })}\n`);
    const event = await done;
    if (event.event === 'command-error') throw new Error(`camsim: ${String(event.error)}`);
  }

  async #spawn(): Promise<void> {
    if (this.running) throw new Error('camsim is already running');
    this.#specDir ??= await mkdtemp(join(tmpdir(), 'camsim-'));
    const specPath = join(this.#specDir, 'spec.json');
    const spec: SimSpecFile = {
      address: this.address,
      port: this.#port,
      onvifPort: this.#onvifPort,
      cameras: [...this.cameras],
    };
    await writeFile(specPath, JSON.stringify(spec, null, 2));

    this.#stderrTail = [];
    const child = tiedSpawn(this.pythonPath, [CAMSIM_SCRIPT, '--spec', specPath, '--control-stdin'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child = child;
    // EPIPE on a dead server must not crash the host process.
    child.stdin?.on('error', () => {});
    createInterface({ input: child.stderr! }).on('line', (line) => this.#keepStderr(line));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let event: SimEvent;
      try {
        event = JSON.parse(line) as SimEvent;
      } catch {
        this.#keepStderr(line);
        return;
      }
      if (event.event === 'error') this.#keepStderr(`error: ${String(event.error)}`);
      this.#record(event);
      this.#dispatch(event);
    });
    child.once('exit', (code, signal) => this.#dispatch({ event: 'exit', code, signal }));

    const ready = await new Promise<SimEvent>((resolve, reject) => {
      const fail = (why: string): void => {
        cleanup();
        const tail = this.#stderrTail.slice(-10).join('\n');
        reject(new Error(`camsim did not become ready: ${why}${tail ? `\n${tail}` : ''}`));
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail(`timeout after ${this.readyTimeoutMs} ms`);
      }, this.readyTimeoutMs);
      const onError = (err: Error): void => fail(`spawn ${this.pythonPath}: ${err.message}`);
      const off = this.onEvent((event) => {
        if (event.event === 'ready') {
          cleanup();
          resolve(event);
        } else if (event.event === 'exit') {
          fail(`exited with code ${String(event.code)} signal ${String(event.signal)}`);
        }
      });
      const cleanup = (): void => {
        clearTimeout(timer);
        off();
        child.off('error', onError);
      };
      child.once('error', onError);
    });
    this.#port = Number(ready.port);
    this.#onvifPort = Number(ready.onvifPort); // restart() binds the same one again
  }

  #keepStderr(line: string): void {
    this.#stderrTail.push(line);
    if (this.#stderrTail.length > STDERR_TAIL_LINES) this.#stderrTail.shift();
  }

  async #terminate(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#stopping ??= (async () => {
      // pid is undefined when spawning failed: there is nothing to wait for.
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(killer);
      }
      this.#child = null;
      this.#stopping = null;
    })();
    await this.#stopping;
  }
}

/** Applies defaults, validates, and fills `clip` (generating clips as needed). */
async function resolveCameras(options: CameraSimulatorOptions): Promise<ResolvedSimCamera[]> {
  if (options.cameras.length === 0) throw new Error('camsim: no cameras');
  const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
  const ffmpegPath = options.ffmpegPath ?? DEFAULT_FFMPEG;
  const seconds = options.clipSeconds ?? 4;
  const seen = new Set<string>();
  const digestPasswords = new Map<string, string>();
  const clips = new Map<string, string>();
  const cameras: ResolvedSimCamera[] = [];

  for (const spec of options.cameras) {
    const id = spec.id;
    if (!ID_PATTERN.test(id)) throw new Error(`camsim: camera id '${id}' must match ${ID_PATTERN}`);
    if (seen.has(id)) throw new Error(`camsim: duplicate camera id '${id}'`);
    seen.add(id);
    const fps = spec.fps ?? 25;
    const params: SimClipParams = {
      codec: spec.codec ?? 'h264',
      profile: spec.profile ?? (spec.clock ? 'baseline' : 'main'),
      width: spec.width ?? 640,
      height: spec.height ?? 360,
      fps,
      gop: spec.gop ?? fps,
      bitrateKbps: spec.bitrateKbps ?? 1000,
      label: spec.label ?? id,
      seconds,
    };
    validateParams(id, params);
    const auth = spec.auth ?? null;
    if (auth) {
      if (auth.method !== 'basic' && auth.method !== 'digest') {
        throw new Error(`camsim: ${id}: auth method must be basic or digest`);
      }
      if (!auth.user) throw new Error(`camsim: ${id}: auth user is empty`);
      // gst-rtsp-server keys digest credentials by user name alone.
      if (auth.method === 'digest' && (digestPasswords.get(auth.user) ?? auth.password) !== auth.password) {
        throw new Error(`camsim: digest user '${auth.user}' has different passwords on two cameras`);
      }
      if (auth.method === 'digest') digestPasswords.set(auth.user, auth.password);
    }
    const audio = spec.audio ?? false;
    if (audio !== false && audio !== 'pcmu' && audio !== 'pcma') {
      throw new Error(`camsim: ${id}: audio must be false, 'pcmu' or 'pcma'`);
    }
    if (spec.clock && (params.codec !== 'h264' || audio !== false || spec.clip)) {
      throw new Error(`camsim: ${id}: a clock camera is H.264 without audio or clip`);
    }
    // Three rows of width/16 blocks, then a moving bar and noise below them (see camsim.py).
    const block = Math.floor(params.width / 16);
    if (spec.clock && (params.width < 128 || params.height < Math.floor(block / 2) + 4 * block + 8)) {
      throw new Error(`camsim: ${id}: a clock camera needs width ≥ 128 and height ≥ 4.5 × width / 16 + 8`);
    }
    if (spec.keyframeOnRequest !== undefined && (!spec.clock || typeof spec.keyframeOnRequest !== 'boolean')) {
      throw new Error(`camsim: ${id}: keyframeOnRequest is a boolean, for clock cameras`);
    }
    if (spec.inbandParameterSets === false && (params.codec !== 'h264' || spec.clock)) {
      throw new Error(`camsim: ${id}: inbandParameterSets: false is for H.264 clip cameras`);
    }
    if (spec.rtpMtu !== undefined && !(Number.isInteger(spec.rtpMtu) && spec.rtpMtu >= 200 && spec.rtpMtu <= 65000)) {
      throw new Error(`camsim: ${id}: rtpMtu must be an integer from 200 to 65000`);
    }
    const transports = resolveTransports(id, spec.transports);
    const bframes = spec.bframes ?? 0;
    if (!(Number.isInteger(bframes) && bframes >= 0 && bframes <= 4)) {
      throw new Error(`camsim: ${id}: bframes must be an integer from 0 to 4`);
    }
    if (bframes > 0 && (params.codec !== 'h264' || spec.clock || spec.clip || params.profile === 'baseline')) {
      throw new Error(`camsim: ${id}: bframes is for generated H.264 clips with profile main or high`);
    }
    cameras.push({
      id,
      codec: params.codec,
      profile: params.profile,
      width: params.width,
      height: params.height,
      fps: params.fps,
      gop: params.gop,
      bitrateKbps: params.bitrateKbps,
      audio,
      auth,
      clip: spec.clip ?? '',
      label: params.label,
      ...(spec.clock ? { clock: true } : {}),
      ...(spec.clock && spec.keyframeOnRequest === false ? { keyframeOnRequest: false as const } : {}),
      ...(spec.inbandParameterSets === false ? { inbandParameterSets: false } : {}),
      ...(spec.rtpMtu !== undefined ? { rtpMtu: spec.rtpMtu } : {}),
      ...(transports ? { transports } : {}),
      ...(bframes ? { bframes } : {}),
      ...(spec.onvif === false ? { onvif: false as const } : {}),
    });
  }
  resolveOnvifSubs(options.cameras, cameras);

  // Sequential on purpose: encodes are CPU-heavy and the cache dedupes repeats.
  for (const camera of cameras) {
    if (camera.clock) continue; // encoded live by camsim.py
    if (camera.clip) {
      await access(camera.clip).catch(() => {
        throw new Error(`camsim: ${camera.id}: clip ${camera.clip} not readable`);
      });
      continue;
    }
    const { fps, gop, codec, profile, width, height, bitrateKbps, label, bframes } = camera;
    const params: SimClipParams = { codec, profile, width, height, fps, gop, bitrateKbps, label, seconds };
    if (bframes) params.bframes = bframes;
    const key = clipFileName(params);
    const clip = clips.get(key) ?? (await ensureClip(params, cacheDir, ffmpegPath));
    clips.set(key, clip);
    camera.clip = clip;
  }
  return cameras;
}

/** Fills each camera's onvifSub: as given (another camera's id), else `<id>--sub` when that exists. */
function resolveOnvifSubs(specs: readonly SimCameraSpec[], cameras: ResolvedSimCamera[]): void {
  const ids = new Set(cameras.map((c) => c.id));
  for (const [i, spec] of specs.entries()) {
    const camera = cameras[i] as ResolvedSimCamera;
    if (spec.onvif !== undefined && typeof spec.onvif !== 'boolean') {
      throw new Error(`camsim: ${camera.id}: onvif is a boolean`);
    }
    if (spec.onvifSub !== undefined && (spec.onvifSub === camera.id || !ids.has(spec.onvifSub))) {
      throw new Error(`camsim: ${camera.id}: onvifSub must name another camera of the simulator`);
    }
    const sub = spec.onvifSub ?? (ids.has(`${camera.id}--sub`) ? `${camera.id}--sub` : undefined);
    if (sub !== undefined && camera.onvif !== false) camera.onvifSub = sub;
  }
}

/** The transports a camera accepts, or undefined for the default (both). */
function resolveTransports(id: string, transports: readonly SimTransport[] | undefined): SimTransport[] | undefined {
  if (transports === undefined) return undefined;
  const valid =
    Array.isArray(transports) &&
    transports.length > 0 &&
    transports.every((t) => t === 'tcp' || t === 'udp') &&
    new Set(transports).size === transports.length;
  if (!valid) throw new Error(`camsim: ${id}: transports must be a non-empty list of 'tcp' and 'udp' without repeats`);
  return transports.length === 2 ? undefined : [...transports];
}

function validateParams(id: string, p: SimClipParams): void {
  const positiveInt = (name: string, v: number, max: number): void => {
    if (!Number.isInteger(v) || v < 1 || v > max) {
      throw new Error(`camsim: ${id}: ${name} must be an integer in 1..${max}, got ${v}`);
    }
  };
  positiveInt('width', p.width, 7680);
  positiveInt('height', p.height, 4320);
  positiveInt('fps', p.fps, 120);
  positiveInt('gop', p.gop, 1000);
  positiveInt('bitrateKbps', p.bitrateKbps, 100_000);
  if (p.width % 2 || p.height % 2) throw new Error(`camsim: ${id}: width and height must be even (4:2:0)`);
  if (p.codec !== 'h264' && p.codec !== 'h265') throw new Error(`camsim: ${id}: codec must be h264 or h265`);
  if (!['baseline', 'main', 'high'].includes(p.profile)) {
    throw new Error(`camsim: ${id}: profile must be baseline, main or high`);
  }
  if (p.codec === 'h265' && p.profile !== 'main') {
    throw new Error(`camsim: ${id}: H.265 supports only profile 'main', got '${p.profile}'`);
  }
}

/** Cache file name: every encoding parameter plus a hash of the label (B-frames only when non-zero). */
export function clipFileName(p: SimClipParams): string {
  const labelHash = createHash('sha256').update(p.label).digest('hex').slice(0, 10);
  const ext = p.codec === 'h265' ? 'h265' : 'h264';
  // No B-frame part without B-frames: names of clips cached before the option stay valid.
  const bframes = p.bframes ? `-bf${p.bframes}` : '';
  return (
    `v${CLIP_FORMAT_VERSION}-${p.codec}-${p.profile}-${p.width}x${p.height}-${p.fps}fps-g${p.gop}${bframes}` +
    `-${p.bitrateKbps}k-${p.seconds}s-${labelHash}.${ext}`
  );
}

/** Returns the cached clip for `params`, encoding it with FFmpeg first if missing. */
export async function ensureClip(
  params: SimClipParams,
  cacheDir: string,
  ffmpegPath = DEFAULT_FFMPEG,
): Promise<string> {
  const path = join(cacheDir, clipFileName(params));
  const existing = await stat(path).catch(() => null);
  if (existing && existing.size > 0) return path;
  await mkdir(cacheDir, { recursive: true });
  // Write aside and rename so concurrent runs never read a half-written clip.
  const partial = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.part`;
  const font = await access(FONT_FILE).then(
    () => FONT_FILE,
    () => undefined,
  );
  try {
    try {
      await run(ffmpegPath, clipArgs(params, partial, { text: true, font }));
    } catch {
      // drawtext needs libfreetype and a font; moving content alone still looks alive.
      await run(ffmpegPath, clipArgs(params, partial, { text: false }));
    }
    await rename(partial, path);
  } catch (err) {
    await rm(partial, { force: true });
    throw new Error(`camsim: cannot encode clip ${path}: ${(err as Error).message}`);
  }
  return path;
}

/**
 * FFmpeg arguments for a looping clip: whole closed GOPs, IDR-only keyframes, headers on every IDR,
 * no B-frames unless `bframes` (then a fixed pattern of that many, without pyramid).
 */
function clipArgs(p: SimClipParams, out: string, overlay: { text: boolean; font?: string | undefined }): string[] {
  const frames = p.gop * Math.max(1, Math.round((p.seconds * p.fps) / p.gop));
  const rate = `${p.bitrateKbps}k`;
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y'];
  args.push('-f', 'lavfi', '-i', `testsrc2=size=${p.width}x${p.height}:rate=${p.fps}`);
  if (overlay.text) {
    // Only characters that need no escaping inside a filter graph.
    const text = `${p.label} ${p.codec} ${p.profile} ${p.width}x${p.height}`.replace(/[^A-Za-z0-9 ._-]/g, '_');
    const size = Math.max(12, Math.round(p.height / 14));
    const font = overlay.font ? `fontfile=${overlay.font}:` : '';
    args.push(
      '-vf',
      `drawtext=${font}text='${text}':x=${size}:y=h-th-${size}:fontsize=${size}` +
        ':fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=6',
    );
  }
  args.push('-frames:v', String(frames), '-an', '-pix_fmt', 'yuv420p');
  args.push('-b:v', rate, '-maxrate', rate, '-bufsize', rate);
  const bframes = p.codec === 'h264' ? (p.bframes ?? 0) : 0;
  args.push('-g', String(p.gop), '-keyint_min', String(p.gop), '-sc_threshold', '0', '-bf', String(bframes));
  if (p.codec === 'h264') {
    args.push('-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', p.profile);
    // b-adapt=0: every run of B-frames as long as asked, like a camera's fixed GOP structure.
    const reorder = bframes ? ':b-pyramid=none:b-adapt=0' : '';
    args.push('-x264-params', `repeat-headers=1:scenecut=0:open-gop=0${reorder}`, '-f', 'h264', out);
  } else {
    args.push('-c:v', 'libx265', '-preset', 'veryfast', '-profile:v', 'main');
    args.push(
      '-x265-params',
      `keyint=${p.gop}:min-keyint=${p.gop}:scenecut=0:bframes=0:open-gop=0:repeat-headers=1:log-level=error`,
      '-f',
      'hevc',
      out,
    );
  }
  return args;
}

function run(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    tiedExecFile(file, args, { timeout: 180_000, maxBuffer: 4 << 20 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${err.message.split('\n')[0]}\n${String(stderr).trim().slice(-2000)}`));
      else resolve();
    });
  });
}
