// <cctv-player stream="kel-sekip-jaya" token="..." gateway="https://cctv.example"> — one live camera
// for other government apps (OPD apps). Shipped as one ES module (/cctv-player.js) with
// mediasoup-client bundled. Its own WebSocket to the gateway reconnects with backoff (gateway restart,
// network change) and plays again without a page reload. The camera's snapshot shows until live
// video has its first frame (the gateway's snapshot API, with the element's token). API: web-client/README.md.
import { GatewayClient, GatewayError, type Latency, toLatency, type Variant } from './GatewayClient.js';
import { LivePlayer, type PlayerProbe, type PlayerState } from './LivePlayer.js';
import { errorText, isAuthEnded } from './labels.js';
import type { PosterProbe } from './Poster.js';
import { snapshotSource } from './snapshot.js';
import { STAGE_CSS, Stage } from './stage.js';
import type { StatsSnapshot } from './stats.js';

const HOST_CSS = `
:host{display:block;position:relative;contain:content;min-width:160px;color-scheme:dark}
:host([hidden]){display:none}
:host([fill]){width:100%;height:100%}
:host([fill]) .stage{aspect-ratio:auto;height:100%;border-radius:0;box-shadow:none}
.brand{position:absolute;z-index:3;left:.7rem;bottom:.6rem;font:600 11px/1 system-ui,sans-serif;letter-spacing:.06em;text-transform:uppercase;color:rgba(255,255,255,.72);text-shadow:0 1px 2px #000;pointer-events:none}
.brand b{color:#f2c55c;font-weight:700}
`;

/** detail of the `cctv-auth-expired` event (no token or other secret in it). */
export interface AuthExpiredDetail {
  stream: string;
  /** E_AUTH_EXPIRED or E_UNAUTHENTICATED */
  code: string;
  /** The gateway's finer cause when it said one: 'expired', 'signed_out', 'revoked', 'disabled', ... */
  reason: string | null;
}

/** A player stopped without a reason yet waits this long for the gateway's authExpired notice (it has one). */
const AUTH_REASON_WAIT_MS = 300;

/** The module's own origin: where the gateway serves /cctv-player.js. */
const OWN_ORIGIN = (() => {
  try {
    return new URL(import.meta.url).origin;
  } catch {
    return location.origin;
  }
})();

export class CctvPlayerElement extends HTMLElement {
  static observedAttributes = ['stream', 'token', 'gateway', 'variant', 'stats', 'latency', 'autoplay'];
  #client: GatewayClient | undefined;
  #player: LivePlayer | undefined;
  #stage: Stage | undefined;
  #offClient: (() => void)[] = [];
  #wantPlay = false;
  #settingToken = false;
  #name: string | null = null;
  /** cctv-auth-expired was dispatched for the current token (once until a new token). */
  #authEndSent = false;
  #authEndTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #video: HTMLVideoElement;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    this.#video = document.createElement('video');
    const style = document.createElement('style');
    style.textContent = STAGE_CSS + HOST_CSS;
    root.append(style);
  }

  // ---- attributes as properties ----
  get stream(): string {
    return this.getAttribute('stream') ?? '';
  }
  set stream(v: string) {
    this.setAttribute('stream', v);
  }
  get gateway(): string {
    return this.getAttribute('gateway') || OWN_ORIGIN;
  }
  set gateway(v: string) {
    this.setAttribute('gateway', v);
  }
  get variant(): Variant {
    return this.getAttribute('variant') === 'sub' ? 'sub' : 'main';
  }
  set variant(v: Variant) {
    this.setAttribute('variant', v);
  }
  get token(): string {
    return this.getAttribute('token') ?? '';
  }
  set token(v: string) {
    this.setAttribute('token', v);
  }
  /** 'smooth' (default) or 'low': what the player asks the gateway for (a new connection when it changes). */
  get latency(): Latency {
    return toLatency(this.getAttribute('latency'));
  }
  set latency(v: Latency) {
    this.setAttribute('latency', toLatency(v));
  }
  /** The stats overlay is shown (the `stats` attribute); the numbers themselves: getStats(). */
  get stats(): boolean {
    return this.hasAttribute('stats');
  }
  set stats(on: boolean) {
    this.toggleAttribute('stats', !!on);
  }
  /** Fills the element's box instead of full width at 16:9 (the `fill` attribute). */
  get fill(): boolean {
    return this.hasAttribute('fill');
  }
  set fill(on: boolean) {
    this.toggleAttribute('fill', !!on);
  }
  /** Plays on connect (default); false is `autoplay="false"`: wait for play(). Setting it true plays. */
  get autoplay(): boolean {
    return this.getAttribute('autoplay') !== 'false';
  }
  set autoplay(on: boolean) {
    if (on) this.removeAttribute('autoplay');
    else this.setAttribute('autoplay', 'false');
  }

  // ---- read-only state ----
  /** connecting | starting | live | stalled | offline | reconnecting | forbidden | error | stopped | idle */
  get state(): PlayerState {
    return this.#player?.state ?? 'idle';
  }
  /** The last error ({code, message}) or null. */
  get error(): { code: string; message: string } | null {
    const p = this.#player;
    return p?.probe.error
      ? { code: p.probe.error, message: errorText(p.probe.error, p.errorMessage ?? undefined) }
      : null;
  }
  get framesDecoded(): number {
    return this.#player?.probe.framesDecoded ?? 0;
  }
  /** The office name the gateway lists for this stream (null until known). */
  get streamName(): string | null {
    return this.#name;
  }
  /** The same probe the gateway's own pages expose as window.cctvPlayer. */
  get probe(): PlayerProbe | null {
    return this.#player?.probe ?? null;
  }
  /** What the poster (the snapshot shown until live video comes) did: the same as window.cctvPoster. */
  get poster(): PosterProbe | null {
    return this.#stage?.poster.probe ?? null;
  }
  /** The <video> inside (e.g. for picture-in-picture). */
  get video(): HTMLVideoElement {
    return this.#video;
  }

  connectedCallback(): void {
    this.#ensure();
    if (this.autoplay && this.stream) void this.play();
  }

  disconnectedCallback(): void {
    // Moved within the document: connectedCallback follows at once; otherwise stop and hang up.
    queueMicrotask(() => {
      if (!this.isConnected) this.#teardownClient();
    });
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null): void {
    if (old === value || !this.#player) return;
    switch (name) {
      case 'stream':
      case 'variant':
        if (this.#wantPlay) void this.play();
        break;
      case 'latency':
        if (toLatency(old) === toLatency(value)) break;
        this.#teardownClient();
        this.#ensure();
        if (this.#wantPlay) void this.play();
        break;
      case 'gateway':
        this.#teardownClient();
        this.#ensure();
        if (this.#wantPlay) void this.play();
        break;
      case 'token':
        if (value && !this.#settingToken) void this.#applyToken(value);
        break;
      case 'stats':
        this.#stage?.toggleStats(value !== null);
        break;
      case 'autoplay':
        if (this.autoplay && !this.#wantPlay && this.isConnected && this.stream) void this.play();
        break;
    }
  }

  #ensure(): void {
    if (this.#player) return;
    const client = new GatewayClient(GatewayClient.defaultUrl(this.gateway), this.token, {
      latency: toLatency(this.getAttribute('latency')),
    });
    this.#client = client;
    const player = new LivePlayer(client, this.#video);
    this.#player = player;
    const stage = new Stage(player, {
      title: this.stream,
      snapshots: snapshotSource({ base: this.gateway, token: () => this.token }),
    });
    this.#stage = stage;
    const root = this.shadowRoot as ShadowRoot;
    root.querySelector('.stage')?.remove();
    root.querySelector('.brand')?.remove();
    stage.el.append(
      Object.assign(document.createElement('div'), { className: 'brand', innerHTML: 'CCTV <b>Palembang</b>' }),
    );
    root.append(stage.el);
    if (this.hasAttribute('stats')) stage.toggleStats(true);
    player.addEventListener('error', (ev) => {
      const code = (ev as CustomEvent<{ code?: string }>).detail.code;
      if (isAuthEnded(code)) this.#authEnded(code as string, player.probe.reason);
    });
    for (const name of ['statechange', 'playing', 'stalled', 'offline', 'error']) {
      player.addEventListener(name, (ev) => {
        this.dispatchEvent(
          new CustomEvent(name, {
            detail: (ev as CustomEvent).detail,
            bubbles: name !== 'statechange',
            composed: true,
          }),
        );
      });
    }
    this.#offClient.push(
      client.on('retrying', (d) => this.dispatchEvent(new CustomEvent('reconnecting', { detail: d }))),
      client.on('reconnected', (d) => this.dispatchEvent(new CustomEvent('reconnected', { detail: d }))),
      client.on('authExpired', (d) =>
        this.#authEnded('E_AUTH_EXPIRED', typeof d['reason'] === 'string' ? d['reason'] : null, true),
      ),
    );
  }

  /**
   * Access ended (expired, signed out, revoked): `cctv-auth-expired` once per token. The gateway ends
   * the views first and then says why (authExpired), so a player's error waits briefly for that reason.
   */
  #authEnded(code: string, reason: string | null, notice = false): void {
    if (this.#authEndSent) return;
    const send = (r: string | null) => {
      clearTimeout(this.#authEndTimer);
      this.#authEndTimer = undefined;
      if (this.#authEndSent) return;
      this.#authEndSent = true;
      const detail: AuthExpiredDetail = {
        stream: this.stream,
        code,
        reason: r ?? (code === 'E_AUTH_EXPIRED' ? 'expired' : null),
      };
      this.dispatchEvent(new CustomEvent('cctv-auth-expired', { detail, bubbles: true, composed: true }));
    };
    if (reason || notice) send(reason);
    else if (!this.#authEndTimer) this.#authEndTimer = setTimeout(() => send(null), AUTH_REASON_WAIT_MS);
  }

  #teardownClient(): void {
    clearTimeout(this.#authEndTimer);
    this.#authEndTimer = undefined;
    for (const off of this.#offClient) off();
    this.#offClient = [];
    this.#player?.dispose();
    this.#client?.close();
    this.#stage?.el.remove();
    this.#player = undefined;
    this.#client = undefined;
    this.#stage = undefined;
  }

  /** Connects if needed and plays `stream`. Errors arrive as 'error' events (and the state). */
  async play(): Promise<void> {
    this.#ensure();
    this.#wantPlay = true;
    const player = this.#player as LivePlayer;
    const client = this.#client as GatewayClient;
    const stream = this.stream;
    if (!stream) {
      player.probe.error = 'E_NO_STREAM';
      this.dispatchEvent(
        new CustomEvent('error', { detail: { code: 'E_NO_STREAM', message: errorText('E_NO_STREAM') } }),
      );
      return;
    }
    if (!this.token) {
      this.#fail('E_UNAUTHENTICATED', 'the token attribute is empty');
      return;
    }
    this.#stage?.setTitle(this.#name && this.#name !== stream ? this.#name : stream);
    const playing = player.play(stream, this.variant);
    try {
      await client.connect();
    } catch {
      return; // the player shows and dispatches the error
    }
    if (this.#name === null) {
      client
        .listStreams()
        .then((list) => {
          const s = list.find((x) => x.id === this.stream);
          this.#name = s?.name ?? null;
          if (s) this.#stage?.setTitle(s.name);
        })
        .catch(() => {});
    }
    await playing;
  }

  #fail(code: string, message: string): void {
    const p = this.#player as LivePlayer;
    p.stop(true);
    p.probe.error = code;
    p.errorMessage = message;
    p.probe.state = 'error';
    this.#stage?.render();
    this.dispatchEvent(new CustomEvent('error', { detail: { code, message: errorText(code, message) } }));
    if (isAuthEnded(code)) this.#authEnded(code, null);
  }

  /** Stops playing and releases the stream at the gateway (the connection stays for a quick play()). */
  stop(): void {
    this.#wantPlay = false;
    this.#player?.stop();
  }

  /**
   * Hands over a fresh token (before the old one expires). The connection keeps its views; a player
   * stopped by an expired or narrower token plays again.
   */
  async setToken(token: string): Promise<void> {
    this.#settingToken = true;
    try {
      this.setAttribute('token', token);
    } finally {
      this.#settingToken = false;
    }
    await this.#applyToken(token);
  }

  async #applyToken(token: string): Promise<void> {
    const client = this.#client;
    const player = this.#player;
    if (!client || !player) return;
    // A new token: a later end is told again.
    this.#authEndSent = false;
    clearTimeout(this.#authEndTimer);
    this.#authEndTimer = undefined;
    try {
      await client.setToken(token);
    } catch (err) {
      const e = err as GatewayError;
      this.dispatchEvent(new CustomEvent('error', { detail: { code: e.code, message: errorText(e.code, e.message) } }));
      if (isAuthEnded(e.code)) this.#authEnded(e.code, e.reason ?? null);
      return;
    }
    if (client.state === 'closed' || ['error', 'forbidden'].includes(player.state)) {
      if (this.#wantPlay) void this.play();
    }
  }

  /** Shows or hides the stats overlay (codec, resolution, fps, bitrate, loss, delay). */
  toggleStats(force?: boolean): void {
    const on = force ?? !(this.#stage?.statsVisible ?? this.stats);
    this.stats = on;
    this.#stage?.toggleStats(on);
  }

  /** Samples statistics now. */
  async getStats(): Promise<StatsSnapshot | null> {
    return this.#player?.stats ?? null;
  }
}

export function defineCctvPlayer(): void {
  if (!customElements.get('cctv-player')) customElements.define('cctv-player', CctvPlayerElement);
}

export { GatewayError };
