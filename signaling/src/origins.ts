// Which browser origins may use the gateway: its own host, its public URL, and the entries of
// `signaling.allowedOrigins` (exact origins, or `https://*.example.go.id` for every subdomain). One
// matcher for every origin check: /ws, WHEP, the snapshot API's CORS.

/** One parsed entry of `signaling.allowedOrigins`. */
export interface OriginEntry {
  scheme: 'http:' | 'https:';
  /** Lower-case, punycode; for a wildcard the domain under it (`palembang.go.id`). */
  host: string;
  /** '' for the scheme's default port. */
  port: string;
  wildcard: boolean;
}

/** The entries, parsed once (`compileOrigins`). */
export type OriginList = readonly OriginEntry[];

/** What a refused page is told: the setting that admits it. */
export const FORBIDDEN_ORIGIN_HINT = 'add it to signaling.allowedOrigins in the gateway configuration';

/** A browser `Origin` header as `scheme://host[:port]` (lower case, no default port), or undefined if it is not one. */
export function normalizeOrigin(origin: string): string | undefined {
  const u = parseHttp(origin);
  return u && u.pathname === '/' && !u.search && !u.hash && !u.username && !u.password ? u.origin : undefined;
}

function parseHttp(s: string): URL | undefined {
  if (s.length > 300) return undefined;
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : undefined;
  } catch {
    return undefined;
  }
}

/** Why `entry` is not an origin or a `*.` wildcard origin, or undefined when it is one. */
export function originEntryProblem(entry: string): string | undefined {
  try {
    parseOriginEntry(entry);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Parses one `signaling.allowedOrigins` entry; throws with a sentence saying what is wrong. */
export function parseOriginEntry(entry: string): OriginEntry {
  const shape = 'must be an origin such as https://opd.palembang.go.id or https://*.palembang.go.id';
  const m = /^(https?):\/\/(\*\.)?([^/?#@*]+?)\/?$/i.exec(entry.trim());
  if (!m) {
    if (/^https?:\/\/[^/]*\*/i.test(entry) && !/^https?:\/\/\*\./i.test(entry))
      throw new Error(`"${entry}": a wildcard may only be the first label ("*.palembang.go.id"), ${shape}`);
    if (/^https?:\/\/[^/?#]+[/?#]./i.test(entry))
      throw new Error(`"${entry}" has a path, query or fragment: an origin is scheme://host[:port] only`);
    throw new Error(`"${entry}" ${shape} (http or https, no path)`);
  }
  const [, scheme = '', star, rest = ''] = m;
  const u = parseHttp(`${scheme.toLowerCase()}://${rest}`);
  if (u?.pathname !== '/' || u.username || u.password) throw new Error(`"${entry}" ${shape}`);
  const wildcard = star !== undefined;
  if (wildcard) {
    if (/^\[|^\d+(\.\d+){3}$/.test(u.hostname))
      throw new Error(`"${entry}": a wildcard needs a domain name, not an IP address`);
    if (!u.hostname.includes('.'))
      throw new Error(
        `"${entry}": a wildcard over a top-level domain admits too much; name the domain (*.palembang.go.id)`,
      );
  }
  return { scheme: u.protocol as OriginEntry['scheme'], host: u.hostname, port: u.port, wildcard };
}

/** Parses every entry; an invalid one throws (the config loader has said which before). */
export function compileOrigins(entries: Iterable<string>): OriginList {
  return [...entries].map(parseOriginEntry);
}

/** Whether `origin` (a browser's Origin header) is one of `list`'s origins or under one of its wildcards. */
export function originListed(origin: string, list: OriginList): boolean {
  const u = parseHttp(origin);
  if (!u || normalizeOrigin(origin) === undefined) return false;
  return list.some(
    (e) =>
      e.scheme === u.protocol &&
      e.port === u.port &&
      (e.wildcard ? u.hostname.endsWith(`.${e.host}`) : u.hostname === e.host),
  );
}

export interface OriginContext {
  /** The Host the request came to (through trusted proxies): a page of the gateway itself. */
  host?: string | undefined;
  /** `server.publicUrl`'s origin: the pages' origin behind a proxy whatever Host it sends. */
  publicOrigin?: string | undefined;
  /** `signaling.allowedOrigins`, compiled. */
  allowed: OriginList;
  /** More exact origins admitted as they are now (in a cluster: the other nodes' pages). */
  extra?: Iterable<string> | undefined;
}

/** The one origin check of /ws, WHEP and the snapshot API. */
export function originAllowed(origin: string, ctx: OriginContext): boolean {
  const normalized = normalizeOrigin(origin);
  if (!normalized) return false;
  const u = new URL(normalized);
  if (ctx.host && sameHost(u, ctx.host)) return true;
  if (ctx.publicOrigin && normalized === normalizeOrigin(ctx.publicOrigin)) return true;
  if (originListed(normalized, ctx.allowed)) return true;
  for (const o of ctx.extra ?? []) if (normalizeOrigin(o) === normalized) return true;
  return false;
}

/** A page of this gateway: its origin's host is the Host header (either scheme, as before). */
function sameHost(origin: URL, host: string): boolean {
  const h = parseHttp(`${origin.protocol}//${host}`);
  return h !== undefined && h.host === origin.host;
}

/** The refusal's sentence, naming the setting (the page's own origin is no secret to it). */
export function forbiddenOriginMessage(origin: string, what: string): string {
  return `origin ${origin.slice(0, 100)} may not ${what} on this gateway: ${FORBIDDEN_ORIGIN_HINT}`;
}

/** Where the pages that may use the gateway come from, as the config says (a slice of it). */
export interface PageOrigins {
  /** `signaling.allowedOrigins` */
  allowedOrigins: readonly string[];
  /** `server.publicUrl`: its origin is the gateway's own pages behind a proxy. */
  publicUrl?: string | undefined;
  /** Origins admitted besides allowedOrigins, as they are now (in a cluster: the other nodes' pages). */
  extraOrigins?: (() => Iterable<string>) | undefined;
}

/** originAllowed over `p`, its entries parsed once: `(origin, host of the request) => allowed`. */
export function pageOriginCheck(p: PageOrigins): (origin: string, host: string | undefined) => boolean {
  const allowed = compileOrigins(p.allowedOrigins);
  const publicOrigin = p.publicUrl ? new URL(p.publicUrl).origin : undefined;
  return (origin, host) => originAllowed(origin, { host, publicOrigin, allowed, extra: p.extraOrigins?.() });
}
