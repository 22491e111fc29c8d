// TURN credentials per viewer, coturn's shared-secret REST scheme (`use-auth-secret`): the username
// is `<expiry unix seconds>:<viewer sub>` and the password base64(HMAC-SHA1(secret, username)). coturn
// recomputes it from the same secret, so nothing is stored; the secret itself never leaves the gateway
// (not in answers, logs or metrics), only the derived, short-lived credential does.
import { createHmac } from 'node:crypto';
import type { IceServer } from '../../../signaling/src/protocol.js';

export interface TurnSettings {
  urls: string[];
  secret: string;
  ttlSec: number;
}

/** The config's `turn` as the viewers use it: undefined without TURN urls; refuses urls without a secret. */
export function turnSettings(turn: {
  urls: string[];
  secret?: string | undefined;
  ttlSec: number;
}): TurnSettings | undefined {
  if (turn.urls.length === 0) return undefined;
  if (!turn.secret) throw new Error('turn.urls is set but turn.secret (env CCTV_TURN_SECRET) is not');
  return { urls: turn.urls, secret: turn.secret, ttlSec: turn.ttlSec };
}

/**
 * The TURN entry of `iceServers` for the viewer `sub`, valid `ttlSec` from `nowMs`. A ':' in the sub
 * would be read by coturn as the end of the timestamp part only at the first ':', so it is kept as is.
 */
export function turnCredential(settings: TurnSettings, sub: string, nowMs = Date.now()): IceServer {
  const expiry = Math.floor(nowMs / 1000) + settings.ttlSec;
  const username = `${expiry}:${sub}`;
  const credential = createHmac('sha1', settings.secret).update(username).digest('base64');
  return { urls: settings.urls, username, credential };
}
