// Asks one stream variant's camera for a keyframe through ONVIF Media SetSynchronizationPoint
// (Profile S requires it), for cameras that send an IDR only every few seconds and ignore RTCP PLI.
// Coalesces bursts, learns the profile token once, and remembers a camera that fails for a while.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { CameraConfig } from '../../../config/schema.js';
import {
  classifyAnswer,
  getProfilesBody,
  type OnvifFailureReason,
  type OnvifOperation,
  type OnvifTarget,
  onvifAction,
  onvifSecrets,
  onvifTarget,
  parseProfileTokens,
  setSynchronizationPointBody,
  soapEnvelope,
  wsCreated,
} from './onvif.js';
import { redact } from './secrets.js';

export interface OnvifKeyframesOptions extends OnvifTarget {
  logger: Logger;
  /**
   * Requests within this of a call's start are merged into one; default 600: a join brings two or
   * three keyframe requests (the consumer's resume, its transport connecting, the browser's own)
   * and a camera forces at most about two IDRs a second.
   */
  coalesceMs?: number;
  /** After a camera fails (no answer, a fault, no ONVIF), it is not asked again for this long; default 300 000. */
  retryMs?: number;
  /** After the camera refuses the credentials: first pause, doubling per refusal up to the max (cameras lock accounts); default 300 000 and 3 600 000. */
  authRetryMs?: number;
  authRetryMaxMs?: number;
}

export interface OnvifKeyframesEvents {
  /** SetSynchronizationPoint answered with success; `ms` since the call started (GetProfiles included). */
  sent: [{ ms: number; profileToken: string }];
  /** A call failed; the camera is not asked again for `retryInMs`. */
  failed: [{ reason: OnvifFailureReason; retryInMs: number }];
  /** A request() that made no call: merged into another one, or within a failure's pause. */
  skipped: [{ reason: 'coalesced' | 'backoff' }];
}

class OnvifCallError extends Error {
  constructor(
    readonly reason: OnvifFailureReason,
    message: string,
  ) {
    super(message);
  }
}

const MAX_ANSWER_CHARS = 1 << 20;
// A camera clock this far off (its HTTP Date) would fail the digest's Created check: follow it.
const CLOCK_SKEW_FOLLOW_MS = 5000;

export class OnvifKeyframes {
  readonly observer = new EventEmitter<OnvifKeyframesEvents>();
  readonly #secrets: string[];
  #profileToken: string | undefined;
  #inFlight = false;
  #windowUntil = Number.NEGATIVE_INFINITY;
  #trailing: NodeJS.Timeout | null = null;
  #blockedUntil = Number.NEGATIVE_INFINITY;
  #authRefusals = 0;
  #clockOffsetMs = 0;
  #state: 'unknown' | 'ok' | OnvifFailureReason = 'unknown';
  #abort: AbortController | null = null;
  #closed = false;

  constructor(readonly opts: OnvifKeyframesOptions) {
    this.#profileToken = opts.profileToken;
    this.#secrets = opts.password ? [opts.password, JSON.stringify(opts.password).slice(1, -1)] : [];
  }

  /**
   * For `variant` of `camera`, or undefined when the camera has no ONVIF configured. `logger`: the
   * variant's (its { stream, variant } bindings); `overrides` e.g. shorter pauses in tests.
   */
  static fromCamera(
    camera: CameraConfig,
    variant: 'main' | 'sub',
    logger: Logger,
    overrides: Partial<Omit<OnvifKeyframesOptions, keyof OnvifTarget | 'logger'>> = {},
  ): OnvifKeyframes | undefined {
    const target = onvifTarget(camera, variant);
    if (!target) return undefined;
    const k = new OnvifKeyframes({ ...target, ...overrides, logger });
    k.#secrets.push(...onvifSecrets(camera));
    return k;
  }

  /** The profile token in use: configured or learnt; undefined before the first GetProfiles. */
  get profileToken(): string | undefined {
    return this.#profileToken;
  }

  /** 'ok' after a success, the reason of the last failure after one, 'unknown' before any call. */
  get state(): 'unknown' | 'ok' | OnvifFailureReason {
    return this.#state;
  }

  /**
   * Asks the camera for a keyframe soon; never throws, never waits. At most one call is in flight: a
   * request during it, or within coalesceMs of its start, is merged into it while its answer is not
   * in, else into one call at the end of that window. Within the pause after a failure: nothing.
   */
  request(): void {
    if (this.#closed) return;
    const now = performance.now();
    if (now < this.#blockedUntil) {
      this.observer.emit('skipped', { reason: 'backoff' });
      return;
    }
    if (this.#inFlight) {
      this.observer.emit('skipped', { reason: 'coalesced' }); // the IDR it triggers serves this one too
      return;
    }
    if (now < this.#windowUntil) {
      this.observer.emit('skipped', { reason: 'coalesced' });
      // The earlier call was answered: its IDR may be gone by now, so one more at the window's end.
      this.#trailing ??= setTimeout(() => {
        this.#trailing = null;
        this.request();
      }, this.#windowUntil - now).unref();
      return;
    }
    void this.#send(now);
  }

  /** Stops: a call in flight is aborted (no event), later requests do nothing. Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#trailing) clearTimeout(this.#trailing);
    this.#trailing = null;
    this.#abort?.abort();
  }

  async #send(startedAt: number): Promise<void> {
    this.#inFlight = true;
    this.#windowUntil = startedAt + (this.opts.coalesceMs ?? 600);
    const abort = new AbortController();
    this.#abort = abort;
    let token = this.#profileToken;
    try {
      if (token === undefined) {
        const tokens = parseProfileTokens(await this.#call('GetProfiles', getProfilesBody(), abort.signal));
        token = tokens[this.opts.profileIndex];
        if (token === undefined) {
          throw new OnvifCallError(
            tokens.length ? 'no-profile' : 'bad-answer',
            `GetProfiles listed ${tokens.length} profile(s), profile ${this.opts.profileIndex + 1} wanted`,
          );
        }
        this.#profileToken = token;
      }
      await this.#call('SetSynchronizationPoint', setSynchronizationPointBody(token), abort.signal);
      if (!this.#closed) this.#succeeded(performance.now() - startedAt, token);
    } catch (err) {
      if (this.#closed) return;
      const e = err instanceof OnvifCallError ? err : new OnvifCallError('unreachable', (err as Error).message);
      // A learnt token the camera no longer knows (profiles changed): learn it again next time.
      if (e.reason === 'no-profile' && this.opts.profileToken === undefined) this.#profileToken = undefined;
      this.#failed(e);
    } finally {
      this.#inFlight = false;
      this.#abort = null;
    }
  }

  async #call(op: OnvifOperation, body: string, signal: AbortSignal): Promise<string> {
    const { url, user, password, timeoutMs } = this.opts;
    const auth =
      user !== undefined
        ? {
            user,
            password: password ?? '',
            nonce: randomBytes(16),
            created: wsCreated(new Date(Date.now() + this.#clockOffsetMs)),
          }
        : undefined;
    let status: number;
    let xml: string;
    // Our own timer, not AbortSignal.any([signal, AbortSignal.timeout()]): on Node 20 the timeout
    // signal inside any() can be garbage collected before it fires, and the call then never ends.
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, timeoutMs);
    const stop = () => ctl.abort();
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) ctl.abort();
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': `application/soap+xml; charset=utf-8; action="${onvifAction(op)}"` },
        body: soapEnvelope(body, auth),
        redirect: 'error',
        signal: ctl.signal,
      });
      this.#followClock(res.headers.get('date'));
      status = res.status;
      xml = await res.text();
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (timedOut) throw new OnvifCallError('timeout', `${op}: no answer within ${timeoutMs} ms`);
      throw new OnvifCallError('unreachable', `${op}: ${e.cause?.code ?? e.cause?.message ?? e.message}`);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
    }
    if (xml.length > MAX_ANSWER_CHARS) throw new OnvifCallError('bad-answer', `${op}: answer over 1 MiB`);
    const answer = classifyAnswer(status, xml);
    if (!answer.ok) throw new OnvifCallError(answer.reason, `${op}: ${answer.detail}`);
    return xml;
  }

  #followClock(date: string | null): void {
    const at = date ? Date.parse(date) : Number.NaN;
    if (Number.isNaN(at)) return;
    const offset = at - Date.now();
    this.#clockOffsetMs = Math.abs(offset) > CLOCK_SKEW_FOLLOW_MS ? offset : 0;
  }

  #succeeded(ms: number, profileToken: string): void {
    this.#authRefusals = 0;
    this.observer.emit('sent', { ms, profileToken });
    if (this.#state === 'ok') return;
    const again = this.#state !== 'unknown';
    this.#state = 'ok';
    this.opts.logger.info(
      { profileToken, ms: Math.round(ms) },
      again ? 'ONVIF keyframe requests work again' : 'ONVIF keyframe requests work',
    );
  }

  #failed(err: OnvifCallError): void {
    const { reason } = err;
    let retryInMs = this.opts.retryMs ?? 300_000;
    if (reason === 'unauthorized') {
      const initial = this.opts.authRetryMs ?? 300_000;
      retryInMs = Math.min(initial * 2 ** this.#authRefusals, this.opts.authRetryMaxMs ?? 3_600_000);
      this.#authRefusals++;
    }
    this.#blockedUntil = performance.now() + retryInMs;
    this.observer.emit('failed', { reason, retryInMs });
    const fields = {
      reason,
      url: this.opts.url,
      detail: redact(err.message, this.#secrets),
      retryInSec: Math.round(retryInMs / 1000),
    };
    if (this.#state === reason) {
      this.opts.logger.debug(fields, 'ONVIF keyframe request failed again');
      return;
    }
    this.#state = reason;
    this.opts.logger.warn(fields, 'ONVIF keyframe request failed; not asking this camera again for a while');
  }
}
