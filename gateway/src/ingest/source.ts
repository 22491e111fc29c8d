// The contract every ingest path keeps: it runs once (one FFmpeg process, one RTSP session) and sends
// through the tracks' RtpForwarders; superviseIngest() wraps it in the gateway's one Supervisor.
import { type Run, type RunEnd, Supervisor } from '../core/Supervisor.js';
import type { FailureReason } from './ffmpegArgs.js';

export type RestartReason = FailureReason | 'stall' | 'stopped';

export interface IngestSource {
  /** Starts one run: an FFmpeg process or an RTSP session. A rejection is a run that failed at once. */
  run(): Promise<Run<RestartReason>>;
  /** The running FFmpeg's pid (FFmpeg path only). */
  readonly pid?: number | undefined;
  /** Releases what outlives runs (a kept connection, receive sockets); never the forwarders. */
  close(): Promise<void>;
}

/** How long a run must last for the next failure to restart it quickly again. */
export const HEALTHY_RUN_MS = 10_000;

/** An error that says why a run could not start (e.g. 'auth' when the camera refused the password). */
export function failureOf(err: unknown): RestartReason {
  const f = (err as { failure?: unknown } | null)?.failure ?? (err as { reason?: unknown } | null)?.reason;
  return typeof f === 'string' && (FAILURES as readonly string[]).includes(f) ? (f as RestartReason) : 'exit';
}
const FAILURES = ['auth', 'not_found', 'unreachable', 'timeout', 'bad_stream', 'exit'] as const;

export function superviseIngest(
  source: IngestSource,
  backoff: { backoffInitialMs: number; backoffMaxMs: number },
  delayFor?: (end: RunEnd<RestartReason>) => number | undefined,
): Supervisor<RestartReason> {
  return new Supervisor<RestartReason>({
    run: () => source.run(),
    startFailure: (err) => ({ reason: failureOf(err), message: err.message }),
    ...(delayFor ? { delayFor } : {}),
    backoffInitialMs: backoff.backoffInitialMs,
    backoffMaxMs: backoff.backoffMaxMs,
    healthyAfterMs: HEALTHY_RUN_MS,
  });
}
