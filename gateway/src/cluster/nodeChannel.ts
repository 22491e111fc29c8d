// Node-to-node requests: JSON over HTTP to the other node's internal URL, each signed with the cluster
// secret (HMAC-SHA256 over time, method, path and body), so nothing without the secret can make a
// node open pipes. A signature is good for 30 s: a recorded request cannot be replayed later.
import crypto from 'node:crypto';
import { GatewayError } from '../../../signaling/src/errors.js';

export const SIGNATURE_HEADER = 'x-cctv-node-signature';
const MAX_SKEW_MS = 30_000;

const mac = (secret: string, ts: number, method: string, path: string, body: string) =>
  crypto.createHmac('sha256', secret).update(`${ts}\n${method.toUpperCase()}\n${path}\n${body}`).digest('hex');

export function sign(secret: string, method: string, path: string, body: string, now = Date.now()): string {
  return `v1 ${now} ${mac(secret, now, method, path, body)}`;
}

/** Why a node request is refused, or undefined when its signature holds. */
export function refusal(
  secret: string,
  header: string | undefined,
  method: string,
  path: string,
  body: string,
  now = Date.now(),
): string | undefined {
  if (!header) return 'no node signature';
  const [v, tsText, given] = header.split(' ');
  const ts = Number(tsText);
  if (v !== 'v1' || !Number.isFinite(ts) || !given || !/^[0-9a-f]{64}$/.test(given)) return 'malformed node signature';
  if (Math.abs(now - ts) > MAX_SKEW_MS) return 'node signature too old (clocks more than 30 s apart?)';
  const want = Buffer.from(mac(secret, ts, method, path, body), 'hex');
  return crypto.timingSafeEqual(want, Buffer.from(given, 'hex')) ? undefined : 'node signature does not match';
}

/** A signed request to another node; its error body comes back as a GatewayError. */
export async function callNode<T>(
  secret: string,
  baseUrl: string,
  method: 'POST' | 'DELETE' | 'GET',
  path: string,
  body?: unknown,
  timeoutMs = 5000,
): Promise<T> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const res = await fetch(new URL(path, baseUrl), {
    method,
    headers: {
      [SIGNATURE_HEADER]: sign(secret, method, path, text),
      ...(text ? { 'content-type': 'application/json' } : {}),
    },
    ...(text ? { body: text } : {}),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const answer = res.status === 204 ? undefined : ((await res.json()) as unknown);
  if (!res.ok) {
    const e = (answer as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new GatewayError(
      (e?.code as GatewayError['code'] | undefined) ?? 'E_UNAVAILABLE',
      `node ${baseUrl}: ${e?.message ?? `HTTP ${res.status}`}`,
    );
  }
  return answer as T;
}
