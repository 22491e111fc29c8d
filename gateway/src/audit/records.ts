// What the audit trail holds: one JSON object per line, each kind of access its own shape. On disk
// every line also carries `seq`, `prev` and `h` (chain.ts); queries return them as they are.

/** A view that ended (kind absent in records written before the chain existed). */
export interface AuditRecord {
  kind?: 'view';
  /** The view's id: its `view-start` record has the same one. */
  id?: string;
  sub: string;
  role: string;
  stream: string;
  variant: string;
  start: string;
  end: string;
  durationMs: number;
  client: string;
  userAgent: string;
  /** Why it ended: closed_by_viewer, disconnected, auth_expired, shutdown, `gateway crashed`… */
  endReason: string;
}

/** A view that started: written at once, so a crash leaves it (closed as `gateway crashed` on the next start). */
export interface ViewStartRecord {
  kind: 'view-start';
  id: string;
  at: string;
  sub: string;
  role: string;
  stream: string;
  variant: string;
  client: string;
  userAgent: string;
}

/** The view record that closes `start` at `endMs` (ms since epoch) for `endReason`. */
export function viewEnded(start: ViewStartRecord, endMs: number, endReason: string): AuditRecord {
  return {
    kind: 'view',
    id: start.id,
    sub: start.sub,
    role: start.role,
    stream: start.stream,
    variant: start.variant,
    start: start.at,
    end: new Date(endMs).toISOString(),
    durationMs: endMs - Date.parse(start.at),
    client: start.client,
    userAgent: start.userAgent,
    endReason,
  };
}

/** A sign-in, sign-out or refused sign-in: who (as they named themselves), how, from where, the result. */
export interface SignInRecord {
  kind: 'signin' | 'signout';
  at: string;
  /** The account or the provider's subject; for a refused attempt, the name that was tried. */
  sub: string;
  role: string | null;
  via: 'local' | 'oidc';
  /** 'ok', or why not: bad_credentials, disabled, locked, no_role, provider_error… */
  result: string;
  client: string;
  userAgent: string;
}

/** A snapshot (GET /api/streams/:id/snapshot.jpg) served or refused: who, of what, the result. */
export interface SnapshotRecord {
  kind: 'snapshot';
  at: string;
  sub: string;
  role: string;
  stream: string;
  variant: string;
  /** 'ok', or the error code (E_FORBIDDEN_STREAM, E_NO_PICTURE, E_CAPACITY…). */
  result: string;
  client: string;
  userAgent: string;
}

/** A token minted (POST /api/tokens): who minted what scope for whom. */
export interface MintRecord {
  kind: 'mint';
  at: string;
  /** Who minted it. */
  sub: string;
  role: string;
  /** Whom it is for, and what it lets them do. */
  for: string;
  scope: { role: string; streams: string[] };
  ttlSec: number;
  expiresAt: string;
  client: string;
  userAgent: string;
}

/** An admin read the audit trail (GET /api/audit): the query as asked. */
export interface AuditReadRecord {
  kind: 'audit-read';
  at: string;
  sub: string;
  role: string;
  query: Record<string, unknown>;
  format: 'json' | 'csv';
  client: string;
  userAgent: string;
}

/** What callers append (the trail adds its own kinds below). */
export type AccessRecord = AuditRecord | ViewStartRecord | SignInRecord | SnapshotRecord | MintRecord | AuditReadRecord;

/** Signed chain head, every `audit.checkpointSec` and when a file is sealed or the gateway stops. */
export interface CheckpointRecord {
  kind: 'checkpoint';
  at: string;
  /** Views open at this time (alive at `at`). */
  open: number;
  reason: 'interval' | 'rotate' | 'stop' | 'start';
  alg: string;
  keyId: string;
  /** Signature over this record's seq, prev and at (chain.ts checkpointPayload). */
  sig: string;
}

/** The first record of a file after rotation: where the chain came from and the views still open. */
export interface FileRecord {
  kind: 'file';
  at: string;
  /** The file the chain continues from (its last record's `h` is this record's `prev`). */
  previous: string | null;
  open: ViewStartRecord[];
}

/** The gateway started or stopped; on a start after a crash, how many views it closed for it. */
export interface GatewayRecord {
  kind: 'gateway';
  at: string;
  event: 'start' | 'stop';
  pid: number;
  /** On a start: whether the previous run ended without its stop record, and when it was last alive. */
  crashed?: boolean;
  lastAlive?: string | null;
  recovered?: number;
}

/** Records that could not be written (disk full…) and were dropped, or a torn line cut after a crash. */
export interface GapRecord {
  kind: 'gap';
  at: string;
  reason: string;
  lost?: number;
  from?: string;
  to?: string;
  /** A torn last line (power cut mid-write), kept here as text instead of in the chain. */
  torn?: string;
}

export type TrailRecord = AccessRecord | CheckpointRecord | FileRecord | GatewayRecord | GapRecord;

/** What GET /api/audit's `kind` selects; `signin` covers sign-ins, sign-outs and refusals. */
export const QUERY_KINDS = [
  'view',
  'view-start',
  'signin',
  'snapshot',
  'mint',
  'audit-read',
  'checkpoint',
  'gateway',
  'gap',
  'file',
  'all',
] as const;
export type QueryKind = (typeof QUERY_KINDS)[number];

export interface AuditQuery {
  /** 'view' (default): ended views; 'signin': sign-ins, sign-outs and refused sign-ins; 'all': every record. */
  kind?: QueryKind;
  from?: string;
  to?: string;
  sub?: string;
  stream?: string;
  limit: number;
  offset: number;
}

/** The kind a query sees a record as: records written before kinds existed are views. */
export function queryKindOf(r: object): QueryKind {
  const { kind } = r as { kind?: unknown };
  const k = typeof kind === 'string' ? kind : 'view';
  return (k === 'signout' ? 'signin' : k) as QueryKind;
}

/** The time `from`/`to` bound and a merge sorts by: a view's start, any other record's `at`. */
export function recordTime(r: object): string {
  const { at, start } = r as { at?: unknown; start?: unknown };
  const t = queryKindOf(r) === 'view' ? start : at;
  return typeof t === 'string' ? t : '';
}
