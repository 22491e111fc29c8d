// One error type with a stable code and an HTTP status, mapped in one place for HTTP and WebSocket.
export type ErrorCode =
  | 'E_BAD_REQUEST'
  | 'E_BAD_JSON'
  | 'E_UNKNOWN_METHOD'
  | 'E_TOO_LARGE'
  | 'E_LIMIT'
  | 'E_UNAUTHENTICATED'
  | 'E_AUTH_EXPIRED'
  | 'E_FORBIDDEN'
  | 'E_FORBIDDEN_STREAM'
  | 'E_FORBIDDEN_ORIGIN'
  | 'E_NOT_FOUND'
  | 'E_RATE_LIMITED'
  | 'E_CAPACITY'
  | 'E_UNSUPPORTED'
  | 'E_STREAM_OFFLINE'
  | 'E_SIGNIN_FAILED'
  | 'E_LOCKED'
  | 'E_UNAVAILABLE'
  | 'E_NO_PICTURE'
  | 'E_INTERNAL';

const STATUS: Record<ErrorCode, number> = {
  E_BAD_REQUEST: 400,
  E_BAD_JSON: 400,
  E_UNKNOWN_METHOD: 400,
  E_TOO_LARGE: 413,
  E_LIMIT: 429,
  E_UNAUTHENTICATED: 401,
  E_AUTH_EXPIRED: 401,
  E_FORBIDDEN: 403,
  E_FORBIDDEN_STREAM: 403,
  E_FORBIDDEN_ORIGIN: 403,
  E_NOT_FOUND: 404,
  E_RATE_LIMITED: 429,
  E_CAPACITY: 503,
  E_UNSUPPORTED: 422,
  E_STREAM_OFFLINE: 503,
  E_SIGNIN_FAILED: 401,
  E_LOCKED: 429,
  E_UNAVAILABLE: 503,
  E_NO_PICTURE: 503,
  E_INTERNAL: 500,
};

export class GatewayError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** A finer machine-readable cause, e.g. why a token was rejected. */
    readonly reason?: string,
  ) {
    super(message);
    this.status = STATUS[code];
  }
}

export interface PublicError {
  code: ErrorCode;
  message: string;
  reason?: string;
}

/** What a client may see of any error: internal details stay in the log. */
export function publicError(err: unknown): PublicError {
  if (err instanceof GatewayError)
    return { code: err.code, message: err.message, ...(err.reason ? { reason: err.reason } : {}) };
  return { code: 'E_INTERNAL', message: 'internal error; it has been logged' };
}
